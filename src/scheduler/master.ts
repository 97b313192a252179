// The master's runtime: the thin shell around the queue state machine. It feeds the queue the swarm's
// membership, submits and results; it acts on the queue's effects: sends tiles, merges statistics,
// stitches finished jobs, and tells watchers. Active only while this peer is master.
import { EventEmitter } from 'node:events'
import { peerIdFromString } from '@libp2p/peer-id'
import {
  autoTileSize, coreInTile, createRaw, encodeImageToBuffer, decodeImage, mergeStats, placeTile, planTiles,
  sliceTile, type OutputFormat, type Pipeline, type RawImage, type Tile
} from '../ops/index.ts'
import type { SwarmPeer } from '../node/peer.ts'
import { sendTile, type SentTileResult } from '../transfer/tile-client.ts'
import { ErrorCodes, type JobEvent, type TileRequest } from '../transfer/messages.ts'
import { MalformedFrameError, RemoteError, StreamEndedError } from '../transfer/errors.ts'
import { getJob, leaseEpoch, leasesOf, phaseData, type QueueEffect, type QueueEvent, type TileAddress } from './queue-machine.ts'
import type { TileNotice } from '../transfer/tile-done.ts'
import { QueueStore } from './queue-store.ts'
import { JobFiles, statsName, tileName } from './job-files.ts'
import { ReplicationSource } from './replication.ts'
import { JobCopies, MissingFileError } from './job-copies.ts'
import type { WorkerRuntime } from './worker.ts'

export interface MasterOptions {
  dataDir: string
  /** Tile edge for jobs that name none; undefined: fitted to each image and the swarm (autoTileSize). */
  tileSize?: number
  leaseMs: number
  maxAttempts: number
  prefetch: number
  maxInputBytes: number
  maxPixels: number
  /** Standby copies of each job's input, results and output (besides the master's own). */
  standbys: number
  /**
   * The master works tiles itself only while fewer than this many other peers offer slots: beyond
   * that, handing out tiles, storing results and replicating the queue keep it busy, and a tile it
   * works itself holds up every other peer's next tile.
   */
  masterWorkLimit: number
}

/** What the master keeps with each job in the queue (the queue treats it as opaque JSON). */
export interface JobMeta {
  name: string
  width: number
  height: number
  channels: number
  outChannels: number
  tileSize: number
  halo: number
  pipeline: Pipeline
  format: OutputFormat
  /** Peers that hold a copy of the input, and get every tile result and the output as well. */
  standbys: string[]
}

export class WrongResultError extends Error {
  override name = 'WrongResultError'
}

export class NotActiveError extends Error {
  override name = 'NotActiveError'
}

/** How often work waiting for missing files is retried. */
const REPAIR_MS = 2000

/** How long a peer that could not be reached gets no new tiles. */
const UNREACHABLE_MS = 1000

/**
 * Whether a tile failed for want of a connection rather than through the work itself: those failures
 * do not count toward the tile's attempts (a partition must not fail jobs). A worker's own error
 * answer and a result of the wrong shape do count.
 */
function isTransient (err: unknown): boolean {
  if (err instanceof WrongResultError) return false
  if (err instanceof RemoteError) return err.code === ErrorCodes.staleEpoch
  // A stream that ended early is a lost connection; any other malformed reply is the worker's doing.
  if (err instanceof MalformedFrameError) return err instanceof StreamEndedError
  return true
}

/** A result of the tile's core size and the job's output channels, or WrongResultError. */
function checkShape (img: RawImage, tile: Tile, meta: JobMeta): void {
  if (img.width !== tile.core.width || img.height !== tile.core.height || img.channels !== meta.outChannels || img.data.byteLength !== img.width * img.height * img.channels) {
    throw new WrongResultError(`result is ${img.width}x${img.height}x${img.channels}, expected ${tile.core.width}x${tile.core.height}x${meta.outChannels}`)
  }
}

export const extensionOf = (f: OutputFormat): string => f === 'jpeg' ? 'jpg' : f === 'tiff' ? 'tif' : f

export interface MasterEvents {
  log: [{ level: 'info' | 'warn', msg: string, fields?: Record<string, unknown> }]
  job: [JobEvent]
  /** No longer master: watchers' streams end, so clients find the new master. */
  inactive: []
  /** A tile was handed to a peer (for logs, the dashboard and tests). */
  dispatched: [{ jobId: string, phase: number, index: number, peer: string, attempt: number }]
}

export class MasterRuntime extends EventEmitter<MasterEvents> {
  readonly opts: MasterOptions
  readonly files: JobFiles
  private readonly peer: SwarmPeer
  private readonly worker: WorkerRuntime
  private store?: QueueStore
  private epoch = 0
  private timer?: NodeJS.Timeout
  /** Serialises activate/deactivate: a step-down can arrive while activation is still opening the store. */
  private transition: Promise<void> = Promise.resolve()
  private readonly inflight = new Map<string, AbortController>()
  private readonly inputs = new Map<string, Promise<RawImage>>()
  private readonly plans = new Map<string, Tile[]>()
  private readonly finishing = new Set<string>()
  private readonly merging = new Set<string>()
  private lastRepair = 0
  /** Peers a tile could not be delivered to, and until when they get no work. */
  private readonly unreachable = new Map<string, number>()
  readonly replication: ReplicationSource
  private readonly copies: JobCopies

  constructor (peer: SwarmPeer, worker: WorkerRuntime, opts: MasterOptions) {
    super()
    this.peer = peer
    this.worker = worker
    this.opts = opts
    this.files = new JobFiles(opts.dataDir)
    this.replication = new ReplicationSource(() => this.store, () => this.epoch)
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
        config: { leaseMs: this.opts.leaseMs, prefetch: this.opts.prefetch, maxAttempts: this.opts.maxAttempts },
        now: Date.now(),
        onPersist: (ops, pos) => { this.replication.publish(ops, pos) }
      })
      this.store = store
      this.epoch = epoch
      await this.step({ type: 'elected', epoch, now: Date.now() })
      // Leases given by an earlier master survive (the queue keeps them): a live worker renews them and
      // sends its result here over the tile-done protocol, so only orphaned tiles are redone. A holder
      // that is not alive now gets its tiles re-queued at once rather than at the lease deadline.
      const alive = new Set([this.peer.peerId, ...this.peer.liveView().map(hb => hb.peerId)])
      const holders = new Set([...store.state.leases.values()].map(l => l.peer))
      for (const peer of holders) if (!alive.has(peer)) await this.step({ type: 'peerDead', peer, now: Date.now() })
      await this.refreshPeers()
      this.timer = setInterval(() => { void this.tick() }, Math.min(1000, Math.max(50, Math.floor(this.opts.leaseMs / 10))))
      this.log('info', `master at epoch ${epoch}: queue loaded`, { jobs: store.jobs().length })
      await this.repair()
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
    clearInterval(this.timer)
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
    if (this.store === store) this.apply(effects)
    return effects
  }

  private apply (effects: QueueEffect[]): void {
    const touched = new Set<string>()
    for (const e of effects) {
      switch (e.type) {
        case 'assign': void this.dispatch(e); break
        case 'revoke': this.inflight.get(e.leaseId)?.abort(); break
        case 'phaseComplete': void this.mergePhase(e.jobId, e.phase); break
        case 'jobDone': void this.finish(e.jobId); break
        case 'jobFailed':
          this.log('warn', `job ${e.jobId} failed: ${e.reason}`)
          this.emit('job', { type: 'failed', jobId: e.jobId, reason: e.reason })
          void this.forget(e.jobId)
          break
        case 'tileDone': case 'requeued': case 'jobQueued': touched.add(e.jobId); break
        default: break
      }
    }
    for (const jobId of touched) this.progress(jobId)
  }

  progress (jobId: string): void {
    const job = this.store == null ? undefined : getJob(this.store.state, jobId)
    if (job == null) return
    this.emit('job', {
      type: 'progress', jobId, state: job.state, done: job.done, total: job.total, phase: job.phase,
      phaseCount: job.phaseCount, peers: job.leasedTo, queuePosition: 0
    })
  }

  private async tick (): Promise<void> {
    try {
      await this.refreshPeers()
      if (Date.now() - this.lastRepair > REPAIR_MS) {
        this.lastRepair = Date.now()
        await this.repair()
      }
    } catch (err) {
      this.log('warn', `queue tick failed: ${(err as Error).message}`)
    }
  }

  /**
   * Work that waits on files this master lacks (a finished job's output or tiles, a phase's
   * statistics) is retried until the peers holding them are back: a master and its standby may both
   * have been down when this one took over.
   */
  private async repair (): Promise<void> {
    for (const job of this.store?.jobs() ?? []) {
      if (job.state === 'done' && !this.finishing.has(job.id)) {
        if (!await this.hasOutput(job.id)) await this.finish(job.id)
      } else if (job.awaitingMerge && !this.merging.has(job.id)) {
        await this.mergePhase(job.id, job.phase)
      }
    }
  }

  /** Each live peer's capacity (free + busy slots), this peer included. */
  capacity (now = Date.now()): Array<{ peer: string, freeSlots: number, alive: true }> {
    const view = this.peer.liveView().map(hb => {
      const blocked = (this.unreachable.get(hb.peerId) ?? 0) > now
      return { peer: hb.peerId, freeSlots: blocked ? 0 : hb.load.freeSlots + hb.load.busyTiles, alive: true as const }
    })
    const workers = view.filter(v => v.freeSlots > 0).length
    view.push({ peer: this.peer.peerId, freeSlots: workers < this.opts.masterWorkLimit ? this.worker.opts.slots : 0, alive: true })
    return view
  }

  /** The tile edge for a new job: the one configured, else one fitted to the image and the swarm's slots. */
  tileSizeFor (width: number, height: number): number {
    if (this.opts.tileSize != null) return this.opts.tileSize
    return autoTileSize(width, height, this.capacity().reduce((n, v) => n + v.freeSlots, 0))
  }

  async refreshPeers (): Promise<void> {
    await this.step({ type: 'peers', view: this.capacity(), now: Date.now() })
    await this.step({ type: 'tick', now: Date.now() })
  }

  /** The other live peers. */
  livePeers (): string[] {
    return this.copies.live()
  }

  async hasOutput (jobId: string): Promise<boolean> {
    return await this.files.has(jobId, `output.${extensionOf(this.meta(jobId).format)}`)
  }

  async peerDead (peer: string): Promise<void> {
    await this.step({ type: 'peerDead', peer, now: Date.now() })
  }

  meta (jobId: string): JobMeta {
    const job = this.store == null ? undefined : getJob(this.store.state, jobId)
    if (job == null) throw new Error(`unknown job ${jobId}`)
    return job.meta as JobMeta
  }

  plan (jobId: string, meta: JobMeta): Tile[] {
    let tiles = this.plans.get(jobId)
    if (tiles == null) this.plans.set(jobId, tiles = planTiles(meta.width, meta.height, meta.tileSize, meta.halo))
    return tiles
  }

  /** The decoded input: one decode per job, kept while its tiles are being handed out. */
  input (jobId: string, meta: JobMeta): Promise<RawImage> {
    let p = this.inputs.get(jobId)
    if (p == null) {
      p = this.ensureLocal(jobId, meta, 'input').then(async () => await decodeImage(this.files.inputPath(jobId), { maxPixels: this.opts.maxPixels, name: meta.name }))
      this.inputs.set(jobId, p)
      p.catch(() => { this.inputs.delete(jobId) })
    }
    return p
  }

  remember (jobId: string, raw: RawImage): void {
    this.inputs.set(jobId, Promise.resolve(raw))
  }

  private async dispatch (a: Extract<QueueEffect, { type: 'assign' }>): Promise<void> {
    const ac = new AbortController()
    this.inflight.set(a.leaseId, ac)
    this.emit('dispatched', { jobId: a.jobId, phase: a.phase, index: a.index, peer: a.peer, attempt: a.attempt })
    const where = { jobId: a.jobId, phase: a.phase, index: a.index, leaseId: a.leaseId, peer: a.peer }
    try {
      const meta = this.meta(a.jobId)
      const tile = this.plan(a.jobId, meta)[a.index]
      const raw = await this.input(a.jobId, meta).catch(async (err: Error) => {
        // Nobody reachable has the input right now: wait before the tile goes back to the queue, so
        // this does not spin; the standby or the old master may come back.
        await new Promise(resolve => setTimeout(resolve, UNREACHABLE_MS))
        throw err
      })
      const slice = sliceTile(raw, tile)
      const stats: unknown[] = []
      for (let k = 1; k <= a.phase; k++) stats.push(phaseData(this.store!.state, a.jobId, k))
      const renewMs = Math.max(10, Math.floor(this.opts.leaseMs / 4))
      const req: TileRequest = {
        jobId: a.jobId, phase: a.phase, index: a.index, leaseId: a.leaseId, epoch: a.epoch, pipeline: meta.pipeline,
        width: slice.width, height: slice.height, channels: slice.channels, core: coreInTile(tile), stats, renewMs
      }
      const renew = (): void => { void this.step({ type: 'renew', ...where, now: Date.now(), epoch: a.epoch }).catch(() => {}) }
      const commit = async (result: SentTileResult): Promise<void> => {
        if (ac.signal.aborted) return
        await this.commit(a, meta, tile, result)
        await this.step({ type: 'done', ...where, now: Date.now(), epoch: a.epoch })
      }
      if (a.peer === this.peer.peerId) {
        const t = setInterval(renew, renewMs)
        let result: SentTileResult
        try { result = { ...await this.worker.run(req, slice.data), kept: false } } finally { clearInterval(t) }
        await commit(result)
      } else {
        await sendTile(this.peer.libp2p, peerIdFromString(a.peer), req, slice.data, { signal: ac.signal, onWorking: renew, readTimeoutMs: Math.max(3 * renewMs, 5000), commit })
      }
    } catch (err) {
      if (ac.signal.aborted || this.store == null) return
      const reason = `${a.peer.slice(-8)}: ${(err as Error).message}`
      const transient = isTransient(err)
      this.log('warn', `tile ${a.jobId}/${a.phase}/${a.index} ${transient ? 'not delivered to' : 'failed on'} ${a.peer.slice(-8)}: ${(err as Error).message}`)
      if (transient && !(err instanceof MissingFileError)) {
        // Unreachable for now (a partition, a cable): give it no work until it has had time to
        // reconnect, instead of handing it tile after tile that cannot arrive.
        this.unreachable.set(a.peer, Date.now() + UNREACHABLE_MS)
      }
      await this.step({ type: 'failed', ...where, reason, transient, now: Date.now(), epoch: a.epoch }).catch(() => {})
      if (transient) await this.refreshPeers().catch(() => {})
    } finally {
      this.inflight.delete(a.leaseId)
    }
  }

  /**
   * Checks a worker's result and stores it; anything of the wrong shape is refused (the tile is
   * re-leased). The second copy is the worker's own when it kept one (a new master looks for missing
   * files on every live peer), else the master sends one to the standbys.
   */
  private async commit (a: TileAddress, meta: JobMeta, tile: Tile, result: SentTileResult): Promise<void> {
    const last = a.phase === this.phaseCountOf(a.jobId) - 1
    if (!last) {
      if (!('stats' in result)) throw new WrongResultError('expected statistics, got pixels')
      // Validate now (mergeStats re-checks every tile's statistics), so garbage is caught per tile.
      mergeStats(meta.pipeline, a.phase, [result.stats])
      await this.files.writeStats(a.jobId, a.phase, a.index, result.stats)
      if (!result.kept) await this.copies.toStandbys(a.jobId, meta.standbys, statsName(a.phase, a.index))
      return
    }
    if (!('image' in result)) throw new WrongResultError('expected pixels, got statistics')
    const img = result.image
    checkShape(img, tile, meta)
    await this.files.writeTile(a.jobId, a.index, img)
    if (!result.kept) await this.copies.toStandbys(a.jobId, meta.standbys, tileName(a.index))
  }

  /**
   * A worker's word about a tile it holds a lease for, sent here because the stream to the master that
   * leased it is gone: a renewal, or "done, the result is kept with me". A result is checked and stored
   * here (a second copy besides the worker's) before the queue counts it. Resolves whether it was taken.
   */
  async onTileNotice (n: TileNotice, from: string): Promise<boolean> {
    const store = this.store
    // Not master, or elected and still opening the queue: the worker asks again (an ignored notice
    // would make it give up, and the tile would be redone when the lease lapses).
    if (store == null) throw new NotActiveError('this peer is not acting as master (yet)')
    if (n.type === 'holding') {
      // Leases of earlier masters that this worker does not hold: their tile never reached it.
      const held = new Set(n.leaseIds)
      for (const l of leasesOf(store.state, from)) {
        if (held.has(l.leaseId) || leaseEpoch(l.leaseId) >= this.epoch) continue
        await this.step({ type: 'failed', jobId: l.jobId, phase: l.phase, index: l.index, leaseId: l.leaseId, peer: from, reason: `${from.slice(-8)}: never received (its master died while sending it)`, transient: true, now: Date.now() })
      }
      return true
    }
    const where = { jobId: n.jobId, phase: n.phase, index: n.index, leaseId: n.leaseId, peer: from }
    if (!leasesOf(store.state, from).some(l => l.leaseId === n.leaseId && l.jobId === n.jobId && l.phase === n.phase && l.index === n.index)) return false
    if (n.type === 'renew') {
      const effects = await this.step({ type: 'renew', ...where, now: Date.now(), epoch: n.epoch })
      return !effects.some(e => e.type === 'ignored')
    }
    const meta = this.meta(n.jobId)
    const tile = this.plan(n.jobId, meta)[n.index]
    if (tile == null) return false
    try {
      if (n.phase < this.phaseCountOf(n.jobId) - 1) {
        await this.commit(where, meta, tile, { stats: n.stats, kept: true })
      } else {
        // The pixels stay with the worker: fetch them (from it, or any peer that has them) and check them.
        await this.ensureLocal(n.jobId, meta, tileName(n.index))
        checkShape(await this.files.readTile(n.jobId, n.index), tile, meta)
      }
    } catch (err) {
      const transient = isTransient(err)
      this.log('warn', `tile ${n.jobId}/${n.phase}/${n.index} from ${from.slice(-8)} after a failover: ${(err as Error).message}`)
      await this.step({ type: 'failed', ...where, reason: `${from.slice(-8)}: ${(err as Error).message}`, transient, now: Date.now(), epoch: n.epoch }).catch(() => {})
      return false
    }
    const effects = await this.step({ type: 'done', ...where, now: Date.now(), epoch: n.epoch })
    return !effects.some(e => e.type === 'ignored')
  }

  /** Peers that should hold a copy of a new job, which took its input. */
  async replicateInput (jobId: string, want: number): Promise<string[]> {
    return await this.copies.placeInput(jobId, want)
  }

  async ensureLocal (jobId: string, meta: JobMeta, name: string): Promise<void> {
    await this.copies.ensureLocal(jobId, meta.standbys, name)
  }

  private phaseCountOf (jobId: string): number {
    return getJob(this.store!.state, jobId)?.phaseCount ?? 1
  }

  private async mergePhase (jobId: string, phase: number): Promise<void> {
    if (this.merging.has(jobId)) return
    this.merging.add(jobId)
    try {
      const meta = this.meta(jobId)
      const count = this.plan(jobId, meta).length
      for (let i = 0; i < count; i++) await this.ensureLocal(jobId, meta, statsName(phase, i))
      const list = await this.files.readStats(jobId, phase, count)
      const merged = mergeStats(meta.pipeline, phase, list)
      await this.step({ type: 'phaseReady', jobId, phase: phase + 1, data: merged, now: Date.now() })
    } catch (err) {
      this.log('warn', `cannot merge statistics of ${jobId} phase ${phase} yet: ${(err as Error).message}`)
    } finally {
      this.merging.delete(jobId)
    }
  }

  /** Stitches the tiles of a finished job into its output, once. */
  private async finish (jobId: string): Promise<void> {
    if (this.finishing.has(jobId)) return
    this.finishing.add(jobId)
    try {
      const meta = this.meta(jobId)
      const outName = `output.${extensionOf(meta.format)}`
      // Finished by an earlier master: its output may be on a peer already.
      if (!await this.files.has(jobId, outName) && await this.ensureLocal(jobId, meta, outName).then(() => true, () => false)) {
        const data = await this.files.readBlob(jobId, outName)
        this.emit('job', { type: 'result', jobId, format: meta.format, bytes: data.byteLength, width: meta.width, height: meta.height })
        return
      }
      this.inputs.delete(jobId) // the input's tiles are all out: free it before the output is built
      const out = createRaw(meta.width, meta.height, meta.outChannels as 1 | 2 | 3 | 4)
      for (const tile of this.plan(jobId, meta)) {
        await this.ensureLocal(jobId, meta, tileName(tile.index))
        placeTile(out, tile, await this.files.readTile(jobId, tile.index))
      }
      const data = await encodeImageToBuffer(out, meta.format)
      await this.files.writeOutput(jobId, extensionOf(meta.format), data)
      // The output on a second peer too, so `swarm result` still works if this one goes.
      await this.copies.toStandbys(jobId, meta.standbys, `output.${extensionOf(meta.format)}`)
      await this.files.dropTiles(jobId)
      // Only now may the other peers drop their copies of the input and tiles.
      this.copies.dropEverywhere(jobId)
      this.plans.delete(jobId)
      this.log('info', `job ${jobId} (${meta.name}) done`, { jobId })
      this.emit('job', { type: 'result', jobId, format: meta.format, bytes: data.byteLength, width: meta.width, height: meta.height })
    } catch (err) {
      this.log('warn', `cannot stitch job ${jobId} yet: ${(err as Error).message}`)
    } finally {
      this.finishing.delete(jobId)
    }
  }

  private async forget (jobId: string): Promise<void> {
    this.inputs.delete(jobId)
    this.plans.delete(jobId)
    await this.files.dropTiles(jobId).catch(() => {})
  }

  private log (level: 'info' | 'warn', msg: string, fields?: Record<string, unknown>): void {
    this.emit('log', { level, msg, fields })
  }
}
