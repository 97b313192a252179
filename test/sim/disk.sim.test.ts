// Disk that does not fill up: with a small --max-disk, 200 jobs run one after another, each delivered to
// its submitter (the bytes checked), and no peer's job files ever pass the cap by more than one job; with a
// retention that has passed, a finished job's files leave every peer while its record stays, and
// `swarm result` says its output is no longer kept.
import { createHash } from 'node:crypto'
import { lstat, mkdtemp, readdir, rm, stat } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { fetchJobs, findMaster, submitImage, watchJob } from '../../src/transfer/job-protocol.ts'
import { parsePipeline } from '../../src/ops/index.ts'
import { REMOVED_TAIL } from '../../src/transfer/messages.ts'
import { requestGc } from '../../src/transfer/gc-protocol.ts'
import { renderGc } from '../../src/ui-cli/actions/gc.ts'
import { getJob, listJobs } from '../../src/scheduler/queue-machine.ts'
import type { SimSwarm } from './harness.ts'
import { clientFor, expectReference, makeImage, startSwarm, submit } from './jobs.ts'

let dir: string
let sim: SimSwarm | undefined
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'swarm-disk-')) })
afterAll(async () => { await rm(dir, { recursive: true, force: true }) })
afterEach(async () => { await sim?.close(); sim = undefined })

/** Bytes under a directory, walked here (not with the code under test). */
async function du (path: string): Promise<number> {
  const st = await lstat(path).catch(() => undefined)
  if (st == null) return 0
  if (!st.isDirectory()) return st.size
  let n = 0
  for (const name of await readdir(path).catch(() => [] as string[])) n += await du(join(path, name))
  return n
}

const sha = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex')
const JOBS = 200
/** A tiny image: each job is a few KiB of files, so 200 of them pass the cap many times over. */
const SIDE = 24

describe('sim: disk', () => {
  it(`keeps every peer's job files under --max-disk while ${JOBS} jobs run, and loses none`, async () => {
    const img = await makeImage(dir, 'd.png', SIDE, SIDE, 3)
    const specs = ['invert']
    // Measured on a first job below: the cap is set to hold a handful of jobs, so 200 pass it many times.
    // No cap until one job's size is known (set on each peer's keeper below, as --max-disk would be).
    const started = await startSwarm(3, { heartbeatMs: 200, deadAfterMs: 800, retainForever: true })
    const s = sim = started.s
    const first = await submit(s, img, specs, { tileSize: 16 })
    expect(first.failure).toBeUndefined()
    await expectReference(first.data, img, specs)
    const want = sha(first.data!)
    // One job's worth on the peer that holds most of it (the master: input and output).
    const perJob = Math.max(...await Promise.all(s.running().map(async p => await du(p.node!.master.files.dir(first.jobId)))))
    expect(perJob).toBeGreaterThan(0)
    const cap = 6 * perJob
    for (const p of s.running()) p.node!.disk.opts.maxDiskBytes = cap
    expect(JOBS * perJob).toBeGreaterThan(5 * cap)

    let peak = 0
    // One client for every submit, as a script would (a client per job was most of the time).
    const client = await clientFor(s)
    try {
      const m = await findMaster(client.node, client.targets, 10_000)
      const bytes = (await stat(img)).size
      for (let i = 1; i < JOBS; i++) {
        // Downloaded as the job finishes: the result reached its submitter before the cap may take it.
        const out = await submitImage(client.node, m, { path: img, name: 'd.png', bytes, pipeline: parsePipeline(specs), format: 'png', tileSize: 16, watch: true, noCache: true }, () => {})
        expect(out.failure, `job ${i}`).toBeUndefined()
        expect(sha(out.data!), `job ${i}'s bytes`).toBe(want)
        for (const p of s.running()) {
          const used = await du(p.node!.master.files.root)
          peak = Math.max(peak, used)
          expect(used, `peer ${p.index} after job ${i}`).toBeLessThanOrEqual(cap + perJob)
        }
      }
    } finally {
      await client.close()
    }
    // The cap did work: most jobs' files are gone, and their records are all still there.
    const master = s.running().find(p => p.node!.master.active)!.node!.master
    const jobs = listJobs(master.queue!.state)
    expect(jobs).toHaveLength(JOBS)
    expect(jobs.every(j => j.state === 'done')).toBe(true)
    expect(jobs.filter(j => j.removedAt != null).length).toBeGreaterThan(JOBS / 2)
    expect(peak).toBeGreaterThan(cap / 2)
    // What heartbeats carry and `swarm status` shows.
    for (const p of s.running()) expect(p.node!.disk.usedBytes).toBeLessThanOrEqual(cap + perJob)
  }, 180_000)

  it('removes a finished job\'s files from every peer once its retention has passed, keeps its record, and says the output is no longer kept', async () => {
    const started = await startSwarm(3, { heartbeatMs: 200, deadAfterMs: 800 })
    const s = sim = started.s
    const img = await makeImage(dir, 'r.png', 120, 90, 4)
    const done = await submit(s, img, ['grayscale'], { tileSize: 64 })
    expect(done.failure).toBeUndefined()
    const holders = (): number[] => s.running().filter(p => existsSync(p.node!.master.files.dir(done.jobId))).map(p => p.index)
    await s.waitFor('the files on two peers', () => holders().length >= 2 ? true : null, 20_000)
    // The default retention (7 days) has not passed: gc removes nothing.
    for (const p of s.running()) expect((await p.node!.gc()).removed).toEqual([])
    expect(holders().length).toBeGreaterThanOrEqual(2)
    // A retention that has passed: the master's pass retires the job, the followers drop their copies.
    for (const p of s.running()) p.node!.disk.opts.retainMs = 0
    const node = s.running().find(p => p.node!.master.active)!.node!
    const client = await clientFor(s)
    try {
      const m = await findMaster(client.node, client.targets, 10_000)
      // swarm gc: the master runs its pass and relays to every live peer.
      const reply = await requestGc(client.node, m, { all: true })
      expect(reply.peers.map(p => p.peerId).sort()).toEqual(s.running().map(p => p.node!.peerId).sort())
      expect(reply.peers.every(p => p.error == null)).toBe(true)
      const mine = reply.peers.find(p => p.peerId === node.peerId)!
      expect(mine.removed.map(r => [r.jobId, r.reason])).toEqual([[done.jobId, 'retention']])
      expect(mine.freedBytes).toBeGreaterThan(0)
      expect(renderGc(reply)).toMatch(/3 peer\(s\): \d+ job\(s\)' files removed, \d+ bytes freed/)
      await s.waitFor('the files gone from every peer', () => holders().length === 0 ? true : null, 20_000)
      expect(getJob(node.master.queue!.state, done.jobId)).toMatchObject({ state: 'done' })
      expect(getJob(node.master.queue!.state, done.jobId)?.removedAt).toBeGreaterThan(0)
      expect((await fetchJobs(client.node, m)).jobs.map(j => j.id)).toContain(done.jobId)
      const out = await watchJob(client.node, m, done.jobId, true, () => {})
      expect(out.failure).toContain(done.jobId)
      expect(out.failure).toContain(REMOVED_TAIL)
      // The same image again is computed, not answered from an output that is gone.
      const again = await submit(s, img, ['grayscale'], { tileSize: 64, cache: true })
      expect(again.jobId).not.toBe(done.jobId)
      await expectReference(again.data, img, ['grayscale'])
    } finally {
      await client.close()
    }
  }, 60_000)
})
