// Cancelling a job: a running job ends at once for its watcher (as cancelled, not failed), its tiles in
// flight are revoked and no more are handed out, the listing says cancelled, and the swarm goes on to the
// next job. Cancelling again, or a finished job, changes nothing; an unknown job is refused as such.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { getJob, leasesOf } from '../../src/scheduler/queue-machine.ts'
import { RemoteError } from '../../src/transfer/errors.ts'
import { cancelJob, fetchJobs, findMaster } from '../../src/transfer/job-protocol.ts'
import { CANCELLED_REASON, ErrorCodes, type JobEvent } from '../../src/transfer/messages.ts'
import type { SimSwarm } from './harness.ts'
import { clientFor, expectReference, makeImage, startSwarm, submit, type Submitted } from './jobs.ts'

let dir: string
let sim: SimSwarm | undefined
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'swarm-cancel-')) })
afterAll(async () => { await rm(dir, { recursive: true, force: true }) })
afterEach(async () => { await sim?.close(); sim = undefined })

describe('sim: cancel', () => {
  it('a running job cancelled: its watcher hears "cancelled", its leases go, no tile is handed out after, and the next job runs', async () => {
    const started = await startSwarm(3, { heartbeatMs: 200, deadAfterMs: 800, verify: 0 })
    sim = started.s
    const master = started.master.node!.master
    const dispatched: string[] = []
    master.on('dispatched', (d: { jobId: string }) => { dispatched.push(d.jobId) })
    // Slow enough to be cancelled mid-way on any machine: 120 tiles of a wide median.
    const big = await makeImage(dir, 'big.png', 960, 800, 3)
    const events: JobEvent[] = []
    const watching: Promise<Submitted> = submit(sim, big, ['median:radius=6'], { tileSize: 80 }).then(out => { events.push(...out.events); return out })
    const { value: id } = await sim.waitFor('the big job to have a tile done', () => {
      const q = master.queue
      if (q == null) return null
      const job = [...q.state.jobs.values()].find(j => j.state === 'running')
      return job != null && (getJob(q.state, job.id)?.done ?? 0) > 0 ? job.id : null
    }, 60_000)
    const jobId = id
    const client = await clientFor(sim)
    try {
      const m = await findMaster(client.node, client.targets, 10_000)
      const reply = await cancelJob(client.node, m, jobId)
      expect(reply).toEqual({ jobId, state: 'cancelled', cancelled: true })
      const out = await watching
      const handedOut = dispatched.filter(j => j === jobId).length
      expect(out.failure).toBe(CANCELLED_REASON)
      expect(out.data).toBeUndefined()
      const q = master.queue!
      expect(leasesOf(q.state).filter(l => l.jobId === jobId)).toEqual([])
      const job = getJob(q.state, jobId)!
      expect(job.state).toBe('cancelled')
      expect(job.done).toBeLessThan(job.total)
      const doneAtCancel = job.done
      // Again: nothing changes, and it is no error.
      expect(await cancelJob(client.node, m, jobId)).toEqual({ jobId, state: 'cancelled', cancelled: false })
      const listed = (await fetchJobs(client.node, m)).jobs.find(j => j.id === jobId)
      expect(listed?.state).toBe('cancelled')
      // The swarm goes on: the next job runs to its reference, and no tile of the cancelled one went out since.
      const small = await makeImage(dir, 'small.png', 200, 160, 4)
      const next = await submit(sim, small, ['invert'], { tileSize: 64 })
      await expectReference(next.data, small, ['invert'])
      expect(dispatched.filter(j => j === jobId).length).toBe(handedOut)
      expect(getJob(q.state, jobId)?.done).toBe(doneAtCancel)
      // A finished job's listing still says who did its tiles and when it started (it holds no leases now).
      const finished = (await fetchJobs(client.node, m)).jobs.find(j => j.id === next.jobId)!
      expect(finished.peers).toEqual([])
      expect(finished.workers?.length ?? 0).toBeGreaterThan(0)
      for (const w of finished.workers ?? []) expect(sim.peers.map(p => p.peerId)).toContain(w)
      expect(finished.startedAt).toBeGreaterThanOrEqual(finished.submittedAt)
      expect(finished.startedAt).toBeLessThanOrEqual(finished.finishedAt!)
      // A finished job is not cancelled; an unknown one is refused as unknown.
      expect(await cancelJob(client.node, m, next.jobId)).toEqual({ jobId: next.jobId, state: 'done', cancelled: false })
      const err = await cancelJob(client.node, m, 'no-such-job').catch((e: unknown) => e)
      expect(err).toBeInstanceOf(RemoteError)
      expect((err as RemoteError).code).toBe(ErrorCodes.unknownJob)
    } finally {
      await client.close()
    }
  })
})
