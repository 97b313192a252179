import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { encodeImageToBuffer, parsePipeline } from '../../src/ops/index.ts'
import { SimSwarm, type SimOptions } from './harness.ts'
import { decodeOutput, makeImage, reference, submit } from './jobs.ts'

let dir: string
let sim: SimSwarm | undefined
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'swarm-jobs-')) })
afterAll(async () => { await rm(dir, { recursive: true, force: true }) })
afterEach(async () => { await sim?.close(); sim = undefined })

async function swarm (n: number, opts: Partial<SimOptions> = {}): Promise<SimSwarm> {
  sim = new SimSwarm({ heartbeatMs: 200, deadAfterMs: 800, ...opts })
  await sim.init()
  await sim.add(n)
  await sim.waitFor('a master', () => sim!.agreedMaster(), 5000)
  return sim
}

describe('sim: the job path', () => {
  it('a multi-tile job through 3 peers equals the local reference, and every peer worked', async () => {
    const s = await swarm(3)
    const img = await makeImage(dir, 'a.png', 301, 203, 7)
    const specs = ['grayscale', 'blur:sigma=1.5', 'canny']
    const out = await submit(s, img, specs, { tileSize: 64 })
    expect(out.failure).toBeUndefined()
    const got = await decodeOutput(out.data!)
    const want = await reference(img, parsePipeline(specs))
    expect([got.width, got.height, got.channels]).toEqual([want.width, want.height, want.channels])
    expect(Buffer.compare(Buffer.from(got.data), Buffer.from(want.data))).toBe(0)
    const progress = out.events.filter(e => e.type === 'progress')
    expect(progress.length).toBeGreaterThan(0)
    const workers = new Set(progress.flatMap(e => e.type === 'progress' ? e.peers : []))
    expect(workers.size).toBe(3)
  })

  // Outputs over STITCH_IN_MEMORY_MAX_BYTES (128 MiB) are stitched on disk; here every output is, so the
  // path a 100 MP job takes is checked on small images: the bytes equal the reference encoded from memory
  // (as `swarm run` does), for grey and colour, PNG and JPEG.
  it('an output stitched on disk has the same bytes as the reference encoded from memory', async () => {
    const s = await swarm(3, { stitchInMemoryMaxBytes: 0 })
    for (const [specs, format] of [[['grayscale', 'canny'], 'png'], [['blur:sigma=1'], 'jpeg'], [['sepia'], 'png']] as const) {
      const img = await makeImage(dir, `disk-${format}.png`, 257, 131, 3)
      const out = await submit(s, img, [...specs], { tileSize: 48, format })
      expect(out.failure).toBeUndefined()
      const want = await encodeImageToBuffer(await reference(img, parsePipeline([...specs])), format)
      expect(Buffer.compare(Buffer.from(out.data!), Buffer.from(want)), `${specs.join(' + ')} -> ${format}`).toBe(0)
    }
  })
})
