// The result cache: the same image with the same pipeline and format is answered with the stored output of
// the job that computed it (marked cached, no tile handed out, the same bytes), whatever the tile size;
// another parameter or format is computed; a pruned job leaves the cache.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { findMaster, pruneJobs } from '../../src/transfer/job-protocol.ts'
import type { JobEvent } from '../../src/transfer/messages.ts'
import type { SimSwarm } from './harness.ts'
import { clientFor, expectReference, makeImage, startSwarm, submit } from './jobs.ts'

let dir: string
let sim: SimSwarm | undefined
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'swarm-cache-')) })
afterAll(async () => { await rm(dir, { recursive: true, force: true }) })
afterEach(async () => { await sim?.close(); sim = undefined })

const acceptedOf = (events: JobEvent[]): Extract<JobEvent, { type: 'accepted' }> | undefined =>
  events.find((e): e is Extract<JobEvent, { type: 'accepted' }> => e.type === 'accepted')

describe('sim: result cache', () => {
  it('serves a repeated submit from the stored output, computes a changed one, and forgets a pruned job', async () => {
    const started = await startSwarm(3, { heartbeatMs: 200, deadAfterMs: 800 })
    const s = sim = started.s
    const dispatched: string[] = []
    started.master.node!.master.on('dispatched', (d) => { dispatched.push(d.jobId) })
    const specs = ['grayscale', 'blur:sigma=2']
    const img = await makeImage(dir, 'c.png', 300, 200, 6)
    const first = await submit(s, img, specs, { tileSize: 64, cache: true })
    await expectReference(first.data, img, specs)
    expect(acceptedOf(first.events)?.cached).toBeUndefined()
    const handedOut = dispatched.length
    expect(handedOut).toBeGreaterThan(0)

    // Again, in other tiles: the same job answers, nothing is handed out, the bytes are the same.
    const again = await submit(s, img, specs, { tileSize: 32, cache: true })
    expect(acceptedOf(again.events)).toMatchObject({ jobId: first.jobId, cached: true })
    expect(again.jobId).toBe(first.jobId)
    expect(Buffer.from(again.data!).equals(Buffer.from(first.data!))).toBe(true)
    expect(dispatched.length).toBe(handedOut)

    // A parameter or the format changed: computed.
    const other = await submit(s, img, ['grayscale', 'blur:sigma=3'], { tileSize: 64, cache: true })
    expect(acceptedOf(other.events)?.cached).toBeUndefined()
    expect(other.jobId).not.toBe(first.jobId)
    await expectReference(other.data, img, ['grayscale', 'blur:sigma=3'])
    const webp = await submit(s, img, specs, { tileSize: 64, format: 'webp', cache: true })
    expect(webp.jobId).not.toBe(first.jobId)
    expect(acceptedOf(webp.events)?.cached).toBeUndefined()

    // Pruned: the cache has it no more, the next submit computes it.
    const client = await clientFor(s)
    try {
      const m = await findMaster(client.node, client.targets, 10_000)
      expect((await pruneJobs(client.node, m, { olderThanMs: 0, states: ['done'], dryRun: false })).jobs.map(j => j.id)).toContain(first.jobId)
    } finally { await client.close() }
    const before = dispatched.length
    const fresh = await submit(s, img, specs, { tileSize: 64, cache: true })
    expect(acceptedOf(fresh.events)?.cached).toBeUndefined()
    expect(fresh.jobId).not.toBe(first.jobId)
    expect(dispatched.length).toBeGreaterThan(before)
    expect(Buffer.from(fresh.data!).equals(Buffer.from(first.data!))).toBe(true)
  })
})
