// Test-side helpers for jobs: make images, submit them to a sim swarm as a client would, and compute
// the reference output (`swarm run`'s code path) to compare with.
import { stat, writeFile } from 'node:fs/promises'
import { expect } from 'vitest'
import { join } from 'node:path'
import sharp from 'sharp'
import { connectClient, type SwarmClient } from '../../src/node/client.ts'
import { decodeImage, parsePipeline, runWholeInProcess, type OutputFormat, type Pipeline, type RawImage } from '../../src/ops/index.ts'
import { findMaster, submitImage, type JobOutcome } from '../../src/transfer/job-protocol.ts'
import type { JobEvent } from '../../src/transfer/messages.ts'
import { SimSwarm, type SimOptions, type SimPeer } from './harness.ts'

/** A photo-like test image: gradients, shapes and noise from a seed, so every tile has texture. */
export async function makeImage (dir: string, name: string, width: number, height: number, seed = 1): Promise<string> {
  const data = Buffer.alloc(width * height * 3)
  let s = seed >>> 0
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      s = (s * 1664525 + 1013904223) >>> 0
      const i = (y * width + x) * 3
      const ring = ((x - width / 2) ** 2 + (y - height / 3) ** 2) < (Math.min(width, height) / 4) ** 2 ? 80 : 0
      data[i] = (x * 255 / width + ring + (s & 31)) & 255
      data[i + 1] = (y * 255 / height + (s >> 8 & 15)) & 255
      data[i + 2] = ((x + y) & 64 ? 200 : 40) + (s >> 16 & 7)
    }
  }
  const path = join(dir, name)
  await writeFile(path, await sharp(data, { raw: { width, height, channels: 3 } }).png().toBuffer())
  return path
}

export async function reference (path: string, pipeline: Pipeline): Promise<RawImage> {
  return runWholeInProcess(await decodeImage(path), pipeline)
}

export async function decodeOutput (data: Uint8Array): Promise<RawImage> {
  return await decodeImage(Buffer.from(data))
}

export interface Submitted extends JobOutcome { events: JobEvent[] }

/** Submits like `swarm submit` does: via any running peer, to the master, following to the end. */
export async function submit (sim: SimSwarm, path: string, specs: string[], opts: { tileSize?: number, format?: OutputFormat, via?: number, watch?: boolean, cache?: boolean } = {}): Promise<Submitted> {
  const client = await clientFor(sim, opts.via)
  try {
    const master = await findMaster(client.node, client.targets, 10_000)
    const events: JobEvent[] = []
    const out = await submitImage(client.node, master, {
      path, name: path.split('/').pop()!, bytes: (await stat(path)).size, pipeline: parsePipeline(specs),
      // The tests submit one image at many tile sizes to see it computed each time: the cache only when asked.
      format: opts.format ?? 'png', tileSize: opts.tileSize, watch: opts.watch ?? true, noCache: opts.cache !== true
    }, e => { events.push(e) })
    return { ...out, events }
  } finally {
    await client.close()
  }
}

export async function clientFor (sim: SimSwarm, via?: number): Promise<SwarmClient> {
  const target = via != null ? sim.peers[via] : sim.running()[0]
  return await connectClient({ peers: [target.peer!.addrs()[0].toString()] })
}

/** A swarm of n sim peers that has agreed on a master. The caller closes it. */
export async function startSwarm (n: number, opts: SimOptions): Promise<{ s: SimSwarm, master: SimPeer }> {
  const s = new SimSwarm(opts)
  await s.init()
  await s.add(n)
  const { value: master } = await s.waitFor('a master', () => s.agreedMaster(), 5000)
  return { s, master }
}

/** The encoded output decodes to exactly the pixels `swarm run` gives for the same file and pipeline. */
export async function expectReference (data: Uint8Array | undefined, img: string, specs: string[]): Promise<void> {
  expect(data).toBeDefined()
  const got = await decodeOutput(data!)
  const want = await reference(img, parsePipeline(specs))
  expect([got.width, got.height, got.channels]).toEqual([want.width, want.height, want.channels])
  expect(Buffer.compare(Buffer.from(got.data), Buffer.from(want.data))).toBe(0)
}
