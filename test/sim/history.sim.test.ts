// swarm history and swarm resubmit against real peers on 127.0.0.1 (no mDNS): the records list each job
// with its input, format, times and workers, newest first, filtered on the master; they survive the master's
// death (a standby's replica has them); a job runs again from the input the swarm kept, served by the cache
// or, with --no-cache, computed again to the same bytes; a pruned job or a lost input is refused in a sentence.
import { createHash } from 'node:crypto'
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { findMaster, pruneJobs } from '../../src/transfer/job-protocol.ts'
import type { JobSummary } from '../../src/transfer/messages.ts'
import { history } from '../../src/ui-cli/actions/history.ts'
import { resubmit } from '../../src/ui-cli/actions/resubmit.ts'
import type { SimSwarm } from './harness.ts'
import { clientFor, makeImage, startSwarm, submit } from './jobs.ts'

let dir: string
let sim: SimSwarm | undefined
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'swarm-history-')) })
afterAll(async () => { await rm(dir, { recursive: true, force: true }) })
afterEach(async () => { vi.restoreAllMocks(); await sim?.close(); sim = undefined })

/** What `run` wrote to stdout and stderr, and its result. */
async function capture<T> (run: () => Promise<T>): Promise<{ out: string, err: string, value: T }> {
  let out = ''
  let err = ''
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => { out += chunk.toString(); return true })
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => { err += chunk.toString(); return true })
  vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => { out += `${args.join(' ')}\n` })
  vi.spyOn(console, 'error').mockImplementation((...args: unknown[]) => { err += `${args.join(' ')}\n` })
  try {
    const value = await run()
    return { out, err, value }
  } finally { vi.restoreAllMocks() }
}

describe('sim: swarm history and swarm resubmit', () => {
  it('lists jobs with their records and filters, keeps them through a failover, and runs a job again from its kept input', async () => {
    const started = await startSwarm(3, { heartbeatMs: 200, deadAfterMs: 800, verify: 0 })
    const s = sim = started.s
    const dispatched: string[] = []
    for (const p of s.running()) p.node!.master.on('dispatched', (d) => { dispatched.push(d.jobId) })
    const imgA = await makeImage(dir, 'a.png', 320, 240, 5)
    const imgB = await makeImage(dir, 'b.png', 200, 100, 7)
    const a = await submit(s, imgA, ['invert'], { tileSize: 64 })
    const b = await submit(s, imgB, ['grayscale', 'blur:sigma=2'], { tileSize: 64, format: 'webp' })
    expect(a.failure).toBeUndefined()
    expect(b.failure).toBeUndefined()
    const peerAddr = (): string[] => [s.running()[0].peer!.addrs()[0].toString()]
    const listed = async (opts: Partial<Parameters<typeof history>[0]> = {}): Promise<JobSummary[]> => {
      const { out } = await capture(async () => { await history({ peer: peerAddr(), json: true, limit: 50, timeout: 10_000, ...opts }) })
      return (JSON.parse(out) as { jobs: JobSummary[] }).jobs
    }

    const all = await listed()
    expect(all.map(j => j.id)).toEqual([b.jobId, a.jobId])
    const ja = all[1]!
    expect(ja).toMatchObject({
      name: 'a.png', state: 'done', width: 320, height: 240, pipeline: 'invert', format: 'png',
      inputBytes: (await stat(imgA)).size,
      inputSha256: createHash('sha256').update(await readFile(imgA)).digest('hex')
    })
    expect(ja.workers!.length).toBeGreaterThan(0)
    expect(ja.startedAt).toBeGreaterThanOrEqual(ja.submittedAt)
    expect(ja.finishedAt).toBeGreaterThanOrEqual(ja.startedAt!)
    expect(all[0]).toMatchObject({ name: 'b.png', format: 'webp', pipeline: expect.stringContaining('blur') })

    // Filters, decided on the master.
    expect((await listed({ state: ['failed', 'cancelled'] })).map(j => j.id)).toEqual([])
    expect((await listed({ state: ['done'] })).map(j => j.id)).toEqual([b.jobId, a.jobId])
    expect((await listed({ since: { at: all[0]!.submittedAt } })).map(j => j.id)).toEqual([b.jobId])
    expect((await listed({ until: { at: all[0]!.submittedAt } })).map(j => j.id)).toEqual([a.jobId])
    expect((await listed({ since: { ago: 3_600_000 }, limit: 1 })).map(j => j.id)).toEqual([b.jobId])
    const table = await capture(async () => { await history({ peer: peerAddr(), json: false, limit: 50, timeout: 10_000 }) })
    const rows = table.out.split('\n').filter(l => l.includes('.png'))
    expect(rows.map(r => r.split('│')[1]!.trim()), table.out).toEqual([b.jobId, a.jobId])

    // The master dies: the next one's records still say when A started and who worked it.
    await s.kill(started.master.index)
    await s.waitFor('a new master', () => s.masters().length === 1 && s.masters()[0] !== started.master, 15_000)
    const after = (await listed()).find(j => j.id === a.jobId)!
    expect(after.startedAt).toBe(ja.startedAt)
    expect(after.workers).toEqual(ja.workers)

    // Run A again: served by the cache (A's output), then with --no-cache computed again, to the same bytes.
    const outDir = join(dir, 'out')
    const cached = await capture(async () => await resubmit(a.jobId, { output: join(dir, 'again.png'), json: true, peer: peerAddr(), timeout: 15_000 }))
    expect(cached.value, cached.err).toBe(0)
    const cachedEvents = cached.out.trim().split('\n').map(l => JSON.parse(l) as Record<string, unknown>)
    expect(cachedEvents.find(e => e.event === 'accepted')).toMatchObject({ jobId: a.jobId, cached: true })
    expect(Buffer.from(await readFile(join(dir, 'again.png'))).equals(Buffer.from(a.data!))).toBe(true)
    const before = dispatched.length
    const fresh = await capture(async () => await resubmit(a.jobId, { output: `${outDir}/`, cache: false, json: true, peer: peerAddr(), timeout: 15_000 }))
    expect(fresh.value, fresh.err).toBe(0)
    const result = fresh.out.trim().split('\n').map(l => JSON.parse(l) as Record<string, unknown>).find(e => e.event === 'result')!
    expect(result.jobId).not.toBe(a.jobId)
    expect(result.path).toBe(join(outDir, `${String(result.jobId)}.png`))
    expect(dispatched.length).toBeGreaterThan(before)
    expect(Buffer.from(await readFile(String(result.path))).equals(Buffer.from(a.data!))).toBe(true)
    const again = (await listed()).find(j => j.id === result.jobId)!
    expect(again).toMatchObject({ name: 'a.png', pipeline: 'invert', format: 'png', inputSha256: ja.inputSha256, state: 'done' })
    // Another format, from -o's extension.
    const webp = await capture(async () => await resubmit(a.jobId, { output: join(dir, 'again.webp'), json: true, peer: peerAddr(), timeout: 15_000 }))
    expect(webp.value, webp.err).toBe(0)
    expect((await listed())[0]).toMatchObject({ name: 'a.png', format: 'webp' })

    // B's input gone from every peer: one sentence, nothing queued.
    for (const p of s.running()) await rm(p.node!.master.files.inputPath(b.jobId), { force: true })
    const count = (await listed()).length
    const gone = await capture(async () => await resubmit(b.jobId, { output: join(dir, 'b-again.webp'), peer: peerAddr(), timeout: 15_000 }))
    expect(gone.value).toBe(1)
    expect(gone.err).toContain(`swarm: the input of job ${b.jobId} (b.png) is no longer kept on any live peer, so it cannot run again: submit the image again`)
    expect((await listed()).length).toBe(count)

    // A pruned job is no longer in the queue: said so, in a sentence.
    const client = await clientFor(s)
    try {
      const m = await findMaster(client.node, client.targets, 10_000)
      await pruneJobs(client.node, m, { olderThanMs: 0, states: ['done'], dryRun: false })
    } finally { await client.close() }
    const pruned = await capture(async () => await resubmit(a.jobId, { output: join(dir, 'pruned.png'), peer: peerAddr(), timeout: 15_000 }))
    expect(pruned.value).toBe(1)
    expect(pruned.err).toContain(`swarm: no job ${a.jobId} in the queue (pruned, or never submitted)`)
  })
})
