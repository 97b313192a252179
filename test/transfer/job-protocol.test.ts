// The job protocols between two real libp2p nodes on 127.0.0.1, the server over a scripted JobHandler (no
// master, no queue): the not-master reply, refusals, an upload that arrives whole, the pacing of progress
// events on the server's (manual) clock, the end of a watch when the peer stops being master, the listing,
// cancel, and stop() unregistering the protocols.
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { parsePipeline } from '../../src/ops/index.ts'
import { ManualClock } from '../../src/transfer/clock.ts'
import { RemoteError } from '../../src/transfer/errors.ts'
import {
  cancelJob, fetchHistory, fetchJobs, resubmitJob, isRetryable, pruneJobs, JobProtocolService, JobRefusal, MasterGoneError, PROGRESS_INTERVAL_MS, submitImage, WATCH_KEEPALIVE_MS, watchJob,
  type AdmittedJob, type JobFollower, type JobHandler, type JobOutput, type SubmitInput, type Upload
} from '../../src/transfer/job-protocol.ts'
import { ErrorCodes, type JobEvent, type JobsFilter, type JobsReply, type PruneReply, type PruneRequest, type ResubmitRequest, type SubmitRequest } from '../../src/transfer/messages.ts'
import { bytes, Nodes } from './helpers.ts'

const nodes = new Nodes()
let dir = ''
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'swarm-job-protocol-')) })
afterAll(async () => { await rm(dir, { recursive: true, force: true }) })
afterEach(async () => { await nodes.stopAll() })

/** A master as the server sees it: every decision scripted, every call recorded. */
class ScriptedMaster implements JobHandler {
  active = true
  readonly queued = new Set<string>()
  readonly followers = new Set<JobFollower>()
  upload?: Uint8Array
  readonly output_ = bytes(3000, 9)
  readonly listing: JobsReply = { jobs: [], master: 'the-master', epoch: 7 }

  serving = (): boolean => this.active
  masterId = (): string => 'the-master'
  // An open swarm: everyone may do anything (accounts are tested in test/sim/accounts.sim.test.ts).
  identify = (): null => null
  maySee = (): boolean => true

  admit = async (req: SubmitRequest, upload: Upload): Promise<AdmittedJob> => {
    if (req.name === 'bad.png') throw new JobRefusal(ErrorCodes.badInput, 'bad.png: not an image')
    const chunks: Uint8Array[] = []
    await upload(async (c) => { chunks.push(c.slice()) })
    this.upload = Buffer.concat(chunks)
    return {
      accepted: { type: 'accepted', jobId: 'j1', tiles: 4, phases: 1, width: 8, height: 8, copies: 1 },
      enqueue: async () => { this.queued.add('j1') }
    }
  }

  knows = (jobId: string): boolean => this.queued.has(jobId)

  follow = (jobId: string, f: JobFollower, replay: boolean): () => void => {
    this.followers.add(f)
    if (replay) f.event(progress(jobId, 1))
    return () => { this.followers.delete(f) }
  }

  queuePosition = (): number => 2
  stateCalls = 0
  state = (jobId: string): Extract<JobEvent, { type: 'progress' }> => { this.stateCalls++; return progress(jobId, 0) as Extract<JobEvent, { type: 'progress' }> }
  // Sent in two chunks, as a file is read: the client gets the whole.
  output = async (): Promise<JobOutput> => {
    const out = this.output_
    return { format: 'png', width: 8, height: 8, data: { bytes: out.byteLength, chunks: async function * () { yield out.subarray(0, 1000); yield out.subarray(1000) } } }
  }
  readonly filters: JobsFilter[] = []
  jobs = (limit: number, _who: unknown, filter: JobsFilter = {}): JobsReply => { this.filters.push(filter); return { ...this.listing, epoch: limit } }

  readonly resubmits: ResubmitRequest[] = []
  resubmit = async (req: ResubmitRequest): Promise<AdmittedJob> => {
    this.resubmits.push(req)
    if (req.from === 'gone') throw new JobRefusal(ErrorCodes.inputUnavailable, 'the input of job gone is no longer kept')
    return {
      accepted: { type: 'accepted', jobId: 'j2', tiles: 4, phases: 1, width: 8, height: 8, copies: 1 },
      enqueue: async () => { this.queued.add('j2') }
    }
  }
  readonly cancelled: string[] = []
  cancel = async (jobId: string): Promise<{ jobId: string, state: string, cancelled: boolean }> => {
    if (!this.queued.has(jobId)) throw new JobRefusal(ErrorCodes.unknownJob, `no job ${jobId} in the queue`)
    const first = !this.cancelled.includes(jobId)
    this.cancelled.push(jobId)
    return { jobId, state: 'cancelled', cancelled: first }
  }

  readonly prunes: PruneRequest[] = []
  prune = async (req: PruneRequest): Promise<PruneReply> => {
    this.prunes.push(req)
    return { jobs: req.dryRun ? [] : [{ id: 'j1', name: 'a.png', state: 'done', finishedAt: 5 }], more: false, dryRun: req.dryRun }
  }

  emit (e: JobEvent): void { for (const f of this.followers) f.event(e) }
  stepDown (): void { this.active = false; for (const f of [...this.followers]) f.end() }
}

function progress (jobId: string, done: number): JobEvent {
  return { type: 'progress', jobId, state: 'running', done, total: 4, phase: 0, phaseCount: 1, peers: [], queuePosition: 0 }
}

async function setUp (clock = new ManualClock()): Promise<{ master: ScriptedMaster, service: JobProtocolService, client: Awaited<ReturnType<Nodes['start']>>, server: Awaited<ReturnType<Nodes['start']>>, clock: ManualClock }> {
  const [client, server] = [await nodes.start(), await nodes.start()]
  const master = new ScriptedMaster()
  const service = new JobProtocolService({ libp2p: server }, { handler: master, clock })
  await service.start()
  await client.dial(server.getMultiaddrs()[0])
  return { master, service, client, server, clock }
}

async function input (name: string, data: Uint8Array, watch: boolean): Promise<SubmitInput> {
  const path = join(dir, name)
  await writeFile(path, data)
  return { path, name, bytes: data.byteLength, pipeline: parsePipeline(['invert']), format: 'png', watch }
}

async function waitFor (what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`)
    await new Promise(resolve => setTimeout(resolve, 10))
  }
}

describe('job protocols', () => {
  it('a peer that is not master says so, with the master to ask, and the client retries', async () => {
    const { master, client, server } = await setUp()
    master.active = false
    const err = await submitImage(client, server.peerId, await input('a.png', bytes(10), false), () => {}).catch((e: Error) => e)
    expect(err).toBeInstanceOf(RemoteError)
    expect((err as RemoteError).code).toBe(ErrorCodes.notMaster)
    expect((err as RemoteError).message).toBe('the-master')
    expect(isRetryable(err)).toBe(true)
  })

  it('a refusal reaches the client as its code; nothing is queued', async () => {
    const { master, client, server } = await setUp()
    const err = await submitImage(client, server.peerId, await input('bad.png', bytes(10), false), () => {}).catch((e: Error) => e)
    expect((err as RemoteError).code).toBe(ErrorCodes.badInput)
    expect(master.queued.size).toBe(0)
  })

  it('detached: the upload arrives whole (several frames), the job is queued, then "accepted"', async () => {
    const { master, client, server } = await setUp()
    const data = bytes(2.5 * 1024 * 1024, 3)
    const events: JobEvent[] = []
    const out = await submitImage(client, server.peerId, await input('big.png', data, false), e => { events.push(e) })
    expect(out).toEqual({ jobId: 'j1' })
    expect(master.upload?.byteLength).toBe(data.byteLength)
    expect(Buffer.from(data).equals(master.upload!)).toBe(true)
    expect([...master.queued]).toEqual(['j1'])
    expect(events.map(e => e.type)).toEqual(['accepted'])
  })

  it('watched: progress at most once per PROGRESS_INTERVAL_MS of the server clock (the last one always), then the result', async () => {
    const { master, client, server, clock } = await setUp()
    const events: JobEvent[] = []
    const job = submitImage(client, server.peerId, await input('w.png', bytes(100), true), e => { events.push(e) })
    await waitFor('a watcher', () => master.followers.size === 1 && master.queued.has('j1'))
    master.emit(progress('j1', 1))
    clock.advance(PROGRESS_INTERVAL_MS - 1)
    master.emit(progress('j1', 2)) // too soon: dropped
    clock.advance(1)
    master.emit(progress('j1', 3))
    master.emit(progress('j1', 4)) // too soon, but the last one: sent
    master.emit({ type: 'result', jobId: 'j1', format: 'png', bytes: 0, width: 0, height: 0 })
    const out = await job
    expect(events.map(e => e.type === 'progress' ? `progress ${e.done}@${e.queuePosition}` : e.type))
      .toEqual(['accepted', 'progress 1@2', 'progress 3@2', 'progress 4@2', 'result'])
    expect(out.data).toEqual(master.output_)
    expect(out.result?.bytes).toBe(master.output_.byteLength)
    await waitFor('the watcher gone', () => master.followers.size === 0)
  })

  it('a watched job that makes no progress is heard at least once per WATCH_KEEPALIVE_MS of the server clock, and only while silent', async () => {
    const { master, client, server, clock } = await setUp()
    const half = WATCH_KEEPALIVE_MS / 2
    master.queued.add('j3')
    const events: JobEvent[] = []
    const watch = watchJob(client, server.peerId, 'j3', false, e => { events.push(e) })
    await waitFor('the replayed state', () => events.length === 1)
    clock.advance(half - 1)
    master.emit(progress('j3', 2)) // something was said: the check at `half` lets it be
    clock.advance(2)
    expect(master.stateCalls).toBe(0)
    clock.advance(half) // the next check: silent for more than half a period
    expect(master.stateCalls).toBe(1)
    clock.advance(half) // just said: not again
    expect(master.stateCalls).toBe(1)
    clock.advance(4 * WATCH_KEEPALIVE_MS) // silent: once per period
    expect(master.stateCalls).toBe(5)
    await waitFor('the keepalives', () => events.length === 7)
    expect(events[6]).toEqual({ ...progress('j3', 0), queuePosition: 2 })
    master.emit({ type: 'result', jobId: 'j3', format: 'png', bytes: 0, width: 0, height: 0 })
    await watch
    clock.advance(3 * WATCH_KEEPALIVE_MS)
    expect(master.stateCalls, 'no keepalive after the watch ended').toBe(5)
  })

  it('watch: an unknown job is refused; a known one starts with its state, and ends when the peer steps down', async () => {
    const { master, client, server } = await setUp()
    const unknown = await watchJob(client, server.peerId, 'nope', false, () => {}).catch((e: Error) => e)
    expect((unknown as RemoteError).code).toBe(ErrorCodes.unknownJob)
    master.queued.add('j2')
    const events: JobEvent[] = []
    const watch = watchJob(client, server.peerId, 'j2', false, e => { events.push(e) }).catch((e: Error) => e)
    await waitFor('the replayed state', () => events.length === 1)
    master.stepDown()
    const err = await watch
    expect(err).toBeInstanceOf(MasterGoneError)
    expect(isRetryable(err)).toBe(true)
    expect(events).toEqual([{ ...progress('j2', 1), queuePosition: 2 } as JobEvent])
  })

  it('cancel reaches the master and answers what became of the job; an unknown job is refused as such', async () => {
    const { master, client, server } = await setUp()
    master.queued.add('j9')
    expect(await cancelJob(client, server.peerId, 'j9')).toEqual({ jobId: 'j9', state: 'cancelled', cancelled: true })
    expect(await cancelJob(client, server.peerId, 'j9')).toEqual({ jobId: 'j9', state: 'cancelled', cancelled: false })
    const err = await cancelJob(client, server.peerId, 'nope').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(RemoteError)
    expect((err as RemoteError).code).toBe(ErrorCodes.unknownJob)
    expect(master.cancelled).toEqual(['j9', 'j9'])
  })

  it('prune reaches the master with its request and answers what it removed; a malformed request is refused', async () => {
    const { master, client, server } = await setUp()
    expect(await pruneJobs(client, server.peerId, { olderThanMs: 3_600_000, states: ['done', 'failed'], dryRun: false }))
      .toEqual({ jobs: [{ id: 'j1', name: 'a.png', state: 'done', finishedAt: 5 }], more: false, dryRun: false })
    expect(await pruneJobs(client, server.peerId, { olderThanMs: 0, states: ['cancelled'], dryRun: true })).toEqual({ jobs: [], more: false, dryRun: true })
    expect(master.prunes).toEqual([{ olderThanMs: 3_600_000, states: ['done', 'failed'], dryRun: false }, { olderThanMs: 0, states: ['cancelled'], dryRun: true }])
    // A state that is not a finished one never reaches the master.
    await expect(pruneJobs(client, server.peerId, { olderThanMs: 0, states: ['running' as 'done'], dryRun: false })).rejects.toThrow()
    expect(master.prunes).toHaveLength(2)
  })

  it('history: the filters reach the master as they were asked', async () => {
    const { master, client, server } = await setUp()
    expect(await fetchHistory(client, server.peerId, { limit: 3, states: ['failed', 'done'], since: 10, until: 20 })).toEqual({ jobs: [], master: 'the-master', epoch: 3 })
    await fetchJobs(client, server.peerId, 4)
    expect(master.filters).toEqual([{ states: ['failed', 'done'], since: 10, until: 20 }, {}])
  })

  it('resubmit: nothing is uploaded, the new job is queued before "accepted", and a watcher follows it to its output', async () => {
    const { master, client, server } = await setUp()
    const events: JobEvent[] = []
    expect(await resubmitJob(client, server.peerId, { from: 'j1', watch: false, noCache: true }, e => { events.push(e) })).toEqual({ jobId: 'j2' })
    expect(master.resubmits).toEqual([{ from: 'j1', watch: false, noCache: true }])
    expect([...master.queued]).toEqual(['j2'])
    expect(master.upload).toBeUndefined()
    const watched = resubmitJob(client, server.peerId, { from: 'j1', format: 'webp', watch: true }, e => { events.push(e) })
    await waitFor('a watcher of the new job', () => master.followers.size === 1)
    master.emit({ type: 'result', jobId: 'j2', format: 'png', bytes: 0, width: 8, height: 8 })
    const out = await watched
    expect(Buffer.from(out.data!).equals(Buffer.from(master.output_))).toBe(true)
    expect(master.resubmits[1]).toEqual({ from: 'j1', format: 'webp', watch: true })
    // A kept input that is gone is the master's one sentence, as a refused upload is.
    const err = await resubmitJob(client, server.peerId, { from: 'gone', watch: true }, () => {}).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(RemoteError)
    expect((err as RemoteError).code).toBe(ErrorCodes.inputUnavailable)
    expect((err as RemoteError).message).toBe('the input of job gone is no longer kept')
    expect(isRetryable(err)).toBe(false)
  })

  it('jobs lists the queue; after stop() none of the protocols is served', async () => {
    const { service, client, server } = await setUp()
    expect(await fetchJobs(client, server.peerId, 5)).toEqual({ jobs: [], master: 'the-master', epoch: 5 })
    await service.stop()
    await expect(fetchJobs(client, server.peerId)).rejects.toThrow()
    await expect(cancelJob(client, server.peerId, 'j1')).rejects.toThrow()
    await expect(watchJob(client, server.peerId, 'j1', false, () => {})).rejects.not.toBeInstanceOf(RemoteError)
    await service.start()
    expect((await fetchJobs(client, server.peerId)).master).toBe('the-master')
  })
})
