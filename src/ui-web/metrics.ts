// Prometheus metrics of one peer, for GET /metrics. SwarmMetrics hears the master's and the peer's events
// (start() subscribes, stop() unsubscribes) and reads the queue, the swarm's snapshot and the worker when
// scraped (gauges' collect()). Everything goes into ONE prom-client registry: the one given, or its own.
//
//   const registry = new Registry()
//   const node = new SwarmNode({ ...opts, metricsRegistry: registry })   // libp2p's metrics, one node a process
//   const metrics = new SwarmMetrics({ master: node.master, peer: node.peer, worker: node.worker }, { registry })
//   metrics.start()
//   GET /metrics -> 200, Content-Type: metrics.contentType, body: await metrics.text()
//
// Names, after what BullMQ's and Ray's exporters show (a gauge of jobs by state, counters of tasks), with
// units in the name as Prometheus asks (_seconds, _total):
//
//   swarm_jobs{state}                        gauge      jobs the master's queue keeps, by state (queued, running, done,
//                                                       failed, cancelled), as BullMQ exporters' job counts by state;
//                                                       only the master has samples (a follower has no queue)
//   swarm_tiles_leased                       gauge      tiles out on peers now (leases, speculative copies included;
//                                                       0 on a follower)
//   swarm_job_duration_seconds{state}        histogram  submittedAt -> finishedAt of the queue's record (done: when
//                                                       its last tile was done, before the stitch), by final state
//   swarm_job_wait_seconds                   histogram  submitted -> its first tile handed out
//   swarm_tiles_dispatched_total{op,peer}    counter    tiles handed to `peer` (every attempt, copies included)
//   swarm_tiles_done_total{op,peer}          counter    tiles the queue took the result of, once a tile (a checked
//                                                       tile counts once, for the peer whose result completed it)
//   swarm_tiles_reassigned_total{op,peer}    counter    a tile handed out again (attempt > 1) after an attempt ended
//                                                       without a result; `peer` is the one it went to
//   swarm_tiles_speculative_total{op,peer}   counter    copies of a straggler handed to another peer
//   swarm_tile_duration_seconds{op}          histogram  handed out -> done, as the master saw it
//   swarm_peers{role}                        gauge      live peers this peer knows, by role (joining, follower,
//                                                       master, leaving), from its snapshot
//   swarm_peers_unreachable                  gauge      peers remembered but not heard within the dead time
//   swarm_peers_joined_total                 counter    peers that joined, as this peer heard them
//   swarm_peers_left_total{reason}           counter    peers that left (timeout: no heartbeat; leaving: said goodbye)
//   swarm_master_epoch                       gauge      the epoch of the master this peer follows (or is); 0: none
//   swarm_master_failovers_total             counter    the master was lost (null) or replaced by another, as seen
//                                                       here: every peer counts the same failover, so take max()
//   swarm_slots{scope,state}                 gauge      tile slots used (tiles running) and free; scope="swarm": all
//                                                       live peers' heartbeats, scope="self": this peer's worker
//   process_*, nodejs_*                                 prom-client's default metrics (collectDefaultMetrics, once a
//                                                       registry)
//   libp2p_*                                            libp2p's own, when the node was made with metricsRegistry
//                                                       (src/node/libp2p.ts). Bytes moved are libp2p's:
//                                                       libp2p_data_transfer_bytes_total{protocol="global sent"|
//                                                       "global received"} on the wire, and per protocol, e.g.
//                                                       protocol="/swarm/blob/1.0.0 sent" (job files) or
//                                                       "/swarm/tile/1.0.0 received" (tiles and their results)
//
// Labels stay bounded: `peer` is a PeerId (at most MAX_PEER_LABELS, then "other"), `op` names the ops a
// phase's tiles run (see opLabel; at most MAX_OP_LABELS, then "other"), never a job id or a tile.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import { globalOps, type Pipeline } from '../ops/pipeline.ts'
import type { MasterEvents } from '../scheduler/master.ts'
import type { PeerEvents } from '../node/peer-options.ts'
import type { StatusSnapshot } from '../transfer/status.ts'

/**
 * One overload of (event, listener) per event of E: what node's EventEmitter<E> is assignable to (its generic
 * on<K> is matched overload by overload; against a generic on<K> of ours TypeScript gives up).
 */
type Overloads<E extends Record<string, unknown[]>> = {
  [K in keyof E]: (event: K, listener: (...args: E[K]) => void) => unknown
}[keyof E] extends infer U ? (U extends unknown ? (x: U) => void : never) extends (x: infer I) => void ? I : never : never

/** An event emitter, as far as SwarmMetrics uses one (node's EventEmitter<E> is one). */
export interface Emits<E extends Record<string, unknown[]>> {
  on: Overloads<E>
  off: Overloads<E>
}

/** A job of the queue, as far as the metrics read it (the queue machine's JobRec is one). */
export interface MetricsJob {
  state: string
  submittedAt: number
  finishedAt: number | undefined
  /** The master's JobMeta: its `pipeline` names the ops. */
  meta: unknown
  /** Tiles done in earlier phases, and in the current one. */
  doneBefore: number
  tiles: { done: number } | undefined
}

/** The master runtime (MasterRuntime): its events, and its queue while it is master. */
export interface MetricsMaster extends Emits<Pick<MasterEvents, 'job' | 'dispatched' | 'tileDone' | 'inactive'>> {
  readonly active: boolean
  readonly currentEpoch: number
  readonly queue?: { readonly state: { readonly jobs: ReadonlyMap<string, MetricsJob>, readonly leases: ReadonlyMap<string, unknown> } } | undefined
}

/** The peer (SwarmPeer): the election's and membership's events, and its view of the swarm. */
export interface MetricsPeer extends Emits<Pick<PeerEvents, 'master' | 'peer:joined' | 'peer:left'>> {
  /** Throws before the peer has started: then the swarm's gauges have no samples. */
  snapshot: () => StatusSnapshot
}

/** This peer's worker (WorkerRuntime): tiles running and its slots. */
export interface MetricsWorker {
  readonly busy: number
  readonly opts: { readonly slots: number }
}

export interface SwarmMetricsComponents {
  master: MetricsMaster
  peer: MetricsPeer
  /** Absent: this peer's slots are read from its own row of the snapshot. */
  worker?: MetricsWorker
}

export interface SwarmMetricsInit {
  /** Where the metrics go (libp2p's too, if the node was given it); default: a registry of its own. */
  registry?: Registry
  /** prom-client's process and Node metrics, collected once per registry (default true). */
  defaultMetrics?: boolean
  /** The time, in the master clock's ms (default Date.now): queue records' submittedAt are on it. */
  now?: () => number
}

/** Distinct `op` values kept; later pipelines count as "other". */
export const MAX_OP_LABELS = 64
/** Distinct `peer` values kept; beyond a swarm's size, so later ones count as "other". */
export const MAX_PEER_LABELS = 512
/** Jobs whose first dispatch or tiles in flight are remembered; past it the memory starts again. */
const MAX_TRACKED_JOBS = 10_000

export const JOB_STATES = ['queued', 'running', 'done', 'failed', 'cancelled'] as const
export const PEER_ROLES = ['joining', 'follower', 'master', 'leaving'] as const

/** Registries given the default metrics already: prom-client refuses them twice in one registry. */
const withDefaults = new WeakSet<Registry>()

/**
 * The `op` label of a job's phase: the names of the ops its tiles run, in order, joined by "+" (parameters
 * left out). A statistics phase (one before a global op's results are merged) ends with the op it measures,
 * marked ".stats": `grayscale otsu` has phases "grayscale+otsu.stats" and then "grayscale+otsu". "unknown"
 * when the job's pipeline cannot be read.
 */
export function opLabel (meta: unknown, phase: number): string {
  const ops = (meta as { pipeline?: { ops?: unknown } } | null | undefined)?.pipeline?.ops
  if (!Array.isArray(ops) || ops.length === 0 || !ops.every(o => typeof (o as { name?: unknown })?.name === 'string')) return 'unknown'
  const pipeline = { ops } as Pipeline
  let globals: number[]
  try {
    globals = globalOps(pipeline)
  } catch {
    return 'unknown' // an op this version does not know
  }
  const names = pipeline.ops.map(o => o.name)
  if (!Number.isInteger(phase) || phase < 0 || phase > globals.length) return 'unknown'
  if (phase === globals.length) return names.join('+')
  const measured = globals[phase]
  return [...names.slice(0, measured), `${names[measured]}.stats`].join('+')
}

export class SwarmMetrics {
  readonly registry: Registry
  readonly #master: MetricsMaster
  readonly #peer: MetricsPeer
  readonly #worker: MetricsWorker | undefined
  readonly #now: () => number
  #started = false

  readonly #tilesDispatched: Counter<'op' | 'peer'>
  readonly #tilesDone: Counter<'op' | 'peer'>
  readonly #tilesReassigned: Counter<'op' | 'peer'>
  readonly #tilesSpeculative: Counter<'op' | 'peer'>
  readonly #tileDuration: Histogram<'op'>
  readonly #jobDuration: Histogram<'state'>
  readonly #jobWait: Histogram
  readonly #failovers: Counter
  readonly #joined: Counter
  readonly #left: Counter<'reason'>

  /** When each tile in flight was handed to each peer: job -> "phase/index" -> peer -> time. */
  readonly #sentAt = new Map<string, Map<string, Map<string, number>>>()
  /** Jobs whose first dispatch was seen (its wait observed, or too late to be). */
  readonly #dispatchedJobs = new Set<string>()
  readonly #opLabels = new Set<string>()
  readonly #peerLabels = new Set<string>()

  constructor (components: SwarmMetricsComponents, init: SwarmMetricsInit = {}) {
    this.#master = components.master
    this.#peer = components.peer
    this.#worker = components.worker
    this.#now = init.now ?? Date.now
    const registry = this.registry = init.registry ?? new Registry()
    const registers = [registry]
    // Read at scrape time. A collect that threw would fail the whole scrape, so each one swallows errors.
    const self = this // collect() is called with the metric as `this`

    new Gauge({
      name: 'swarm_jobs',
      help: 'Jobs the master\'s queue keeps, by state (only the master has samples)',
      labelNames: ['state'],
      registers,
      collect () {
        this.reset()
        const state = self.#queueState()
        if (state == null) return
        const counts = new Map<string, number>(JOB_STATES.map(s => [s, 0]))
        for (const job of state.jobs.values()) counts.set(job.state, (counts.get(job.state) ?? 0) + 1)
        for (const [s, n] of counts) this.set({ state: s }, n)
      }
    })
    new Gauge({
      name: 'swarm_tiles_leased',
      help: 'Tiles out on peers now, speculative copies included (0 on a follower)',
      registers,
      collect () {
        this.reset()
        const state = self.#queueState()
        if (state != null) this.set(state.leases.size)
      }
    })
    new Gauge({
      name: 'swarm_peers',
      help: 'Live peers this peer knows, by role',
      labelNames: ['role'],
      registers,
      collect () {
        this.reset()
        const snap = self.#snapshot()
        if (snap == null) return
        const counts = new Map<string, number>(PEER_ROLES.map(r => [r, 0]))
        for (const p of snap.peers) if (p.alive) counts.set(p.role, (counts.get(p.role) ?? 0) + 1)
        for (const [role, n] of counts) this.set({ role }, n)
      }
    })
    new Gauge({
      name: 'swarm_peers_unreachable',
      help: 'Peers this peer remembers but has not heard from within the dead time',
      registers,
      collect () {
        this.reset()
        const snap = self.#snapshot()
        if (snap != null) this.set(snap.peers.filter(p => !p.alive).length)
      }
    })
    new Gauge({
      name: 'swarm_master_epoch',
      help: 'The epoch of the master this peer follows, or is',
      registers,
      collect () {
        this.reset()
        if (self.#master.active) { this.set(self.#master.currentEpoch); return }
        const snap = self.#snapshot()
        if (snap != null) this.set(snap.epoch)
      }
    })
    new Gauge({
      name: 'swarm_slots',
      help: 'Tile slots used (tiles running) and free: scope="swarm" over the live peers\' heartbeats, scope="self" this peer',
      labelNames: ['scope', 'state'],
      registers,
      collect () {
        this.reset()
        const snap = self.#snapshot()
        if (snap != null) {
          let used = 0
          let free = 0
          for (const p of snap.peers) {
            if (!p.alive) continue
            used += p.load.busyTiles
            free += p.load.freeSlots
          }
          this.set({ scope: 'swarm', state: 'used' }, used)
          this.set({ scope: 'swarm', state: 'free' }, free)
        }
        const worker = self.#worker
        const own = worker != null
          ? { used: worker.busy, free: Math.max(0, worker.opts.slots - worker.busy) }
          : (r => r == null ? undefined : { used: r.load.busyTiles, free: r.load.freeSlots })(snap?.peers.find(p => p.self))
        if (own != null) {
          this.set({ scope: 'self', state: 'used' }, own.used)
          this.set({ scope: 'self', state: 'free' }, own.free)
        }
      }
    })

    const tileCounter = (name: string, help: string): Counter<'op' | 'peer'> => new Counter({ name, help, labelNames: ['op', 'peer'], registers })
    this.#tilesDispatched = tileCounter('swarm_tiles_dispatched_total', 'Tiles handed to a peer, every attempt and copy')
    this.#tilesDone = tileCounter('swarm_tiles_done_total', 'Tiles whose result the queue took, once a tile, by the peer whose result completed it')
    this.#tilesReassigned = tileCounter('swarm_tiles_reassigned_total', 'Tiles handed out again (attempt > 1) after an attempt ended without a result, by the peer they went to')
    this.#tilesSpeculative = tileCounter('swarm_tiles_speculative_total', 'Copies of a straggling tile handed to another peer')
    this.#tileDuration = new Histogram({
      name: 'swarm_tile_duration_seconds',
      help: 'A tile from being handed out to done, as the master saw it',
      labelNames: ['op'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
      registers
    })
    this.#jobDuration = new Histogram({
      name: 'swarm_job_duration_seconds',
      help: 'A job from submitted to finished (the queue\'s record), by final state',
      labelNames: ['state'],
      buckets: [0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200],
      registers
    })
    this.#jobWait = new Histogram({
      name: 'swarm_job_wait_seconds',
      help: 'A job from submitted to its first tile handed out',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600],
      registers
    })
    this.#failovers = new Counter({ name: 'swarm_master_failovers_total', help: 'Times the master was lost or replaced by another, as this peer saw it', registers })
    this.#joined = new Counter({ name: 'swarm_peers_joined_total', help: 'Peers that joined, as this peer heard them', registers })
    this.#left = new Counter({ name: 'swarm_peers_left_total', help: 'Peers that left: timeout (no heartbeat) or leaving (said goodbye)', labelNames: ['reason'], registers })

    if (init.defaultMetrics !== false && !withDefaults.has(registry) && registry.getSingleMetric('process_cpu_user_seconds_total') == null) {
      collectDefaultMetrics({ register: registry })
      withDefaults.add(registry)
    }
  }

  /** The exposition's Content-Type, for GET /metrics. */
  get contentType (): string { return this.registry.contentType }

  /** Every metric of the registry (libp2p's too, when it shares it), in Prometheus' text format. */
  async text (): Promise<string> {
    return await this.registry.metrics()
  }

  start (): void {
    if (this.#started) return
    this.#started = true
    this.#master.on('dispatched', this.#onDispatched)
    this.#master.on('tileDone', this.#onTileDone)
    this.#master.on('job', this.#onJob)
    this.#master.on('inactive', this.#onInactive)
    this.#peer.on('master', this.#onMaster)
    this.#peer.on('peer:joined', this.#onJoined)
    this.#peer.on('peer:left', this.#onLeft)
  }

  stop (): void {
    if (!this.#started) return
    this.#started = false
    this.#master.off('dispatched', this.#onDispatched)
    this.#master.off('tileDone', this.#onTileDone)
    this.#master.off('job', this.#onJob)
    this.#master.off('inactive', this.#onInactive)
    this.#peer.off('master', this.#onMaster)
    this.#peer.off('peer:joined', this.#onJoined)
    this.#peer.off('peer:left', this.#onLeft)
    this.#forgetAll()
  }

  // The listeners run inside the master's emit(): one that threw would break the master's step, so none does.

  readonly #onDispatched = guard((d: MasterEvents['dispatched'][0]): void => {
    const labels = { op: this.#op(d.jobId, d.phase), peer: this.#peerLabel(d.peer) }
    this.#tilesDispatched.inc(labels)
    if (d.speculative) this.#tilesSpeculative.inc(labels)
    else if (d.attempt > 1) this.#tilesReassigned.inc(labels)
    const now = this.#now()
    let tiles = this.#sentAt.get(d.jobId)
    if (tiles == null) {
      if (this.#sentAt.size >= MAX_TRACKED_JOBS) this.#sentAt.clear()
      this.#sentAt.set(d.jobId, tiles = new Map())
    }
    const key = `${d.phase}/${d.index}`
    let peers = tiles.get(key)
    if (peers == null) tiles.set(key, peers = new Map())
    peers.set(d.peer, now)
    if (this.#dispatchedJobs.has(d.jobId)) return
    if (this.#dispatchedJobs.size >= MAX_TRACKED_JOBS) this.#dispatchedJobs.clear()
    this.#dispatchedJobs.add(d.jobId)
    // Its first tile only if none is done yet: a master elected while the job ran sees its first dispatch late.
    const job = this.#job(d.jobId)
    if (job != null && d.phase === 0 && job.doneBefore === 0 && (job.tiles?.done ?? 0) === 0) {
      this.#jobWait.observe(seconds(now - job.submittedAt))
    }
  })

  readonly #onTileDone = guard((t: MasterEvents['tileDone'][0]): void => {
    const op = this.#op(t.jobId, t.phase)
    this.#tilesDone.inc({ op, peer: this.#peerLabel(t.peer) })
    const tiles = this.#sentAt.get(t.jobId)
    const key = `${t.phase}/${t.index}`
    const at = tiles?.get(key)?.get(t.peer)
    tiles?.delete(key) // done: any other copy of it is revoked
    if (at != null) this.#tileDuration.observe({ op }, seconds(this.#now() - at))
  })

  readonly #onJob = guard((e: MasterEvents['job'][0]): void => {
    if (e.type !== 'result' && e.type !== 'failed') return
    const job = this.#job(e.jobId)
    if (job != null && (job.state === 'done' || job.state === 'failed' || job.state === 'cancelled')) {
      this.#jobDuration.observe({ state: job.state }, seconds((job.finishedAt ?? this.#now()) - job.submittedAt))
    }
    this.#sentAt.delete(e.jobId)
    this.#dispatchedJobs.delete(e.jobId)
  })

  readonly #onInactive = guard((): void => { this.#forgetAll() })

  readonly #onMaster = guard((e: PeerEvents['master'][0]): void => {
    if (e.previous != null && e.master !== e.previous) this.#failovers.inc()
  })

  readonly #onJoined = guard((): void => { this.#joined.inc() })

  readonly #onLeft = guard((e: PeerEvents['peer:left'][0]): void => {
    this.#left.inc({ reason: e.reason === 'leaving' ? 'leaving' : 'timeout' })
  })

  #forgetAll (): void {
    this.#sentAt.clear()
    this.#dispatchedJobs.clear()
  }

  #queueState (): NonNullable<MetricsMaster['queue']>['state'] | undefined {
    return this.#master.active ? this.#master.queue?.state : undefined
  }

  #job (jobId: string): MetricsJob | undefined {
    return this.#master.queue?.state.jobs.get(jobId)
  }

  #snapshot (): StatusSnapshot | undefined {
    try {
      return this.#peer.snapshot()
    } catch {
      return undefined // not started yet, or stopped
    }
  }

  #op (jobId: string, phase: number): string {
    return bounded(this.#opLabels, opLabel(this.#job(jobId)?.meta, phase), MAX_OP_LABELS)
  }

  #peerLabel (peer: string): string {
    return bounded(this.#peerLabels, peer, MAX_PEER_LABELS)
  }
}

/** `value`, if it is one of the first `max` distinct values seen; else "other". */
function bounded (seen: Set<string>, value: string, max: number): string {
  if (seen.has(value)) return value
  if (seen.size >= max) return 'other'
  seen.add(value)
  return value
}

const seconds = (ms: number): number => Math.max(0, ms) / 1000

/** The listener, made unable to throw into its emitter. */
function guard<A extends unknown[]> (fn: (...args: A) => void): (...args: A) => void {
  return (...args) => {
    try { fn(...args) } catch { /* a metric missed, never the master's step */ }
  }
}
