// The master's runtime: the shell that executes what the planner (master-planner.ts) decides. It
// feeds the planner the swarm's membership, the queue's effects and every outcome of its own work
// (a tile delivered or not, a result stored, statistics read, a job stitched), and does the I/O the
// commands ask for: step the queue (persisted before acted on), send tiles, store results, merge,
// stitch, tell watchers. Active only while this peer is master.
import { EventEmitter } from 'node:events'
import { peerIdFromString } from '@libp2p/peer-id'
import { autoTileSize, createRaw, decodeImage, encodeImageToBuffer, placeTile, sliceTile, stitchToFile, type OutputFormat, type RawImage, type Tile } from '../ops/index.ts'
import type { SwarmPeer } from '../node/peer.ts'
import { systemClock, type Clock, type Timer } from '../transfer/clock.ts'
import { sendTile, type SentTileResult } from '../transfer/tile-protocol.ts'
import { ErrorCodes, type JobEvent } from '../transfer/messages.ts'
import { MalformedFrameError, RemoteError, StreamEndedError } from '../transfer/errors.ts'
import type { TileNotice } from '../transfer/tile-done.ts'
import { getJob, type QueueEffect, type QueueEvent } from './queue-machine.ts'
import {
  lostTileRequest, metaOf, newPlan, progressOf, standbysOf, stepMaster, tickMsFor, tileSizeFor, waitingOf,
  type FailureKind, type JobMeta, type Lease, type MasterCommand, type MasterEvent, type MasterPlan, type PeerLoad, type ResultShape
} from './master-planner.ts'
import { StaleEpochError } from './errors.ts'
import { QueueStore } from './queue-store.ts'
import { decodeTile, JobFiles, statsName, tileName } from './job-files.ts'
import { pixelsHash, statsHash } from './result-hash.ts'
import { getBlob } from '../transfer/blob.ts'
import { ReplicationSource } from './replication.ts'
import { JobCopies, MissingFileError } from './job-copies.ts'
import { NoMemoryError, type WorkerRuntime } from './worker.ts'
import type { MemoryBudget, Reservation } from '../ops/memory-budget.ts'

export type { JobMeta } from './master-planner.ts'

export interface MasterOptions {
  dataDir: string
  /** Tile edge for jobs that name none; undefined: fitted to each image and the swarm (autoTileSize). */
  tileSize?: number
  leaseMs: number
  /** The longest a lease lives however often it is renewed (QueueConfig.maxLeaseMs; default 15 min). */
  maxLeaseMs?: number
  maxAttempts: number
  prefetch: number
  maxInputBytes: number
  maxPixels: number
  /** Standby copies of each job's input, results and output (besides the master's own). */
  standbys: number
  /** See PlannerConfig.masterWorkLimit. */
  masterWorkLimit: number
  /** The share of each job's tiles whose result a second peer checks (0: none, 1: every tile). */
  verify: number
  /** Outputs up to this many bytes of pixels are stitched in memory (default STITCH_IN_MEMORY_MAX_BYTES). */
  stitchInMemoryMaxBytes?: number
  /** This peer's memory budget: an output is stitched in memory only if it has room (undefined: no limit). */
  memory?: MemoryBudget
  /** Time and timers; the system clock unless a test drives them. */
  clock?: Clock
}

/**
 * An output up to this size (a 40 MP photo) is stitched in memory and encoded from there: faster (measured,
 * 24 MP -> JPEG: 451 ms against 849 ms through the file) and its memory is that of a decoded photo. Larger
 * ones are stitched on disk (stitchToFile), so a 100 MP or 400 MP job fits a Pi's memory.
 */
export const STITCH_IN_MEMORY_MAX_BYTES = 128 * 1024 * 1024

/**
 * Tiles the stitch fetches and reads at once: enough to hide the round trips to peers capped at a fifth of
 * a core, few enough that the decoded tiles held beside an in-memory output (4 MP tiles at most: 16 MiB
 * each) stay small against it.
 */
const STITCH_FETCHES = 4
/** The largest a stored tile of the job can be: its pixels with a halo, and room for the header and zstd's frame. */
const tileBlobMaxBytes = (meta: JobMeta): number => (meta.tileSize + 2 * meta.halo) ** 2 * 4 + 64 * 1024

/** A master stage waits this long at most for room in the memory budget (a stitch behind running tiles). */
const STAGE_MEMORY_WAIT_MS = 120_000
/** Between looks at the budget while a stage waits: tiles end every few hundred ms. */
const STAGE_MEMORY_POLL_MS = 200

/** Runs `fn` over `items` with at most `limit` at a time; rejects with the first failure, once all started ones end. */
async function eachLimit<T> (items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  const lane = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++])
  }
  const lanes = await Promise.allSettled(Array.from({ length: Math.min(limit, items.length) }, lane))
  const failed = lanes.find(l => l.status === 'rejected')
  if (failed != null) throw failed.reason
}

export class WrongResultError extends Error {
  override name = 'WrongResultError'
}

export class NotActiveError extends Error {
  override name = 'NotActiveError'
}

/** The job's input could not be loaded here (no reachable peer has it, or it does not decode). */
class InputUnavailableError extends Error {
  override name = 'InputUnavailableError'
}

/** This master could not store a result on its own disk. */
class LocalStoreError extends Error {
  override name = 'LocalStoreError'
}

/** A tile this peer ran for itself failed: the work, not the network. */
class LocalWorkError extends Error {
  override name = 'LocalWorkError'
  readonly stale: boolean
  constructor (err: Error) {
    super(err.message)
    this.stale = err instanceof StaleEpochError
  }
}

/** Names what went wrong with a tile, for the planner to judge. */
function classify (err: unknown): FailureKind {
  if (err instanceof WrongResultError) return 'wrongResult'
  if (err instanceof InputUnavailableError) return 'inputUnavailable'
  if (err instanceof LocalStoreError) return 'local'
  if (err instanceof LocalWorkError) return err.stale ? 'staleEpoch' : 'workerError'
  if (err instanceof MissingFileError) return 'missingFile'
  if (err instanceof NoMemoryError || (err instanceof RemoteError && err.code === ErrorCodes.noMemory)) return 'noMemory'
  if (err instanceof RemoteError) return err.code === ErrorCodes.staleEpoch ? 'staleEpoch' : err.code === ErrorCodes.inputUnavailable ? 'inputUnavailable' : 'workerError'
  if (err instanceof StreamEndedError) return 'streamEnded'
  if (err instanceof MalformedFrameError) return 'malformed'
  return 'unreachable'
}

function shapeOf (r: SentTileResult): ResultShape {
  if ('stats' in r) return { kind: 'stats', stats: r.stats }
  if ('stored' in r) return { kind: 'image', width: r.stored.width, height: r.stored.height, channels: r.stored.channels, bytes: r.stored.width * r.stored.height * r.stored.channels }
  return { kind: 'image', width: r.image.width, height: r.image.height, channels: r.image.channels, bytes: r.image.data.byteLength }
}

export const extensionOf = (f: OutputFormat): string => f === 'jpeg' ? 'jpg' : f === 'tiff' ? 'tif' : f

export interface MasterEvents {
  log: [{ level: 'info' | 'warn', msg: string, fields?: Record<string, unknown> }]
  job: [JobEvent]
  /** No longer master: watchers' streams end, so clients find the new master. */
  inactive: []
  /** A tile was handed to a peer (for logs, the dashboard and tests); speculative: a copy of a straggler. */
  dispatched: [{ jobId: string, phase: number, index: number, peer: string, attempt: number, speculative: boolean }]
  /**
   * The queue took a tile's result: its `tileDone` effect, persisted (once per tile, so a checked tile
   * counts once, with the peer whose result made it done). For the dashboard's metrics: a fact, nothing more.
   */
  tileDone: [{ jobId: string, phase: number, index: number, peer: string }]
}

export class MasterRuntime extends EventEmitter<MasterEvents> {
  readonly opts: MasterOptions
  readonly files: JobFiles
  private readonly peer: SwarmPeer
  private readonly worker: WorkerRuntime
  private readonly clock: Clock
  private store?: QueueStore
  private plan?: MasterPlan
  private epoch = 0
  private timer?: Timer
  /** Serialises activate/deactivate: a step-down can arrive while activation is still opening the store. */
  private transition: Promise<void> = Promise.resolve()
  private readonly inflight = new Map<string, AbortController>()
  private readonly inputs = new Map<string, Promise<RawImage>>()
  readonly replication: ReplicationSource
  private readonly copies: JobCopies
  /**
   * Done jobs whose output this peer saw stored here and on another peer (the stitch's copy, or a master's
   * check of the standbys): only these may lose their files to retention or the disk cap. Kept across terms:
   * it stays true of the past; a restarted master learns it again from its check of the copies.
   */
  private readonly secured = new Set<string>()

  constructor (peer: SwarmPeer, worker: WorkerRuntime, opts: MasterOptions) {
    super()
    this.peer = peer
    this.worker = worker
    this.opts = opts
    this.clock = opts.clock ?? systemClock
    this.files = new JobFiles(opts.dataDir)
    this.replication = new ReplicationSource({ store: () => this.store, epoch: () => this.epoch, clock: this.clock })
    this.copies = new JobCopies(peer, this.files, () => this.epoch, (msg) => { this.log('warn', msg) })
  }

  get active (): boolean { return this.store != null }
  get currentEpoch (): number { return this.epoch }
  get queue (): QueueStore | undefined { return this.store }

  activate (epoch: number): Promise<void> {
    this.transition = this.transition.then(async () => {
      if (this.store != null) await this.shutdown()
      const store = await QueueStore.open({
        db: this.peer.store,
        sublevel: 'queue',
        config: { leaseMs: this.opts.leaseMs, prefetch: this.opts.prefetch, maxAttempts: this.opts.maxAttempts, ...(this.opts.maxLeaseMs != null ? { maxLeaseMs: this.opts.maxLeaseMs } : {}) },
        now: this.clock.now(),
        onPersist: (ops, pos) => { this.replication.publish(ops, pos) }
      })
      this.store = store
      this.epoch = epoch
      this.plan = newPlan({
        self: this.peer.peerId, slots: this.worker.opts.slots, leaseMs: this.opts.leaseMs, masterWorkLimit: this.opts.masterWorkLimit, tileSize: this.opts.tileSize, standbys: this.opts.standbys
      }, store.state, epoch)
      this.timer = this.clock.every(tickMsFor(this.opts.leaseMs), () => { void this.refreshPeers() })
      await this.run({ type: 'activated', now: this.clock.now(), view: this.loads() })
    }).catch((err: Error) => { this.log('warn', `cannot act as master: ${err.message}`) })
    return this.transition
  }

  deactivate (): Promise<void> {
    this.transition = this.transition.then(async () => { await this.shutdown() })
    return this.transition
  }

  private async shutdown (): Promise<void> {
    const store = this.store
    if (store == null) return
    this.store = undefined
    this.plan = undefined
    this.timer?.cancel()
    this.replication.closeAll()
    for (const ac of this.inflight.values()) ac.abort()
    this.inflight.clear()
    this.inputs.clear()
    this.emit('inactive')
    await store.close().catch(() => {})
  }

  /** Feeds one event to the queue and acts on what it says. Nothing happens once no longer master. */
  async step (event: QueueEvent): Promise<QueueEffect[]> {
    const store = this.store
    if (store == null) return []
    const effects = await store.step(event)
    // Every queue step passes here, whatever brought the result (a stream, a notice, a settled check).
    for (const e of effects) if (e.type === 'tileDone') this.emit('tileDone', { jobId: e.jobId, phase: e.phase, index: e.index, peer: e.peer })
    if (this.store === store) await this.run({ type: 'effects', effects, now: event.now })
    return effects
  }

  /**
   * Feeds the planner one event and executes its commands in order. Resolves the answer to the
   * event's sender, when the commands give one. `result` carries the pixels of a `delivered` event.
   */
  private async run (event: MasterEvent, result?: SentTileResult): Promise<boolean | undefined> {
    const plan = this.plan
    if (plan == null) return undefined
    let answer: boolean | undefined
    for (const c of stepMaster(plan, event)) {
      if (this.plan !== plan) break // stepped down meanwhile
      const a = await this.exec(c, result)
      if (a !== undefined) answer = a
    }
    return answer
  }

  private async exec (c: MasterCommand, result: SentTileResult | undefined): Promise<boolean | undefined> {
    switch (c.type) {
      case 'queue': {
        if (c.delayMs != null) await this.clock.sleep(c.delayMs)
        const effects = await this.step(c.delayMs != null ? { ...c.event, now: this.clock.now() } : c.event)
        return c.answer === true ? !effects.some(e => e.type === 'ignored') : undefined
      }
      case 'send': void this.dispatch(c); return undefined
      case 'abort': this.inflight.get(c.leaseId)?.abort(); return undefined
      case 'refuse': throw new WrongResultError(c.reason)
      case 'store': {
        if (result == null) throw new LocalStoreError('no result to store')
        const hash = await this.storeResult(c.lease, result, c.hash).catch((err: Error) => { throw new LocalStoreError(err.message) })
        return await this.run({ type: 'stored', lease: c.lease, ...(hash != null ? { hash } : {}), now: this.clock.now() })
      }
      case 'fetch': return await this.fetchKept(c.lease, c.hash)
      case 'loadStats': void this.loadStats(c.jobId, c.phase, c.count); return undefined
      case 'stitch': void this.stitch(c.jobId, c.tiles); return undefined
      case 'restandby': void this.restandby(c.jobId, c.want, c.exclude, c.verify === true); return undefined
      case 'forget':
        this.inputs.delete(c.jobId)
        void this.files.dropTiles(c.jobId).catch(() => {})
        return undefined
      case 'answer': return c.value
      case 'emit': this.emit('job', c.event); return undefined
      case 'log': this.log(c.level, c.msg, c.fields); return undefined
    }
  }

  progress (jobId: string): void {
    const e = this.progressEvent(jobId)
    if (e != null) this.emit('job', e)
  }

  /** The job's state now, as a progress event (undefined when this peer is not master or has no such job). */
  progressEvent (jobId: string): JobEvent | undefined {
    return this.plan == null ? undefined : progressOf(this.plan, jobId, this.clock.now())
  }

  /**
   * Ends a queued or running job: the queue revokes its leases (their workers stop), its watchers hear it
   * was cancelled. A job that had already ended stays as it was (cancelled: false, with its state).
   */
  async cancel (jobId: string): Promise<{ cancelled: boolean, state: string }> {
    const effects = await this.step({ type: 'cancel', jobId, now: this.clock.now() })
    const store = this.store
    const state = store == null ? undefined : getJob(store.state, jobId)?.state
    return { cancelled: effects.some(e => e.type === 'jobCancelled'), state: state ?? 'unknown' }
  }

  /**
   * Removes a finished job from the queue for good (swarm prune) and its files on this peer; each follower
   * removes its copies when the deletion reaches its replica. false when the job had not finished.
   */
  async forget (jobId: string): Promise<boolean> {
    const effects = await this.step({ type: 'forget', jobId, now: this.clock.now() })
    if (!effects.some(e => e.type === 'jobForgotten')) return false
    this.inputs.delete(jobId)
    this.worker.forget(jobId)
    await this.files.remove(jobId)
    return true
  }

  /** Whether a done job's output is stored (the queue says done at its last tile, before the stitch). */
  isStitched (jobId: string): boolean {
    return this.plan?.stitched.has(jobId) === true
  }

  /** Whether a done job's output is stored here and on another peer (so its files may go by retention or the cap). */
  isSecured (jobId: string): boolean {
    return this.secured.has(jobId)
  }

  /**
   * Records that a done job's files are given up (retention, the disk cap): the record stays, dated; every
   * follower drops its copies when it arrives. false when not recorded (not master, not done, already so).
   */
  async retire (jobId: string): Promise<boolean> {
    const effects = await this.step({ type: 'retire', jobId, now: this.clock.now() })
    if (!effects.some(e => e.type === 'jobRetired')) return false
    this.inputs.delete(jobId)
    this.worker.forget(jobId)
    return true
  }

  /** Why the job is not moving, when this master knows (see waitingOf). */
  waitingReason (jobId: string): string | undefined {
    return this.plan == null ? undefined : waitingOf(this.plan, jobId)
  }

  /** The live peers' loads, from their last heartbeats. */
  private loads (): PeerLoad[] {
    return this.peer.liveView().map(hb => ({ peer: hb.peerId, freeSlots: hb.load.freeSlots, busyTiles: hb.load.busyTiles, freeMem: hb.load.freeMem }))
  }

  /**
   * The largest memory budget among the live peers and this one, in bytes; undefined when a peer does not
   * say (one from before budgets, or no budget here): then no job is refused for its tiles' memory.
   */
  largestMemoryLimit (): number | undefined {
    const own = this.opts.memory?.limit
    if (own == null) return undefined
    let largest = own
    for (const hb of this.peer.liveView()) {
      if (hb.load.memoryLimit == null) return undefined
      largest = Math.max(largest, hb.load.memoryLimit)
    }
    return largest
  }

  /** The tile edge for a new job: the one configured, else one fitted to the image and the swarm's slots. */
  tileSizeFor (width: number, height: number): number {
    if (this.plan == null) return this.opts.tileSize ?? autoTileSize(width, height, this.worker.opts.slots)
    return tileSizeFor({ ...this.plan, view: this.loads() }, width, height, this.clock.now())
  }

  /** The queue hears the swarm's capacity and the time; work waiting on missing files is retried when due. */
  async refreshPeers (): Promise<void> {
    try {
      await this.run({ type: 'tick', now: this.clock.now(), view: this.loads() })
    } catch (err) {
      this.log('warn', `queue tick failed: ${(err as Error).message}`)
    }
  }

  /** The other live peers. */
  livePeers (): string[] {
    return this.copies.live()
  }

  async hasOutput (jobId: string): Promise<boolean> {
    return await this.files.has(jobId, `output.${extensionOf(this.meta(jobId).format)}`)
  }

  async peerDead (peer: string): Promise<void> {
    await this.step({ type: 'peerDead', peer, now: this.clock.now() })
  }

  meta (jobId: string): JobMeta {
    const meta = this.plan == null ? undefined : metaOf(this.plan, jobId)
    if (meta == null) throw new Error(`unknown job ${jobId}`)
    return meta
  }

  /**
   * The decoded input, for a tile sent with its pixels (a peer without the memory to cut its own, or a job from
   * before input hashes): one decode per job, kept while its tiles are being handed out.
   */
  input (jobId: string, meta: JobMeta): Promise<RawImage> {
    let p = this.inputs.get(jobId)
    if (p == null) {
      p = this.ensureLocal(jobId, meta, 'input').then(async () => await decodeImage(this.files.inputPath(jobId), { maxPixels: this.opts.maxPixels, name: meta.name }))
      this.inputs.set(jobId, p)
      p.catch(() => { this.inputs.delete(jobId) })
    }
    return p
  }

  private async dispatch ({ lease: a, tile, request, readTimeoutMs }: Extract<MasterCommand, { type: 'send' }>): Promise<void> {
    const ac = new AbortController()
    this.inflight.set(a.leaseId, ac)
    let memory: Reservation | undefined
    this.emit('dispatched', { jobId: a.jobId, phase: a.phase, index: a.index, peer: a.peer, attempt: a.attempt, speculative: a.speculative === true })
    try {
      // A worker that cuts its own tile (request.source) gets no pixels from here; this peer's own worker cuts
      // it here, from the file, as a remote one would.
      const self = a.peer === this.peer.peerId
      const pixels = async (): Promise<Uint8Array> => {
        if (request.source != null) {
          if (!self) return new Uint8Array(0)
          return await this.worker.cut(request).catch((err: Error) => { throw new InputUnavailableError(err.message) })
        }
        const meta = this.meta(a.jobId)
        if (meta.inputSha256 != null) {
          // For a worker short of memory: cut here, as this peer's worker cuts its own tiles (a large input
          // from its decoded file, a tile at a time), not from the whole input decoded in memory.
          const here = { ...request, source: { sha256: meta.inputSha256, holders: [this.peer.peerId], x: tile.halo.x, y: tile.halo.y } }
          return await this.worker.cut(here).catch((err: Error) => { throw new InputUnavailableError(err.message) })
        }
        const raw = await this.input(a.jobId, meta).catch((err: Error) => { throw new InputUnavailableError(err.message) })
        return sliceTile(raw, tile).data
      }
      // This peer's own tile holds its memory from the cut to the result, as a remote worker's does.
      memory = self ? this.worker.reserve(request) : undefined
      const data = await pixels()
      const renew = (): void => { void this.run({ type: 'working', lease: a, now: this.clock.now() }).catch(() => {}) }
      const commit = async (result: SentTileResult): Promise<void> => {
        if (ac.signal.aborted) return
        await this.run({ type: 'delivered', lease: a, result: shapeOf(result), kept: result.kept, now: this.clock.now() }, result)
      }
      if (self) {
        const t = this.clock.every(request.renewMs, renew)
        let result: SentTileResult
        try {
          result = { ...await this.worker.run(request, data).catch((err: Error) => { throw new LocalWorkError(err) }), kept: false }
        } finally { t.cancel() }
        await commit(result)
      } else {
        await sendTile(this.peer.libp2p, peerIdFromString(a.peer), request, data, { signal: ac.signal, onWorking: renew, readTimeoutMs, commit })
      }
    } catch (err) {
      if (ac.signal.aborted || this.store == null) return
      await this.run({ type: 'undelivered', lease: a, failure: classify(err), message: (err as Error).message, now: this.clock.now() }).catch(() => {})
    } finally {
      memory?.release()
      this.inflight.delete(a.leaseId)
    }
  }

  /**
   * Stores a result the planner accepted; the standbys get a copy unless the worker kept one. With `hash`
   * (a checked tile) resolves the result's hash: of the pixels as they are stored where the stitch will
   * read them, so a worker cannot report one result and keep another.
   */
  private async storeResult (a: Lease, result: SentTileResult, hash: boolean): Promise<string | undefined> {
    // On the worker and on standbys already: the stitch fetches it from them.
    if ('stored' in result) return hash ? await this.hashKept(a, result.copies) : undefined
    if ('stats' in result) {
      await this.files.writeStats(a.jobId, a.phase, a.index, result.stats)
      if (!result.kept) await this.copies.toStandbys(a.jobId, this.standbysOf(a.jobId), statsName(a.phase, a.index))
      return hash ? statsHash(result.stats) : undefined
    }
    await this.files.writeTile(a.jobId, a.index, result.image)
    if (!result.kept) await this.copies.toStandbys(a.jobId, this.standbysOf(a.jobId), tileName(a.index))
    return hash ? pixelsHash(result.image) : undefined
  }

  /**
   * The hash of a checked tile's pixels that a worker kept: read from the peers it says took a copy (what the
   * stitch reads), then from the worker. Kept here too when this peer has no copy yet.
   */
  private async hashKept (a: Lease, copies: string[]): Promise<string> {
    const name = tileName(a.index)
    let why = `no copy of ${name} of job ${a.jobId} could be read`
    for (const p of [...copies, a.peer]) {
      try {
        const bytes = await getBlob(this.peer.libp2p, peerIdFromString(p), a.jobId, name, tileBlobMaxBytes(this.meta(a.jobId)))
        const img = await decodeTile(bytes, `tile ${a.index} of job ${a.jobId} from ${p}`)
        if (!await this.files.has(a.jobId, name)) await this.files.writeBlob(a.jobId, name, bytes)
        return pixelsHash(img)
      } catch (err) { why = (err as Error).message }
    }
    throw new MissingFileError(why)
  }

  /**
   * A worker's word about a tile it holds a lease for, sent here because the stream to the master that
   * leased it is gone: a renewal, or "done, the result is kept with me". A result is checked and stored
   * here (a second copy besides the worker's) before the queue counts it. Resolves whether it was taken.
   */
  async onTileNotice (n: TileNotice, from: string): Promise<boolean> {
    // Not master, or elected and still opening the queue: the worker asks again (an ignored notice
    // would make it give up, and the tile would be redone when the lease lapses).
    if (this.store == null || this.plan == null) throw new NotActiveError('this peer is not acting as master (yet)')
    const kept: SentTileResult | undefined = n.type === 'done' && 'stats' in n ? { stats: n.stats, kept: true } : undefined
    try {
      return await this.run({ type: 'notice', notice: n, from, now: this.clock.now() }, kept) ?? false
    } catch (err) {
      if (n.type === 'holding') throw err
      const lease: Lease = { jobId: n.jobId, phase: n.phase, index: n.index, peer: from, leaseId: n.leaseId, epoch: n.epoch, attempt: 0 }
      await this.run({ type: 'undelivered', lease, failure: classify(err), message: (err as Error).message, now: this.clock.now() }).catch(() => {})
      return false
    }
  }

  /** The pixels a worker kept: brought here (from it or any peer that has them) and measured. */
  private async fetchKept (lease: Lease, hash: boolean): Promise<boolean | undefined> {
    let result: ResultShape
    let digest: string | undefined
    try {
      await this.ensureLocal(lease.jobId, this.meta(lease.jobId), tileName(lease.index))
      const img = await this.files.readTile(lease.jobId, lease.index)
      result = { kind: 'image', width: img.width, height: img.height, channels: img.channels, bytes: img.data.byteLength }
      if (hash) digest = pixelsHash(img)
    } catch (err) {
      return await this.run({ type: 'fetched', lease, message: (err as Error).message, now: this.clock.now() })
    }
    return await this.run({ type: 'fetched', lease, result, ...(digest != null ? { hash: digest } : {}), now: this.clock.now() })
  }

  /** Makes sure a job's input is here, fetched from `holders` first and checked against its SHA-256; resolves its path. */
  async fetchInput (jobId: string, holders: string[], sha256: string): Promise<string> {
    await this.copies.ensureLocal(jobId, holders, 'input', sha256)
    return this.files.inputPath(jobId)
  }

  /** Copies a file this peer keeps for a job to `peers` (live ones) for the master of `epoch`; resolves those that took it. */
  async copyKept (jobId: string, peers: string[], name: string, epoch: number): Promise<string[]> {
    return await this.copies.toPeers(jobId, peers, name, epoch)
  }

  /** Peers that should hold a copy of a new job, which took its input. */
  async replicateInput (jobId: string, want: number): Promise<string[]> {
    return await this.copies.placeInput(jobId, want)
  }

  /**
   * Whether one of a new job's standbys has written the queue as far as it is now, so the job's record
   * with it: the input alone on a standby would leave the next master with a file but no job.
   */
  async queueOnStandby (standbys: string[]): Promise<boolean> {
    const pos = this.store?.state.pos
    if (pos == null) return false
    return await this.replication.acknowledged(standbys, pos)
  }

  async ensureLocal (jobId: string, _meta: JobMeta, name: string): Promise<void> {
    await this.copies.ensureLocal(jobId, this.standbysOf(jobId), name)
  }

  /** The job's standbys: those chosen at submit and those this master added (planner's standbysOf). */
  private standbysOf (jobId: string): string[] {
    return this.plan == null ? this.meta(jobId).standbys : standbysOf(this.plan, jobId)
  }

  /**
   * New standbys for a job that has too few live ones: every file of the job held here goes to them. With
   * `verify` (a finished job, once per master): its output is checked on each live standby, copied where it
   * is missing (a standby that was down when the output was made has none), and another peer made a
   * standby if that is still too few.
   */
  private async restandby (jobId: string, want: number, exclude: string[], verify: boolean): Promise<void> {
    if (!verify) {
      const peers = await this.copies.addStandbys(jobId, want, exclude).catch(() => [] as string[])
      await this.run({ type: 'standbys', jobId, peers, now: this.clock.now() }).catch(() => {})
      return
    }
    // Read before the first await: this peer may step down meanwhile, and then knows no job.
    const outName = `output.${extensionOf(this.meta(jobId).format)}`
    const self = this.peer.peerId
    const standbys = this.standbysOf(jobId)
    const held = await this.copies.ensureOn(jobId, standbys.filter(p => p !== self), outName).catch(() => [] as string[])
    const added = held.length >= want ? [] : await this.copies.addStandbys(jobId, want - held.length, [self, ...standbys], [outName]).catch(() => [] as string[])
    if (held.length + added.length > 0 && await this.files.has(jobId, outName)) this.secured.add(jobId)
    await this.run({ type: 'standbys', jobId, peers: added, verified: held.length + added.length >= want, now: this.clock.now() }).catch(() => {})
  }

  private async loadStats (jobId: string, phase: number, count: number): Promise<void> {
    let stats: unknown[]
    try {
      const meta = this.meta(jobId)
      for (let i = 0; i < count; i++) await this.ensureLocal(jobId, meta, statsName(phase, i))
      stats = await this.files.readStats(jobId, phase, count)
    } catch (err) {
      await this.run({ type: 'statsLoaded', jobId, phase, message: (err as Error).message, now: this.clock.now() }).catch(() => {})
      return
    }
    await this.run({ type: 'statsLoaded', jobId, phase, stats, now: this.clock.now() }).catch((err: Error) => { this.log('warn', `cannot merge statistics of ${jobId}: ${err.message}`) })
  }

  /** Builds a finished job's output from its tiles, or finds it stored here or on a peer. */
  private async stitch (jobId: string, tiles: Tile[]): Promise<void> {
    const report = async (e: { bytes?: number, existed?: boolean, message?: string }): Promise<void> => {
      await this.run({ type: 'stitched', jobId, ...e, now: this.clock.now() }).catch(() => {})
    }
    try {
      const meta = this.meta(jobId)
      const outName = `output.${extensionOf(meta.format)}`
      if (await this.files.has(jobId, outName)) { await report({ bytes: 0, existed: true }); return }
      // Finished by an earlier master: its output may be on a peer already.
      if (await this.ensureLocal(jobId, meta, outName).then(() => true, () => false)) {
        await report({ bytes: (await this.files.openBlob(jobId, outName)).bytes })
        return
      }
      this.inputs.delete(jobId) // the input's tiles are all out: free it before the output is built
      const channels = meta.outChannels as 1 | 2 | 3 | 4
      let bytes: number
      // Tiles are fetched, read and placed several at a time: one by one, each a round trip to a standby and
      // then a file read and a decompression, they were nearly all of an 8-peer job's end (64 tiles: 3.6 of
      // its 15.7 s, on peers capped at a fifth of a core).
      const pixelBytes = meta.width * meta.height * channels
      // In memory: the pixels and their encoding, if the budget has room for both now.
      const inMemory = pixelBytes <= (this.opts.stitchInMemoryMaxBytes ?? STITCH_IN_MEMORY_MAX_BYTES)
      let memory = inMemory ? this.opts.memory?.tryReserve(2 * pixelBytes) : undefined
      if (inMemory && (this.opts.memory == null || memory != null)) {
        try {
          const out = createRaw(meta.width, meta.height, channels)
          await eachLimit(tiles, STITCH_FETCHES, async (tile) => {
            await this.tileHere(jobId, meta, tile)
            placeTile(out, tile, await this.files.readTile(jobId, tile.index))
          })
          const data = await encodeImageToBuffer(out, meta.format)
          await this.files.writeOutput(jobId, extensionOf(meta.format), data)
          bytes = data.byteLength
        } finally {
          memory?.release()
        }
      } else {
        // Built on disk a tile at a time and encoded from there in strips: no peer holds the whole image.
        // Every tile is brought here first, so the bands read local files only. Memory: a band, and the
        // tiles read at once with their compressed form; waited for, as a tile waits for a worker's room.
        const tileBytes = Math.min(meta.width, meta.tileSize) * Math.min(meta.height, meta.tileSize) * channels
        memory = await this.reserveWhenFree(2 * meta.width * Math.min(meta.height, meta.tileSize) * channels + 2 * STITCH_FETCHES * tileBytes, `the stitch of ${jobId}`)
        try {
          await eachLimit(tiles, STITCH_FETCHES, async (tile) => { await this.tileHere(jobId, meta, tile) })
          bytes = await stitchToFile(this.files.pathOf(jobId, outName), meta.width, meta.height, channels, meta.format, tiles, async (tile) => await this.files.readTile(jobId, tile.index))
        } finally {
          memory?.release()
        }
      }
      // The output on a second peer too, so `swarm result` still works if this one goes: the job's standbys,
      // or, when none of them is alive (or the only one is this master), another peer made its standby.
      let copies = await this.copies.toStandbys(jobId, this.standbysOf(jobId), outName)
      if (copies === 0) {
        const added = await this.copies.addStandbys(jobId, 1, [this.peer.peerId, ...this.standbysOf(jobId)], [outName])
        if (added.length > 0) await this.run({ type: 'standbys', jobId, peers: added, now: this.clock.now() }).catch(() => {})
        copies = added.length
      }
      // The output is made and stored: tiles left behind cost disk, not the job (remove() takes them later).
      await this.files.dropTiles(jobId).catch((err: Error) => { this.log('warn', `job ${jobId}: cannot drop its tiles: ${err.message}`) })
      // Only now may the other peers drop their copies of the input and tiles; with no second copy of the
      // output anywhere (no other peer took one) they keep them, so the job can still be redone.
      if (copies > 0) {
        this.secured.add(jobId)
        this.copies.dropEverywhere(jobId)
      }
      await report({ bytes })
    } catch (err) {
      await report({ message: (err as Error).message })
    }
  }

  /**
   * Waits (bounded by STAGE_MEMORY_WAIT_MS) until this peer's memory budget has room for a stage of the
   * master's own (a stitch), then holds it. While it waits no new tile is granted here, so the running
   * ones end and leave it their room (a budget holding nothing grants what fits its limit). Past the
   * bound the stage runs anyway, logged: a job that never ends is worse than a budget passed once.
   */
  async reserveWhenFree (bytes: number, what: string): Promise<Reservation | undefined> {
    const budget = this.opts.memory
    if (budget == null) return undefined
    const first = budget.tryReserve(bytes)
    if (first != null) return first
    // Until it has room, no new tile is granted here: the ones running end, and their room is the stage's.
    const done = budget.startWaiting()
    try {
      const until = this.clock.now() + STAGE_MEMORY_WAIT_MS
      for (let i = 0; i < STAGE_MEMORY_WAIT_MS / STAGE_MEMORY_POLL_MS; i++) {
        await this.clock.sleep(STAGE_MEMORY_POLL_MS)
        const got = budget.tryReserve(bytes, { waited: true })
        if (got != null) return got
        if (this.clock.now() >= until) break
      }
    } finally { done() }
    this.log('warn', `${budget.describe(bytes, what)}; going ahead after ${STAGE_MEMORY_WAIT_MS / 1000} s`)
    return undefined
  }

  /**
   * Brings a finished tile's result here for the stitch: from a peer that has it, or, when no live peer
   * does (the worker and every peer it was copied to died), made again here from the input. Without the
   * second way the job would wait forever for a copy that no longer exists.
   */
  private async tileHere (jobId: string, meta: JobMeta, tile: Tile): Promise<void> {
    try {
      await this.ensureLocal(jobId, meta, tileName(tile.index))
      return
    } catch (err) {
      if (!(err instanceof MissingFileError)) throw err
      const lost = this.plan == null ? undefined : lostTileRequest(this.plan, jobId, tile.index)
      if (lost == null) throw err
      this.log('warn', `tile ${tile.index} of job ${jobId} is on no live peer (${err.message}): made again here`, { jobId })
      const { request } = lost
      const data = request.source != null ? await this.worker.cut(request) : sliceTile(await this.input(jobId, meta), tile).data
      const result = await this.worker.run(request, data)
      if (!('image' in result)) throw new Error(`tile ${tile.index} of job ${jobId} made again gave statistics, not pixels`)
      await this.files.writeTile(jobId, tile.index, result.image)
    }
  }

  private log (level: 'info' | 'warn', msg: string, fields?: Record<string, unknown>): void {
    this.emit('log', { level, msg, fields })
  }
}
