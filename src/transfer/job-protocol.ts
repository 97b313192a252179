// The job protocols: `/swarm/submit/1.0.0` (upload an image and its pipeline; with watch, follow the job
// to its end on the same stream), `/swarm/watch/1.0.0` (follow a job already queued),
// `/swarm/jobs/1.0.0` (list the queue) and `/swarm/cancel/1.0.0` (end a queued or running job). Any peer answers them; one that is not master replies not-master
// with the master's PeerId, so the client goes there instead.
//
// One file for them all: a submit with watch turns into a watch, so they share the event stream and
// its pacing on the server and the follow loop on the client, and all three share the not-master reply.
// Both halves are here: the client functions (used by `swarm submit`, `swarm result`, `swarm jobs` from
// any device) and JobProtocolService (every peer runs one). What the master decides (admitting a job,
// its queue, its files) is src/scheduler/job-service.ts's, passed in as a JobHandler.
import { open } from 'node:fs/promises'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import type { Libp2p, PeerId, Stream } from '@libp2p/interface'
import type { z } from 'zod'
import type { OutputFormat, Pipeline } from '../ops/index.ts'
import { systemClock, timeoutSignal, type Clock } from './clock.ts'
import { RemoteError } from './errors.ts'
import { FrameStream } from './frames.ts'
import {
  RESUBMIT_PROTOCOL, ResubmitRequestSchema, type ResubmitRequest, CANCEL_PROTOCOL, CancelReplySchema, CancelRequestSchema, PRUNE_PROTOCOL, PruneReplySchema, PruneRequestSchema, type PruneReply, type PruneRequest, ErrorCodes, FRAME_BYTES, JOBS_PROTOCOL, JobEventSchema, JobsReplySchema,
  JobsRequestSchema, SUBMIT_PROTOCOL, SubmitRequestSchema, WATCH_PROTOCOL, WatchRequestSchema, type CancelReply, type JobEvent,
  type JobsFilter, type JobsReply, type JobsRequest, type SubmitRequest
} from './messages.ts'
import { queryStatus } from './status.ts'
import { writeSource, type BlobSource } from './blob.ts'
import type { Caller, DeviceKey } from './request-auth.ts'

export { CANCEL_PROTOCOL, JOBS_PROTOCOL, PRUNE_PROTOCOL, RESUBMIT_PROTOCOL, SUBMIT_PROTOCOL, WATCH_PROTOCOL }

// No outbound limits: peers never dial these protocols (clients do, from nodes that serve nothing), so
// libp2p's default applies on the only side that opens them.

/** Uploads a master takes at once: each holds a file being written, then decoded whole (memory). */
export const SUBMIT_MAX_INBOUND_STREAMS = 64
/** Resubmits at once: each copies a kept input and decodes it, as an upload does, and stays to watch its job. */
export const RESUBMIT_MAX_INBOUND_STREAMS = 16
/** Watchers a master keeps at once: cheap (a listener each), and every `swarm submit` holds one for its job's life. */
export const WATCH_MAX_INBOUND_STREAMS = 256
/** Listings at once: one reply each, asked by a person. */
export const JOBS_MAX_INBOUND_STREAMS = 16
/** Cancels at once: one short request each, asked by a person. */
export const CANCEL_MAX_INBOUND_STREAMS = 16
/** Prunes at once: a person's, now and then; one is plenty, a few tolerate a script run twice. */
export const PRUNE_MAX_INBOUND_STREAMS = 4
/** Uploads and outputs travel in frames of this size (1 MiB, the swarm's frame size); messages are far smaller. */
export const MAX_FRAME_BYTES = FRAME_BYTES
/** The master's longest wait for a client's next frame (a request, or the next part of an upload). */
export const SERVER_READ_TIMEOUT_MS = 30_000
/**
 * A client's longest wait for the master's next frame. Longer than the server's: the wait for
 * "accepted" covers the copy of a large upload to a standby; past this the client asks the master again.
 */
export const CLIENT_READ_TIMEOUT_MS = 60_000
/**
 * A watcher hears the job's state at least this often, even when it makes no progress (queued behind
 * others, or waiting for the peers that hold its input to come back): a live master is never mistaken
 * for a silent one. Well inside the CLI's default 15 s search budget, which a silence that long starts.
 */
export const WATCH_KEEPALIVE_MS = 5000
/** A client's longest wait to open a stream to the master. */
export const DIAL_TIMEOUT_MS = 10_000
/** At most ten progress events a second per watcher; the last one before the result always goes. */
export const PROGRESS_INTERVAL_MS = 100
/** Jobs listed when the request says no limit. */
export const DEFAULT_JOBS_LIMIT = 100
/** findMaster: the pause between rounds over the targets, and a bound on rounds besides its time budget. */
export const FIND_MASTER_PAUSE_MS = 250
const FIND_MASTER_MAX_ROUNDS = 1000
/** findMaster: one status query's wait, within its budget. */
const STATUS_QUERY_MIN_MS = 500
const STATUS_QUERY_MAX_MS = 5000

// ---- the client's side

export class NoMasterError extends Error {
  override name = 'NoMasterError'
}

export class MasterGoneError extends Error {
  override name = 'MasterGoneError'
}

export interface ClientOptions {
  /** Deadlines and pauses run on this clock (default: the system's). */
  clock?: Clock
  /** The user's key on this device: every request is signed with it (needed once the swarm has accounts). */
  signer?: Pick<DeviceKey, 'sign'>
}

/** The request as sent to `master` on `protocol`: signed when the client has a user's key. */
export function signed<T extends Record<string, unknown>> (opts: ClientOptions, protocol: string, master: PeerId, body: T): T {
  return opts.signer == null ? body : opts.signer.sign(protocol, master.toString(), body, (opts.clock ?? systemClock).now())
}

type Client = Pick<Libp2p, 'dialProtocol' | 'peerStore'>

/**
 * Asks the given peers who the master is, until one names a master or the time is up. Adds the
 * master's addresses to the peer store so it can be dialled by PeerId.
 */
export async function findMaster (node: Client, targets: Array<PeerId | Multiaddr>, timeoutMs: number, opts: ClientOptions = {}): Promise<PeerId> {
  const clock = opts.clock ?? systemClock
  const deadline = clock.now() + timeoutMs
  const errors = new Set<string>()
  for (let round = 0; round < FIND_MASTER_MAX_ROUNDS && clock.now() < deadline; round++) {
    for (const target of targets) {
      try {
        const wait = Math.max(STATUS_QUERY_MIN_MS, Math.min(STATUS_QUERY_MAX_MS, deadline - clock.now()))
        const snap = await queryStatus(node, target, wait, { clock })
        if (snap.master == null) continue
        const row = snap.peers.find(p => p.peerId === snap.master)
        const id = peerIdFromString(snap.master)
        if (row != null) await node.peerStore.merge(id, { multiaddrs: row.addrs.map(a => multiaddr(a)) })
        return id
      } catch (err) {
        errors.add((err as Error).message)
      }
    }
    await clock.sleep(FIND_MASTER_PAUSE_MS)
  }
  throw new NoMasterError(`no master found within ${timeoutMs} ms${errors.size > 0 ? ` (${[...errors].slice(0, 3).join('; ')})` : ' (the swarm may still be electing one)'}`)
}

export interface SubmitInput {
  path: string
  name: string
  bytes: number
  pipeline: Pipeline
  format: OutputFormat
  tileSize?: number
  watch: boolean
  /** Who submits, as shown in the dashboard: "user@host" for the CLI. */
  submitter?: string
  /** Compute it even if the result cache holds it. */
  noCache?: boolean
}

export interface JobOutcome {
  jobId: string
  /** The encoded output, when it was asked for and the job succeeded. */
  data?: Uint8Array
  result?: Extract<JobEvent, { type: 'result' }>
  failure?: string
}

/** A fresh stream to the master on `protocol`, framed; the dial is bounded by DIAL_TIMEOUT_MS. */
async function dial (node: Client, master: PeerId, protocol: string, clock: Clock): Promise<FrameStream> {
  const timeout = timeoutSignal(clock, DIAL_TIMEOUT_MS)
  try {
    const stream = await node.dialProtocol(master, protocol, { signal: timeout.signal })
    return new FrameStream(stream, { maxFrameBytes: MAX_FRAME_BYTES, readTimeoutMs: CLIENT_READ_TIMEOUT_MS, clock })
  } finally {
    timeout.cancel()
  }
}

/** The file being uploaded changed under the upload (truncated or replaced): no master can help, no retry. */
export class InputChangedError extends Error {
  override name = 'InputChangedError'
}

/** Uploads the file and, with watch, follows the job to its end. */
export async function submitImage (node: Client, master: PeerId, input: SubmitInput, onEvent: (e: JobEvent) => void, opts: ClientOptions = {}): Promise<JobOutcome> {
  const fs = await dial(node, master, SUBMIT_PROTOCOL, opts.clock ?? systemClock)
  try {
    await fs.writeJson(signed(opts, SUBMIT_PROTOCOL, master, { name: input.name, bytes: input.bytes, pipeline: input.pipeline, format: input.format, ...(input.tileSize != null ? { tileSize: input.tileSize } : {}), watch: input.watch, ...(input.submitter != null ? { submitter: input.submitter } : {}), ...(input.noCache === true ? { noCache: true } : {}) }))
    const fh = await open(input.path, 'r')
    try {
      const buf = new Uint8Array(MAX_FRAME_BYTES)
      let sent = 0
      while (sent < input.bytes) {
        const { bytesRead } = await fh.read(buf, 0, Math.min(buf.byteLength, input.bytes - sent), sent)
        if (bytesRead === 0) throw new InputChangedError(`${input.path} shrank while being sent (${sent} of the ${input.bytes} bytes it had): the file changed during the upload; not sent again`)
        await fs.writeBinary(buf.slice(0, bytesRead), MAX_FRAME_BYTES)
        sent += bytesRead
      }
    } finally {
      await fh.close()
    }
    return await acceptedThenFollow(fs, input.watch, onEvent)
  } catch (err) {
    fs.abort(err as Error)
    throw err
  }
}

/** Asks the master to run a recorded job again from its kept input and, with watch, follows the new job to its end. */
export async function resubmitJob (node: Client, master: PeerId, req: ResubmitRequest, onEvent: (e: JobEvent) => void, opts: ClientOptions = {}): Promise<JobOutcome> {
  const fs = await dial(node, master, RESUBMIT_PROTOCOL, opts.clock ?? systemClock)
  try {
    await fs.writeJson(signed(opts, RESUBMIT_PROTOCOL, master, req))
    return await acceptedThenFollow(fs, req.watch, onEvent)
  } catch (err) {
    fs.abort(err as Error)
    throw err
  }
}

/** A submit's answer: "accepted" (a refusal is thrown), then with watch the job's events to its end. */
async function acceptedThenFollow (fs: FrameStream, watch: boolean, onEvent: (e: JobEvent) => void): Promise<JobOutcome> {
  const accepted = await fs.readJson(JobEventSchema)
  if (accepted.type !== 'accepted') throw new Error(`unexpected reply ${accepted.type}`)
  onEvent(accepted)
  if (!watch) {
    await fs.close()
    return { jobId: accepted.jobId }
  }
  return await follow(fs, accepted.jobId, onEvent)
}

/** Follows a job already in the queue: progress, then its result (with the data if asked). */
export async function watchJob (node: Client, master: PeerId, jobId: string, withData: boolean, onEvent: (e: JobEvent) => void, opts: ClientOptions = {}): Promise<JobOutcome> {
  const fs = await dial(node, master, WATCH_PROTOCOL, opts.clock ?? systemClock)
  try {
    await fs.writeJson(signed(opts, WATCH_PROTOCOL, master, { jobId, result: withData }))
    return await follow(fs, jobId, onEvent)
  } catch (err) {
    fs.abort(err as Error)
    throw err
  }
}

/** Reads events until the result or failure; a stream that ends before either means the master changed. */
async function follow (fs: FrameStream, jobId: string, onEvent: (e: JobEvent) => void): Promise<JobOutcome> {
  for (;;) {
    const frame = await fs.read()
    if (frame == null) throw new MasterGoneError(`the master stopped serving job ${jobId}`)
    if (frame.kind !== 'json') throw new Error('unexpected binary frame')
    const value = JSON.parse(new TextDecoder().decode(frame.payload)) as { error?: { code: string, message: string } }
    if (value.error != null) throw new RemoteError(value.error.code, value.error.message)
    const e = JobEventSchema.parse(value)
    onEvent(e)
    if (e.type === 'failed') return { jobId, failure: e.reason }
    if (e.type === 'result') {
      const data = e.bytes > 0 ? await fs.readBinary(e.bytes) : undefined
      await fs.close()
      return { jobId, data, result: e }
    }
  }
}

/** One request on a fresh stream to the master, and its one reply: the listing, cancel and prune protocols. */
export async function ask<T> (node: Client, master: PeerId, protocol: string, request: Record<string, unknown>, reply: z.ZodType<T>, opts: ClientOptions): Promise<T> {
  const fs = await dial(node, master, protocol, opts.clock ?? systemClock)
  try {
    await fs.writeJson(signed(opts, protocol, master, request))
    const answer = await fs.readJson(reply)
    await fs.close()
    return answer
  } catch (err) {
    fs.abort(err as Error)
    throw err
  }
}

export async function fetchJobs (node: Client, master: PeerId, limit = DEFAULT_JOBS_LIMIT, opts: ClientOptions = {}): Promise<JobsReply> {
  return await ask(node, master, JOBS_PROTOCOL, { limit }, JobsReplySchema, opts)
}

/** The newest jobs that pass the request's filters (swarm history), oldest first as in the queue. */
export async function fetchHistory (node: Client, master: PeerId, req: JobsRequest, opts: ClientOptions = {}): Promise<JobsReply> {
  return await ask(node, master, JOBS_PROTOCOL, req, JobsReplySchema, opts)
}

/** Asks the master to end a job: its tiles in flight are revoked, its watchers told it was cancelled. */
export async function cancelJob (node: Client, master: PeerId, jobId: string, opts: ClientOptions = {}): Promise<CancelReply> {
  return await ask(node, master, CANCEL_PROTOCOL, { jobId }, CancelReplySchema, opts)
}

/** Asks the master to remove finished jobs and their files (or, with dryRun, to list what it would remove). */
export async function pruneJobs (node: Client, master: PeerId, req: PruneRequest, opts: ClientOptions = {}): Promise<PruneReply> {
  return await ask(node, master, PRUNE_PROTOCOL, req, PruneReplySchema, opts)
}

/**
 * true when the error means "ask again": the peer was not (or no longer) master, or it could not yet
 * place a copy of the input on a standby (the job was not accepted, so sending it again is right).
 */
export function isRetryable (err: unknown): boolean {
  if (err instanceof RemoteError) return err.code === ErrorCodes.notMaster || err.code === ErrorCodes.busy
  return err instanceof MasterGoneError
}

// ---- the master's side

export type AcceptedEvent = Extract<JobEvent, { type: 'accepted' }>

/** Thrown by a JobHandler to refuse a request with this code; the client gets it as a RemoteError. */
export class JobRefusal extends Error {
  override name = 'JobRefusal'
  readonly code: string
  constructor (code: string, message: string) {
    super(message)
    this.code = code
  }
}

/** Reads a submit's upload, exactly as many bytes as it announced, into `sink`. */
export type Upload = (sink: (chunk: Uint8Array) => Promise<void>) => Promise<void>

/** A job checked and stored, not yet queued. */
export interface AdmittedJob {
  accepted: AcceptedEvent
  /** Queues the job; "accepted" is sent only after this resolves (and a watcher is listening before). */
  enqueue: () => Promise<void>
}

/** A done job's output, stored on this peer. */
export interface JobOutput {
  format: OutputFormat
  width: number
  height: number
  /** The encoded output, sent as it is read (an output may be far larger than a peer should hold at once). */
  data: BlobSource
}

export interface JobFollower {
  event: (e: JobEvent) => void
  /** This peer stopped serving the job (no longer master): the watcher's stream ends, the client asks again. */
  end: () => void
}

/** What the job server needs of the master: its decisions, none of the wire. */
export interface JobHandler {
  /** Whether this peer serves the job protocols now (it is master). */
  serving: () => boolean
  /** The request's author (null: the swarm has no accounts); throws JobRefusal unauthorized when it has none valid. */
  identify: (protocol: string, request: Record<string, unknown>) => Caller
  /** Whether `who` may see and act on the job (an unknown job: false). */
  maySee: (jobId: string, who: Caller) => boolean
  /** The master this peer follows, sent to a client that asked the wrong peer. */
  masterId: () => string | null
  /** Checks a submitted job and stores its upload (read with `upload`); throws JobRefusal to refuse it. */
  admit: (req: SubmitRequest, upload: Upload, who: Caller) => Promise<AdmittedJob>
  /** Checks a recorded job's kept input (one `who` may see) and stores a copy for a new job, as admit does an upload. */
  resubmit: (req: ResubmitRequest, who: Caller) => Promise<AdmittedJob>
  knows: (jobId: string) => boolean
  /**
   * Passes on the job's events until the returned function is called. With `replay`, its state now
   * comes first: a progress event, and its result or failure if it has ended (end() if it is unknown).
   */
  follow: (jobId: string, follower: JobFollower, replay: boolean) => () => void
  queuePosition: (jobId: string) => number
  /** The job's state now as a progress event (sent to a watcher that has heard nothing for a while). */
  state: (jobId: string) => Extract<JobEvent, { type: 'progress' }> | undefined
  /** Rejects when the output cannot be had (the watcher's stream then ends, and the client asks again). */
  output: (jobId: string) => Promise<JobOutput>
  /** The newest `limit` jobs `who` may see that pass the filter, in queue order. */
  jobs: (limit: number, who: Caller, filter?: JobsFilter) => JobsReply
  /** Ends the job (throws JobRefusal unknown-job for a job the queue does not hold, or `who` may not see). */
  cancel: (jobId: string, who: Caller) => Promise<CancelReply>
  /** Removes finished jobs of `who`'s (all, for an admin or an open swarm) and their files (swarm prune). */
  prune: (req: PruneRequest, who: Caller) => Promise<PruneReply>
}

export interface JobComponents {
  libp2p: Pick<Libp2p, 'handle' | 'unhandle'>
}

export interface JobInit {
  handler: JobHandler
  /** Read deadlines and the pacing of progress events run on this clock (default: the system's). */
  clock?: Clock
}

export class JobProtocolService {
  readonly #components: JobComponents
  readonly #handler: JobHandler
  readonly #clock: Clock
  #started = false

  constructor (components: JobComponents, init: JobInit) {
    this.#components = components
    this.#handler = init.handler
    this.#clock = init.clock ?? systemClock
  }

  async start (): Promise<void> {
    if (this.#started) return
    const libp2p = this.#components.libp2p
    await libp2p.handle(SUBMIT_PROTOCOL, this.#serve(async fs => { await this.#submit(fs) }), { maxInboundStreams: SUBMIT_MAX_INBOUND_STREAMS })
    await libp2p.handle(RESUBMIT_PROTOCOL, this.#serve(async fs => { await this.#resubmit(fs) }), { maxInboundStreams: RESUBMIT_MAX_INBOUND_STREAMS })
    await libp2p.handle(WATCH_PROTOCOL, this.#serve(async fs => { await this.#watchRequest(fs) }), { maxInboundStreams: WATCH_MAX_INBOUND_STREAMS })
    await libp2p.handle(JOBS_PROTOCOL, this.#serve(async fs => { await this.#jobs(fs) }), { maxInboundStreams: JOBS_MAX_INBOUND_STREAMS })
    await libp2p.handle(CANCEL_PROTOCOL, this.#serve(async fs => { await this.#cancel(fs) }), { maxInboundStreams: CANCEL_MAX_INBOUND_STREAMS })
    await libp2p.handle(PRUNE_PROTOCOL, this.#serve(async fs => { await this.#prune(fs) }), { maxInboundStreams: PRUNE_MAX_INBOUND_STREAMS })
    this.#started = true
  }

  async stop (): Promise<void> {
    if (!this.#started) return
    await this.#components.libp2p.unhandle([SUBMIT_PROTOCOL, RESUBMIT_PROTOCOL, WATCH_PROTOCOL, JOBS_PROTOCOL, CANCEL_PROTOCOL, PRUNE_PROTOCOL])
    this.#started = false
  }

  #serve (fn: (fs: FrameStream) => Promise<void>): (stream: Stream) => Promise<void> {
    return serveOnMaster(this.#handler, this.#clock, fn)
  }

  async #submit (fs: FrameStream): Promise<void> {
    const req = await fs.readJson(SubmitRequestSchema)
    const who = this.#handler.identify(SUBMIT_PROTOCOL, req)
    const job = await this.#handler.admit(req, async (sink) => { await fs.readBinary(req.bytes, sink) }, who)
    await this.#answer(fs, job, req.watch)
  }

  async #resubmit (fs: FrameStream): Promise<void> {
    const req = await fs.readJson(ResubmitRequestSchema)
    await this.#answer(fs, await this.#handler.resubmit(req, this.#handler.identify(RESUBMIT_PROTOCOL, req)), req.watch)
  }

  /** Queues an admitted job, says "accepted", and with watch streams its events to its end. */
  async #answer (fs: FrameStream, job: AdmittedJob, watch: boolean): Promise<void> {
    const jobId = job.accepted.jobId
    // Watch before the job can progress, so no event is missed; but send nothing before "accepted".
    const accepted = Promise.withResolvers<void>()
    // A cached job has ended already: its state (the result) is replayed, or the watcher would wait for good.
    const watching = watch ? this.#watch(fs, jobId, true, job.accepted.cached === true, accepted.promise) : undefined
    try {
      await job.enqueue()
      await fs.writeJson(job.accepted)
    } finally {
      accepted.resolve()
    }
    if (watching != null) await watching
    else await fs.close()
  }

  async #watchRequest (fs: FrameStream): Promise<void> {
    const req = await fs.readJson(WatchRequestSchema)
    const who = this.#handler.identify(WATCH_PROTOCOL, req)
    // Another user's job is answered as no job at all: its id says nothing about whether it exists.
    if (!this.#handler.knows(req.jobId) || !this.#handler.maySee(req.jobId, who)) throw new JobRefusal(ErrorCodes.unknownJob, `no job ${req.jobId} in the queue`)
    await this.#watch(fs, req.jobId, req.result, true)
  }

  /**
   * Streams the job's progress, then its result (or failure), then ends. Ends early, without a result,
   * when this peer stops being master: the client then asks the new one.
   */
  async #watch (fs: FrameStream, jobId: string, withData: boolean, replay: boolean, after: Promise<void> = Promise.resolve()): Promise<void> {
    let last = -Infinity
    let lastSent = this.#clock.now()
    let send: Promise<void> = after
    const queueSend = (e: JobEvent): void => {
      lastSent = this.#clock.now()
      send = send.then(async () => { await fs.writeJson(e) })
    }
    await new Promise<void>((resolve) => {
      let ended = false
      let unfollow: (() => void) | undefined
      const finish = (): void => {
        if (ended) return
        ended = true
        keepalive.cancel()
        unfollow?.()
        fs.stream.removeEventListener('close', finish)
        resolve()
      }
      const event = (e: JobEvent): void => {
        if (ended) return
        if (e.type === 'progress') {
          const now = this.#clock.now()
          if (now - last < PROGRESS_INTERVAL_MS && e.done < e.total) return
          last = now
          queueSend({ ...e, queuePosition: this.#handler.queuePosition(jobId) })
        } else if (e.type === 'failed') {
          queueSend(e)
          finish()
        } else if (e.type === 'result') {
          void this.#sendResult(fs, jobId, withData, async () => { await send }).then(finish, finish)
        }
      }
      // Checked twice per period: a silence of more than half of it is broken at the next check, so none
      // lasts longer than one period, and a silent job is heard once per period. The state goes out as
      // any progress does (far past PROGRESS_INTERVAL_MS since the last, so never throttled).
      const keepalive = this.#clock.every(WATCH_KEEPALIVE_MS / 2, () => {
        if (ended || this.#clock.now() - lastSent <= WATCH_KEEPALIVE_MS / 2) return
        const state = this.#handler.state(jobId)
        if (state != null) event(state)
      })
      fs.stream.addEventListener('close', finish)
      unfollow = this.#handler.follow(jobId, { event, end: finish }, replay)
      if (ended) unfollow()
    })
    await send.catch(() => {})
    await fs.close()
  }

  async #sendResult (fs: FrameStream, jobId: string, withData: boolean, pending: () => Promise<void>): Promise<void> {
    await pending()
    const out = await this.#handler.output(jobId)
    await fs.writeJson({ type: 'result', jobId, format: out.format, bytes: withData ? out.data.bytes : 0, width: out.width, height: out.height } satisfies JobEvent)
    if (withData) await writeSource(fs, out.data)
  }

  async #jobs (fs: FrameStream): Promise<void> {
    const req = await fs.readJson(JobsRequestSchema)
    const { limit, auth: _auth, ...filter } = req
    await fs.writeJson(this.#handler.jobs(limit ?? DEFAULT_JOBS_LIMIT, this.#handler.identify(JOBS_PROTOCOL, req), filter))
    await fs.close()
  }

  async #cancel (fs: FrameStream): Promise<void> {
    const req = await fs.readJson(CancelRequestSchema)
    await fs.writeJson(await this.#handler.cancel(req.jobId, this.#handler.identify(CANCEL_PROTOCOL, req)))
    await fs.close()
  }

  async #prune (fs: FrameStream): Promise<void> {
    const req = await fs.readJson(PruneRequestSchema)
    await fs.writeJson(await this.#handler.prune(req, this.#handler.identify(PRUNE_PROTOCOL, req)))
    await fs.close()
  }
}

/**
 * A master-only protocol's stream handler: a peer that is not master answers not-master with the master's
 * id; a JobRefusal goes back as an error frame; anything else resets the stream.
 */
export function serveOnMaster (who: Pick<JobHandler, 'serving' | 'masterId'>, clock: Clock, fn: (fs: FrameStream) => Promise<void>): (stream: Stream) => Promise<void> {
  return async (stream) => {
    const fs = new FrameStream(stream, { maxFrameBytes: MAX_FRAME_BYTES, readTimeoutMs: SERVER_READ_TIMEOUT_MS, clock })
    try {
      if (!who.serving()) throw new JobRefusal(ErrorCodes.notMaster, who.masterId() ?? '')
      await fn(fs)
    } catch (err) {
      if (!(err instanceof JobRefusal)) { fs.abort(err as Error); return }
      try {
        await fs.writeError(err.code, err.message)
        await fs.close()
      } catch (e) {
        fs.abort(e as Error)
      }
    }
  }
}

export function jobProtocol (init: JobInit): (components: JobComponents) => JobProtocolService {
  return (components) => new JobProtocolService(components, init)
}
