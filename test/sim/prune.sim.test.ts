// swarm prune: finished jobs leave the queue for good and their files leave every peer (the master's at
// once, a follower's when the deletion reaches its replica); a dry run removes nothing. (A running job is
// never forgotten: test/scheduler/queue-machine.test.ts.)
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { fetchJobs, findMaster, pruneJobs } from '../../src/transfer/job-protocol.ts'
import type { SimSwarm } from './harness.ts'
import { clientFor, makeImage, startSwarm, submit } from './jobs.ts'

let dir: string
let sim: SimSwarm | undefined
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'swarm-prune-')) })
afterAll(async () => { await rm(dir, { recursive: true, force: true }) })
afterEach(async () => { await sim?.close(); sim = undefined })

describe('sim: prune', () => {
  it('removes finished jobs and their files from every peer (a follower\'s when the deletion reaches its replica), and lists them on a dry run', async () => {
    const started = await startSwarm(3, { heartbeatMs: 200, deadAfterMs: 800 })
    const s = sim = started.s
    const img = await makeImage(dir, 'p.png', 200, 140, 2)
    const done = await submit(s, img, ['invert'], { tileSize: 64 })
    expect(done.failure).toBeUndefined()
    const holders = (): number[] => s.running().filter(p => existsSync(p.node!.master.files.dir(done.jobId))).map(p => p.index)
    // The job's files are on the master and on its standby.
    await s.waitFor('the files on two peers', () => holders().length >= 2 ? true : null, 20_000)
    const client = await clientFor(s)
    try {
      const master = await findMaster(client.node, client.targets, 10_000)
      const dry = await pruneJobs(client.node, master, { olderThanMs: 0, states: ['done'], dryRun: true })
      expect(dry.jobs.map(j => [j.id, j.state, j.name])).toEqual([[done.jobId, 'done', 'p.png']])
      expect(holders().length).toBeGreaterThanOrEqual(2)
      // Too recent for --older-than 1h: nothing matches.
      expect((await pruneJobs(client.node, master, { olderThanMs: 3_600_000, states: ['done'], dryRun: false })).jobs).toEqual([])
      const real = await pruneJobs(client.node, master, { olderThanMs: 0, states: ['done', 'failed', 'cancelled'], dryRun: false })
      expect(real.jobs.map(j => j.id)).toEqual([done.jobId])
      expect((await fetchJobs(client.node, master)).jobs.map(j => j.id)).not.toContain(done.jobId)
      await s.waitFor('the files gone from every peer', () => holders().length === 0 ? true : null, 20_000)
      // Pruned twice: nothing left to remove.
      expect((await pruneJobs(client.node, master, { olderThanMs: 0, states: ['done'], dryRun: false })).jobs).toEqual([])
    } finally {
      await client.close()
    }
  })
})
