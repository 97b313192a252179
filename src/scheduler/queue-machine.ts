// The master's job queue as a deterministic state machine (in the style of etcd-io/raft): the shell
// feeds events with the time in them, and gets back effects to carry out. No I/O, no clock, no timers,
// no randomness in here: the same events always give the same state and effects.
//
//   let state = createQueueState({ leaseMs: 10_000 })
//   const r = step(state, { type: 'submit', job: { id: 'a', tileCount: 4 }, now })
//   state = r.state
//   for (const e of r.effects) ...   // 'persist' first: write it as one batch, then act on the rest
//
// Ownership: step() updates the state it is given IN PLACE and returns it (jobs have thousands of
// tiles; copying them on every event would make each step O(tiles)). Keep only the returned state and
// do not share it; cloneQueueState() gives an independent copy when one is needed. step() throws only
// for a bad command (see errors.ts), and then before it has changed anything.
//
// Semantics (BullMQ-like leases):
// - Fair share across jobs: each slot goes to the job with a tile for that peer and the fewest leases out,
//   the oldest on a tie (so one job alone gets every slot, and two running jobs split the slots instead
//   of the later one waiting for the whole of the first). A job has no tile for a peer when none is
//   queued, its phase waits for its merged statistics, or its remaining tiles already failed on that
//   peer while other peers exist. Inside a job, re-queued tiles go before fresh ones.
// - Dispatch: a peer may hold up to freeSlots + prefetch leases (pipelining: its next tile is already
//   there when one finishes). Each tile goes to the peer with the lowest held/freeSlots ratio, so idle
//   peers come first, real slots fill before prefetch ones, and work spreads in proportion to slots.
//   Ties: fewer held leases, then the smaller peer id. A peer with freeSlots 0 gets nothing.
// - Leases lapse at their deadline (tick: now >= deadline) unless renewed; the tile is re-queued, the
//   attempt recorded, and a revoke is sent to the peer. A dead peer's tiles are re-queued at once.
// - A tile fails its job when its counted failures (explicit `failed`) come from maxAttempts different
//   peers, or reach maxAttempts in total when no live peer that has not failed it is left (small
//   swarms). Peer deaths are recorded but not counted: a job must survive churn. A lease that lapsed
//   while its peer was alive (a stall) is not counted either: a slow or overloaded peer whose renewals
//   came late makes the swarm slower, never fails the job; only maxLapses such lapses of one tile
//   (something no peer can finish in time) fail it. A tile is not re-offered to a peer it failed on while another
//   live peer with slots that has not failed it exists.
// - done/failed/renew are matched on leaseId: an unknown or old lease is ignored (`ignored` effect),
//   so a late result of a re-leased tile never counts: a tile is done once, and `tileDone` is emitted
//   once per tile (the shell commits/stitches that tile's result on `tileDone`, and only then).
// - Speculation (end of a job): when a job has no queued tile left in its current phase and a peer still
//   has free real slots after dispatch, that peer gets a copy of the job's in-flight tile that was leased
//   first (a second lease, `assign` with speculative: true), at most one copy per tile and maxSpeculative
//   copies at once. The first `done` wins (results are deterministic); the other lease is revoked
//   ('speculated'). While one copy is leased, the other's failure, lapse or death re-queues nothing
//   (`leaseEnded`), and the tile's attempts are judged only when its last lease ends. A copy gives its
//   slot to queued work (revoked, 'preempted'): dispatch does not count it as held.
// - Verification (as BOINC's redundant computing): a job names tiles to check (JobSpec.verify, in every
//   phase). Such a tile is done only once two different peers returned results with the same hash (`done`
//   carries it): the first result re-queues the tile for another peer (`verifying`), or waits for its
//   speculative copy. Results that disagree send it to a third peer (`verifying`, disputed); the peers
//   outvoted are distrusted: blocked for good (persisted), their leases revoked, and the tiles they did in
//   running jobs' current phases redone (`requeued`, 'distrusted'). The shell may distrust a peer itself
//   (`distrust`) on proof of its own. A tile no other peer can check is accepted on one result
//   (`unverified`); two results that disagree with no third peer to decide fail the job.
import {
  type Attempt, type JobFailure, type JobRecord, type JobState, type LeaseRecord, type MetaRecord, type PersistOp,
  type TileRecord, type UserRecord, JobRecordSchema, MAX_PHASES, MAX_SEQ, MAX_TILES, META_KEY, MetaRecordSchema,
  RECORD_VERSION, TileRecordSchema, UserRecordSchema, USER_NAME_RE, jobKey, parseKey, parseRecord, tileKey, userKey
} from './records.ts'
import {
  CorruptRecordError, DuplicateJobError, InvalidConfigError, InvalidJobError, InvariantError,
  StaleEpochError, UnknownJobError
} from './errors.ts'

export type { Attempt, JobFailure, JobState, PersistOp, UserRecord } from './records.ts'

// ---------------------------------------------------------------------------------------------------
// Config

export interface QueueConfig {
  /** lease length; a lease lapses this long after it was given or last renewed */
  leaseMs: number
  /** leases a peer may hold beyond its free slots, so it never waits for its next tile */
  prefetch: number
  /** a tile that failed on this many different peers fails its job */
  maxAttempts: number
  /** a tile whose lease lapsed this many times on live peers fails its job (bounds the retries of a
   * tile no peer can finish within its lease; one slow peer's lapses cost only time) */
  maxLapses: number
  /** the longest a lease lives however often it is renewed: a peer that says "working" forever on a
   * tile loses it after this long (it lapses, uncounted, and goes to another peer) */
  maxLeaseMs: number
  /** give idle peers copies of a job's slowest in-flight tiles once nothing of it is queued */
  speculate: boolean
  /** speculative copies running at once, over all jobs */
  maxSpeculative: number
}

export const DEFAULT_QUEUE_CONFIG: Readonly<QueueConfig> = Object.freeze({
  leaseMs: 10_000,
  prefetch: 1,
  maxAttempts: 3,
  maxLapses: 12,
  // A tile is a few hundred pixels square (autoTileSize): seconds on a laptop, under a minute on a Pi
  // for the heaviest pipeline. Fifteen minutes is far beyond any honest tile and still ends a stall.
  maxLeaseMs: 15 * 60_000,
  speculate: true,
  // Each copy is another tile the master cuts, sends and maybe stores while it is also stitching the
  // job's end. Four covers every lease of one slow peer (a 4-core Pi: 4 slots, or 3 + prefetch), the
  // usual reason a job's end drags; more would mostly copy tiles that are about to finish anyway.
  maxSpeculative: 4
})

export function makeQueueConfig (partial: Partial<QueueConfig> = {}): QueueConfig {
  const c: QueueConfig = { ...DEFAULT_QUEUE_CONFIG }
  for (const k of ['leaseMs', 'maxLeaseMs', 'prefetch', 'maxAttempts', 'maxLapses', 'maxSpeculative'] as const) {
    const v = partial[k]
    if (v !== undefined) c[k] = v
  }
  if (partial.speculate !== undefined) c.speculate = partial.speculate
  if (!Number.isFinite(c.leaseMs) || c.leaseMs <= 0) throw new InvalidConfigError(`leaseMs must be a positive number, got ${c.leaseMs}`)
  if (!Number.isFinite(c.maxLeaseMs) || c.maxLeaseMs < c.leaseMs) throw new InvalidConfigError(`maxLeaseMs must be a number >= leaseMs (${c.leaseMs}), got ${c.maxLeaseMs}`)
  if (!Number.isInteger(c.prefetch) || c.prefetch < 0) throw new InvalidConfigError(`prefetch must be an integer >= 0, got ${c.prefetch}`)
  if (!Number.isInteger(c.maxAttempts) || c.maxAttempts < 1) throw new InvalidConfigError(`maxAttempts must be an integer >= 1, got ${c.maxAttempts}`)
  if (!Number.isInteger(c.maxLapses) || c.maxLapses < 1) throw new InvalidConfigError(`maxLapses must be an integer >= 1, got ${c.maxLapses}`)
  if (typeof c.speculate !== 'boolean') throw new InvalidConfigError(`speculate must be a boolean, got ${String(c.speculate)}`)
  if (!Number.isInteger(c.maxSpeculative) || c.maxSpeculative < 1) throw new InvalidConfigError(`maxSpeculative must be an integer >= 1, got ${c.maxSpeculative}`)
  return c
}

// ---------------------------------------------------------------------------------------------------
// Events and effects

export interface JobSpec {
  id: string
  tileCount: number
  /** pipelines with whole-image statistics run in several phases; default 1 */
  phaseCount?: number
  /** opaque JSON the shell wants kept with the job (pipeline, input blob id...); returned in JobView */
  meta?: unknown
  /** tile indices (the same in every phase) whose result two different peers must agree on */
  verify?: number[]
}

export interface PeerView {
  peer: string
  /** how many tiles the peer can run at once for this swarm: its capacity, NOT reduced by the leases
   * this master already gave it (the machine counts those itself) */
  freeSlots: number
  alive: boolean
}

export interface TileAddress {
  jobId: string
  phase: number
  index: number
}

export type QueueEvent =
  | { type: 'submit', job: JobSpec, now: number }
  /** the full live membership; alive:false = dead (its tiles are re-queued). A peer missing from the
   * view is NOT taken for dead (a fresh master's view is still filling): its leases run to their
   * deadline, and lapse uncounted. Feed peerDead / alive:false when the failure detector decides. */
  | { type: 'peers', view: PeerView[], now: number }
  | { type: 'tick', now: number }
  | (TileAddress & { type: 'renew', leaseId: string, now: number, peer?: string, epoch?: number })
  /** hash: of the result (pixels or statistics), for a tile the job checks; other tiles ignore it */
  | (TileAddress & { type: 'done', leaseId: string, peer: string, now: number, epoch?: number, hash?: string })
  /** transient: the tile never got a fair try (the peer was unreachable, the connection broke): the
   * attempt is recorded but not counted toward maxAttempts, as when a peer dies. */
  | (TileAddress & { type: 'failed', leaseId: string, peer: string, reason: string, now: number, epoch?: number, transient?: boolean })
  /** the merged statistics of phase - 1 are ready: queue the tiles of `phase`. `data` is kept with
   * the job (persisted) for the workers of that phase. */
  | { type: 'phaseReady', jobId: string, phase: number, data?: unknown, now: number }
  | { type: 'peerDead', peer: string, now: number }
  | { type: 'cancel', jobId: string, now: number }
  /** a finished job (done, failed or cancelled) leaves the queue for good: its record is deleted (prune) */
  | { type: 'forget', jobId: string, now: number }
  /** a done job's files were given up by retention or the disk cap: its record stays (history), dated */
  | { type: 'retire', jobId: string, now: number }
  /** this peer became master with `epoch` (also after a restart, before anything else): outstanding
   * leases get a fresh deadline, and phases that were waiting for their merge are announced again. */
  | { type: 'elected', epoch: number, now: number }
  /** the shell has proof that this peer lies: it gets no more tiles, and its work in running jobs is redone */
  | { type: 'distrust', peer: string, reason: string, now: number }
  /** an account made or changed (the shell checked who may: src/scheduler/account-service.ts) */
  | { type: 'userPut', user: UserRecord, now: number }
  | { type: 'userRemove', name: string, now: number }

/** speculated: the tile's other copy delivered first; preempted: queued work took a copy's slot */
export type RevokeReason = 'expired' | 'cancelled' | 'jobFailed' | 'speculated' | 'preempted' | 'distrusted'
export type RequeueReason = 'expired' | 'failed' | 'peerDead' | 'distrusted'

export type QueueEffect =
  /** ALWAYS first when present: write ops as ONE atomic batch before acting on the other effects */
  | { type: 'persist', ops: PersistOp[] }
  | { type: 'jobQueued', jobId: string, seq: number }
  /** speculative: a second lease on a tile that is still leased elsewhere (not a redo of lost work) */
  | (TileAddress & { type: 'assign', peer: string, leaseId: string, deadline: number, attempt: number, epoch: number, speculative?: true })
  /** tell the peer to drop this tile: its lease is gone */
  | (TileAddress & { type: 'revoke', peer: string, leaseId: string, reason: RevokeReason })
  | (TileAddress & { type: 'renewed', peer: string, leaseId: string, deadline: number })
  /** the tile's result from this lease is THE result: commit it (exactly once per tile) */
  | (TileAddress & { type: 'tileDone', peer: string, leaseId: string })
  | (TileAddress & { type: 'requeued', peer: string, leaseId: string, reason: RequeueReason, attempt: number })
  /** a lease ended without a result while the tile's other copy runs on: recorded, nothing re-queued */
  | (TileAddress & { type: 'leaseEnded', peer: string, leaseId: string, reason: RequeueReason, attempt: number })
  /** every tile of the phase is done: merge its statistics, then feed phaseReady{phase: phase + 1} */
  | { type: 'phaseComplete', jobId: string, phase: number }
  | { type: 'jobDone', jobId: string }
  | { type: 'jobFailed', jobId: string, reason: string }
  | { type: 'jobCancelled', jobId: string }
  /** the job's record is gone: the shell removes its files */
  | { type: 'jobForgotten', jobId: string }
  /** a done job's files are given up: every peer removes its copies; the record stays with removedAt */
  | { type: 'jobRetired', jobId: string, removedAt: number }
  /** a checked tile's result is in; another peer's is awaited (disputed: the results so far disagree) */
  | (TileAddress & { type: 'verifying', peer: string, leaseId: string, disputed: boolean })
  /** a checked tile taken on one result: no other peer could check it */
  | (TileAddress & { type: 'unverified', peer: string, reason: string })
  /** this peer gets no more tiles (its result was outvoted, or the shell proved it lies) */
  | { type: 'distrusted', peer: string, reason: string }
  /** a tile a distrusted peer did is queued again: its result must be replaced wherever it is stored */
  | (TileAddress & { type: 'redo', peer: string })
  /** an account was made, changed or removed */
  | { type: 'userChanged', name: string }
  /** an event that changed nothing: a stale/unknown lease, an unknown job, a duplicate phaseReady... */
  | { type: 'ignored', event: QueueEvent['type'], reason: string, jobId?: string, phase?: number, index?: number, leaseId?: string }

export interface StepResult {
  state: QueueState
  effects: QueueEffect[]
}

// ---------------------------------------------------------------------------------------------------
// State (treat as opaque outside this file: read it through listJobs/getJob/nextDeadline/...)

export interface Lease {
  jobId: string
  phase: number
  index: number
  peer: string
  leaseId: string
  deadline: number
  attempt: number
  /** when it was given (or restored, or first renewed after a restore); renewals stop extending it
   * maxLeaseMs later. Not persisted, and left out of leasesOf (it is the machine's bookkeeping). */
  grantedAt?: number
}

export type TileState = 'queued' | 'leased' | 'done' | 'failed'

export interface TileRec {
  state: TileState
  /** the earlier lease of a leased tile */
  lease: Lease | undefined
  /** a speculative second lease, on another peer (only beside `lease`) */
  copy: Lease | undefined
  peer: string | undefined
  attempts: Attempt[]
  /** a checked tile's results so far (each from another peer) */
  results?: VerifyResult[]
}

export interface VerifyResult { peer: string, hash: string }

/** the tiles of a job's current phase; index >= nextFresh: queued and never tried (no record) */
export interface PhaseTiles {
  touched: Map<number, TileRec>
  nextFresh: number
  /** queued tiles that were tried before, served before fresh ones */
  retry: number[]
  done: number
}

export interface JobRec {
  id: string
  seq: number
  tileCount: number
  phaseCount: number
  submittedAt: number
  meta: unknown
  state: JobState
  phase: number
  awaitingReady: boolean
  doneBefore: number
  tiles: PhaseTiles | undefined
  failure: JobFailure | undefined
  /** the lease number of the job's last queued tile granted (runtime only: fair share between jobs) */
  lastGrant?: number
  finishedAt: number | undefined
  /** when a done job's files were given up (retention or the disk cap); the record stays */
  removedAt?: number
  phaseData: unknown[]
  /** tiles checked by a second peer */
  verify: Set<number> | undefined
  /** when its first tile was leased (persisted: its duration must outlive the master that ran it) */
  startedAt: number | undefined
  /** the peers whose results completed its tiles (persisted: tile records go when the job ends) */
  workers: Set<string>
}

export interface PeerInfo {
  slots: number
  alive: boolean
}

export interface QueueState {
  config: QueueConfig
  epoch: number
  /** log position: number of persisting steps so far */
  pos: number
  nextSeq: number
  nextLease: number
  jobs: Map<string, JobRec>
  /** queued and running jobs, by seq */
  active: JobRec[]
  peers: Map<string, PeerInfo>
  leases: Map<string, Lease>
  /** peer -> its leaseIds */
  held: Map<string, Set<string>>
  /** distrusted peers (no tiles for them) and why */
  blocked: Map<string, string>
  /** accounts, by name; none: an open swarm, where any keyed device may do anything */
  users: Map<string, UserRecord>
}

/**
 * Distrusted peers remembered: a peer id is cheap to make, so a liar can come back as another; the list
 * only has to outlast the ones seen, and stays small enough to persist in every meta record.
 */
export const MAX_BLOCKED = 64
/** A checked tile's results without two that agree: after this many, no peer is believed and the job fails. */
export const MAX_RESULTS = 4

export function createQueueState (config: Partial<QueueConfig> = {}): QueueState {
  return {
    config: makeQueueConfig(config),
    epoch: 0,
    pos: 0,
    nextSeq: 1,
    nextLease: 1,
    jobs: new Map(),
    active: [],
    peers: new Map(),
    leases: new Map(),
    held: new Map(),
    blocked: new Map(),
    users: new Map()
  }
}

// ---------------------------------------------------------------------------------------------------
// step

type Dirty =
  | { kind: 'meta' }
  | { kind: 'job', job: JobRec }
  | { kind: 'tile', job: JobRec, phase: number, index: number }
  | { kind: 'user', user: UserRecord }
  | { kind: 'del' }

interface Ctx {
  s: QueueState
  effects: QueueEffect[]
  dirty: Map<string, Dirty>
}

export function step (state: QueueState, event: QueueEvent): StepResult {
  const c: Ctx = { s: state, effects: [], dirty: new Map() }
  switch (event.type) {
    case 'submit': onSubmit(c, event); break
    case 'peers': onPeers(c, event); break
    case 'tick': onTick(c, event.now); break
    case 'renew': onRenew(c, event); break
    case 'done': onDone(c, event); break
    case 'failed': onFailed(c, event); break
    case 'phaseReady': onPhaseReady(c, event); break
    case 'peerDead': onPeerDead(c, event); break
    case 'cancel': onCancel(c, event); break
    case 'forget': onForget(c, event); break
    case 'retire': onRetire(c, event); break
    case 'elected': onElected(c, event); break
    case 'distrust': distrust(c, event.peer, event.reason, event.now); break
    case 'userPut': onUserPut(c, event.user); break
    case 'userRemove': onUserRemove(c, event.name); break
    default: {
      const never: never = event
      throw new InvalidJobError(`unknown event ${JSON.stringify((never as { type: unknown }).type)}`)
    }
  }
  // every event but renew may free a slot or add work
  if (event.type !== 'renew') dispatch(c, event.now)
  // the log position: bumped by every step that changes the disk, so replicas can compare how
  // complete they are (the election prefers the most complete replica)
  if (c.dirty.size > 0) {
    state.pos++
    markMeta(c)
  }
  const ops = materialize(c)
  if (ops.length > 0) c.effects.unshift({ type: 'persist', ops })
  return { state, effects: c.effects }
}

function onSubmit (c: Ctx, ev: { job: JobSpec, now: number }): void {
  const s = c.s
  const spec = ev.job
  if (spec === null || typeof spec !== 'object') throw new InvalidJobError('job must be an object')
  if (typeof spec.id !== 'string' || spec.id.length === 0) throw new InvalidJobError('job id must be a non-empty string')
  if (!Number.isInteger(spec.tileCount) || spec.tileCount < 1 || spec.tileCount > MAX_TILES) {
    throw new InvalidJobError(`job ${spec.id}: tileCount must be an integer in 1..${MAX_TILES}, got ${spec.tileCount}`)
  }
  const phaseCount = spec.phaseCount ?? 1
  if (!Number.isInteger(phaseCount) || phaseCount < 1 || phaseCount > MAX_PHASES) {
    throw new InvalidJobError(`job ${spec.id}: phaseCount must be an integer in 1..${MAX_PHASES}, got ${phaseCount}`)
  }
  if (!Number.isFinite(ev.now)) throw new InvalidJobError('submit needs a finite now')
  if (s.jobs.has(spec.id)) throw new DuplicateJobError(spec.id)
  const meta = jsonCopy(spec.meta, `job ${spec.id}: meta`)
  const verify = spec.verify ?? []
  if (!Array.isArray(verify) || !verify.every(i => Number.isInteger(i) && i >= 0 && i < spec.tileCount)) {
    throw new InvalidJobError(`job ${spec.id}: verify must list tile indices in 0..${spec.tileCount - 1}`)
  }
  if (s.nextSeq > MAX_SEQ) throw new InvalidJobError('job sequence exhausted')
  const job: JobRec = {
    id: spec.id,
    seq: s.nextSeq++,
    tileCount: spec.tileCount,
    phaseCount,
    submittedAt: ev.now,
    meta,
    state: 'queued',
    phase: 0,
    awaitingReady: false,
    doneBefore: 0,
    tiles: freshTiles(),
    failure: undefined,
    finishedAt: undefined,
    phaseData: [],
    verify: verify.length > 0 ? new Set(verify) : undefined,
    startedAt: undefined,
    workers: new Set()
  }
  s.jobs.set(job.id, job)
  s.active.push(job)
  markMeta(c)
  markJob(c, job)
  c.effects.push({ type: 'jobQueued', jobId: job.id, seq: job.seq })
}

function onPeers (c: Ctx, ev: { view: PeerView[], now: number }): void {
  const s = c.s
  const next = new Map<string, PeerInfo>()
  for (const p of ev.view) {
    const slots = Number.isFinite(p.freeSlots) && !s.blocked.has(p.peer) ? Math.max(0, Math.floor(p.freeSlots)) : 0
    next.set(p.peer, { slots, alive: p.alive === true })
  }
  s.peers = next
  for (const [peer, info] of next) {
    if (!info.alive) requeuePeer(c, peer, ev.now)
  }
}

function onPeerDead (c: Ctx, ev: { peer: string, now: number }): void {
  const info = c.s.peers.get(ev.peer)
  if (info !== undefined) info.alive = false
  else c.s.peers.set(ev.peer, { slots: 0, alive: false })
  requeuePeer(c, ev.peer, ev.now)
}

function requeuePeer (c: Ctx, peer: string, now: number): void {
  const ids = c.s.held.get(peer)
  if (ids === undefined) return
  for (const leaseId of [...ids]) {
    const lease = c.s.leases.get(leaseId)
    if (lease !== undefined) endAttempt(c, lease, 'peerDead', 'peer dead', false, now)
  }
}

function onTick (c: Ctx, now: number): void {
  const expired: Lease[] = []
  for (const lease of c.s.leases.values()) if (now >= lease.deadline) expired.push(lease)
  for (const lease of expired) {
    if (c.s.leases.get(lease.leaseId) !== lease) continue // its job failed earlier in this tick
    const info = c.s.peers.get(lease.peer)
    const stalled = info !== undefined && info.alive
    c.effects.push({ type: 'revoke', jobId: lease.jobId, phase: lease.phase, index: lease.index, peer: lease.peer, leaseId: lease.leaseId, reason: 'expired' })
    endAttempt(c, lease, 'expired', stalled ? 'lease expired' : 'lease expired (peer gone)', false, now, stalled)
  }
}

type LeaseEvent = TileAddress & { type: 'renew' | 'done' | 'failed', leaseId: string, peer?: string, epoch?: number }

/** the current lease the event names, or undefined (and an `ignored` effect) */
function matchLease (c: Ctx, ev: LeaseEvent): Lease | undefined {
  let reason: string | undefined
  const lease = c.s.leases.get(ev.leaseId)
  if (ev.epoch !== undefined && ev.epoch > c.s.epoch) reason = `newer epoch ${ev.epoch} (queue has ${c.s.epoch})`
  else if (lease === undefined) reason = c.s.jobs.has(ev.jobId) ? 'stale lease' : 'unknown job'
  else if (lease.jobId !== ev.jobId || lease.phase !== ev.phase || lease.index !== ev.index) reason = 'lease is for another tile'
  else if (ev.peer !== undefined && lease.peer !== ev.peer) reason = 'lease held by another peer'
  if (reason === undefined) return lease
  c.effects.push({ type: 'ignored', event: ev.type, reason, jobId: ev.jobId, phase: ev.phase, index: ev.index, leaseId: ev.leaseId })
  return undefined
}

function onRenew (c: Ctx, ev: LeaseEvent & { now: number }): void {
  const lease = matchLease(c, ev)
  if (lease === undefined) return
  lease.grantedAt ??= ev.now
  if (ev.now + c.s.config.leaseMs > lease.grantedAt + c.s.config.maxLeaseMs) {
    // At its bound: not extended, so it lapses at its deadline whatever the peer says.
    c.effects.push({ type: 'ignored', event: ev.type, reason: `lease at its bound of ${c.s.config.maxLeaseMs} ms`, jobId: ev.jobId, phase: ev.phase, index: ev.index, leaseId: ev.leaseId })
    return
  }
  // Not persisted on purpose: a restored lease gets a fresh deadline anyway (rebuild/elected).
  lease.deadline = Math.max(lease.deadline, ev.now + c.s.config.leaseMs)
  c.effects.push({ type: 'renewed', jobId: lease.jobId, phase: lease.phase, index: lease.index, peer: lease.peer, leaseId: lease.leaseId, deadline: lease.deadline })
}

function onDone (c: Ctx, ev: LeaseEvent & { now: number, hash?: string }): void {
  const lease = matchLease(c, ev)
  if (lease === undefined) return
  const job = c.s.jobs.get(lease.jobId) as JobRec
  const tile = (job.tiles as PhaseTiles).touched.get(lease.index) as TileRec
  if (job.verify?.has(lease.index) !== true || typeof ev.hash !== 'string') {
    finishTile(c, job, tile, lease, ev.now)
    return
  }
  const results = (tile.results ?? []).filter(r => r.peer !== lease.peer)
  results.push({ peer: lease.peer, hash: ev.hash })
  tile.results = results
  markTile(c, job, lease.index)
  const agreed = agreedHash(results)
  if (agreed === undefined) {
    awaitCheck(c, job, tile, lease, ev.now)
    return
  }
  // The outvoted first: their other tiles of this job go back before this one can complete it. The peer
  // of this lease agrees (no two agreed before its result), so its lease stands.
  const outvoted = results.filter(r => r.hash !== agreed)
  const backing = results.length - outvoted.length
  for (const r of outvoted) {
    distrust(c, r.peer, `its result of tile ${lease.index} (phase ${lease.phase}) of job ${job.id} differs from that of ${backing} other peers`, ev.now)
  }
  finishTile(c, job, tile, lease, ev.now)
}

/**
 * Peers remembered as a job's workers: the job summary's bound, far above a LAN swarm's size, so a job
 * record stays small whoever comes and goes.
 */
export const MAX_JOB_WORKERS = 4096

/** The peer's result completed one of the job's tiles: it is one of the job's workers (its history). */
function creditWorker (c: Ctx, job: JobRec, peer: string): void {
  if (job.workers.has(peer) || job.workers.size >= MAX_JOB_WORKERS) return
  job.workers.add(peer)
  markJob(c, job)
}

/** The tile is done with this lease's result: the other lease (a speculative copy) is revoked. */
function finishTile (c: Ctx, job: JobRec, tile: TileRec, lease: Lease, now: number): void {
  const tiles = job.tiles as PhaseTiles
  const other = tile.lease === lease ? tile.copy : tile.lease
  releaseLease(c, lease)
  if (other !== undefined) releaseLease(c, other)
  tile.state = 'done'
  tile.lease = undefined
  tile.copy = undefined
  tile.peer = lease.peer
  tiles.done++
  markTile(c, job, lease.index)
  creditWorker(c, job, lease.peer)
  c.effects.push({ type: 'tileDone', jobId: job.id, phase: job.phase, index: lease.index, peer: lease.peer, leaseId: lease.leaseId })
  // The loser's work is not an attempt that ended without a result: the tile has its result.
  if (other !== undefined) c.effects.push({ type: 'revoke', jobId: job.id, phase: job.phase, index: lease.index, peer: other.peer, leaseId: other.leaseId, reason: 'speculated' })
  if (tiles.done === job.tileCount) phaseFinished(c, job, now)
}

// ---------------------------------------------------------------------------------------------------
// Verification

/** the hash two different peers returned, if any (results hold one entry per peer) */
function agreedHash (results: VerifyResult[]): string | undefined {
  const seen = new Set<string>()
  for (const r of results) {
    if (seen.has(r.hash)) return r.hash
    seen.add(r.hash)
  }
  return undefined
}

/** A checked tile's result is in and none agrees with it yet: the tile waits for another peer's. */
function awaitCheck (c: Ctx, job: JobRec, tile: TileRec, lease: Lease, now: number): void {
  const tiles = job.tiles as PhaseTiles
  const results = tile.results as VerifyResult[]
  const other = tile.lease === lease ? tile.copy : tile.lease
  releaseLease(c, lease)
  tile.lease = other
  tile.copy = undefined
  const disputed = new Set(results.map(r => r.hash)).size > 1
  if (other === undefined) {
    if (results.length >= MAX_RESULTS) {
      failTile(c, job, tile, lease.index, `tile ${lease.index} of phase ${lease.phase}: ${results.length} peers returned ${results.length} different results (${results.map(r => r.peer).join(', ')})`, now)
      return
    }
    // Its speculative copy, when one runs, is the check; else the tile goes to another peer.
    tile.state = 'queued'
    tiles.retry.push(lease.index)
  }
  c.effects.push({ type: 'verifying', jobId: job.id, phase: lease.phase, index: lease.index, peer: lease.peer, leaseId: lease.leaseId, disputed })
}

/** Checked tiles waiting for a peer that has not returned a result for them, when no such peer is left. */
function settleUnchecked (c: Ctx, now: number): void {
  for (const job of [...c.s.active]) {
    const tiles = job.tiles
    if (job.verify === undefined || tiles === undefined || job.awaitingReady) continue
    for (const index of [...tiles.retry]) {
      const tile = tiles.touched.get(index) as TileRec
      const results = tile.results
      if (results === undefined || results.length === 0) continue
      if (freshPeerExists(c.s, new Set(results.map(r => r.peer)))) continue
      if (results.length > 1) {
        failTile(c, job, tile, index, `tile ${index} of phase ${job.phase}: the results of ${results.map(r => r.peer).join(' and ')} differ, and no other peer is left to decide`, now)
        break
      }
      const only = results[0] as VerifyResult
      tiles.retry.splice(tiles.retry.indexOf(index), 1)
      tile.state = 'done'
      tile.peer = only.peer
      tiles.done++
      markTile(c, job, index)
      creditWorker(c, job, only.peer)
      c.effects.push({ type: 'unverified', jobId: job.id, phase: job.phase, index, peer: only.peer, reason: 'no other peer can check it' })
      c.effects.push({ type: 'tileDone', jobId: job.id, phase: job.phase, index, peer: only.peer, leaseId: '' })
      if (tiles.done === job.tileCount) phaseFinished(c, job, now)
    }
  }
}

function failTile (c: Ctx, job: JobRec, tile: TileRec, index: number, why: string, now: number): void {
  tile.state = 'failed'
  job.failure = { reason: why, phase: job.phase, index, attempts: tile.attempts.map(a => ({ ...a })) }
  endJob(c, job, 'failed', now, 'jobFailed')
  c.effects.push({ type: 'jobFailed', jobId: job.id, reason: why })
}

/**
 * A peer shown to lie gets no more tiles (remembered in the meta record, so the next master knows it too).
 * Its leases are revoked and its tiles in running jobs' current phases redone, except those another peer's
 * result agreed with. Tiles of phases already merged, and of finished jobs, stay as they are.
 */
function distrust (c: Ctx, peer: string, reason: string, now: number): void {
  const s = c.s
  if (typeof peer !== 'string' || peer.length === 0 || s.blocked.has(peer)) return
  s.blocked.set(peer, typeof reason === 'string' && reason.length > 0 ? reason : 'distrusted')
  for (const old of s.blocked.keys()) {
    if (s.blocked.size <= MAX_BLOCKED) break
    s.blocked.delete(old)
  }
  const info = s.peers.get(peer)
  if (info !== undefined) info.slots = 0
  markMeta(c)
  c.effects.push({ type: 'distrusted', peer, reason: s.blocked.get(peer) as string })
  for (const leaseId of [...s.held.get(peer) ?? []]) {
    const lease = s.leases.get(leaseId)
    if (lease === undefined) continue
    c.effects.push({ type: 'revoke', jobId: lease.jobId, phase: lease.phase, index: lease.index, peer, leaseId, reason: 'distrusted' })
    endAttempt(c, lease, 'distrusted', `${peer} is distrusted`, false, now)
  }
  for (const job of s.active) {
    const tiles = job.tiles
    if (tiles === undefined) continue
    let redone = 0
    for (const [index, tile] of tiles.touched) {
      if (tile.results?.some(r => r.peer === peer) === true) {
        tile.results = tile.results.filter(r => r.peer !== peer)
        markTile(c, job, index)
      }
      if (tile.state !== 'done' || tile.peer !== peer || (tile.results?.length ?? 0) > 0) continue
      tile.state = 'queued'
      tile.peer = undefined
      tile.results = undefined
      tiles.done--
      tiles.retry.push(index)
      tile.attempts.push({ peer, reason: `redone: ${peer} is distrusted`, at: now, counted: false })
      markTile(c, job, index)
      c.effects.push({ type: 'redo', jobId: job.id, phase: job.phase, index, peer })
      redone++
    }
    if (redone > 0 && job.awaitingReady) {
      job.awaitingReady = false
      markJob(c, job)
    }
  }
}

function onFailed (c: Ctx, ev: LeaseEvent & { now: number, reason: string, transient?: boolean }): void {
  const lease = matchLease(c, ev)
  if (lease === undefined) return
  const reason = typeof ev.reason === 'string' && ev.reason.length > 0 ? ev.reason : 'failed'
  endAttempt(c, lease, 'failed', reason, ev.transient !== true, ev.now)
}

function onPhaseReady (c: Ctx, ev: { jobId: string, phase: number, data?: unknown, now: number }): void {
  const data = jsonCopy(ev.data, `phaseReady ${ev.jobId}/${ev.phase}: data`)
  const job = c.s.jobs.get(ev.jobId)
  let reason: string | undefined
  if (job === undefined) reason = 'unknown job'
  else if (job.tiles === undefined) reason = `job is ${job.state}`
  else if (!job.awaitingReady || ev.phase !== job.phase + 1) reason = `job is not waiting for phase ${ev.phase}`
  if (reason !== undefined || job === undefined) {
    c.effects.push({ type: 'ignored', event: 'phaseReady', reason: reason ?? 'unknown job', jobId: ev.jobId, phase: ev.phase })
    return
  }
  dropTileRecords(c, job)
  job.doneBefore += job.tileCount
  job.phase = ev.phase
  job.awaitingReady = false
  job.tiles = freshTiles()
  if (data !== undefined) job.phaseData[ev.phase] = data
  markJob(c, job)
}

function onCancel (c: Ctx, ev: { jobId: string, now: number }): void {
  const job = c.s.jobs.get(ev.jobId)
  if (job === undefined) throw new UnknownJobError(ev.jobId)
  if (job.tiles === undefined) {
    c.effects.push({ type: 'ignored', event: 'cancel', reason: `job is already ${job.state}`, jobId: job.id })
    return
  }
  endJob(c, job, 'cancelled', ev.now, 'cancelled')
  c.effects.push({ type: 'jobCancelled', jobId: job.id })
}

function onForget (c: Ctx, ev: { jobId: string }): void {
  const job = c.s.jobs.get(ev.jobId)
  if (job === undefined) throw new UnknownJobError(ev.jobId)
  // Only a finished job: a queued or running one is cancelled first, so no lease or watcher is left.
  if (job.tiles !== undefined) {
    c.effects.push({ type: 'ignored', event: 'forget', reason: `job is ${job.state}: cancel it first`, jobId: job.id })
    return
  }
  c.s.jobs.delete(job.id)
  c.dirty.set(jobKey(job.seq), { kind: 'del' })
  c.effects.push({ type: 'jobForgotten', jobId: job.id })
}

function onUserPut (c: Ctx, user: UserRecord): void {
  const r = UserRecordSchema.safeParse(user)
  if (!r.success) throw new InvalidJobError(`account ${JSON.stringify(user?.name)} is not valid: ${r.error.issues.map(i => `${i.path.join('.')}: ${i.message}`).join('; ')}`)
  const copy = { ...r.data, keys: [...r.data.keys] }
  c.s.users.set(copy.name, copy)
  c.dirty.set(userKey(copy.name), { kind: 'user', user: copy })
  c.effects.push({ type: 'userChanged', name: copy.name })
}

function onUserRemove (c: Ctx, name: string): void {
  if (typeof name !== 'string' || !USER_NAME_RE.test(name) || !c.s.users.has(name)) {
    c.effects.push({ type: 'ignored', event: 'userRemove', reason: `no account ${JSON.stringify(name)}` })
    return
  }
  c.s.users.delete(name)
  c.dirty.set(userKey(name), { kind: 'del' })
  c.effects.push({ type: 'userChanged', name })
}

function onRetire (c: Ctx, ev: { jobId: string, now: number }): void {
  const job = c.s.jobs.get(ev.jobId)
  if (job === undefined) throw new UnknownJobError(ev.jobId)
  // Only a done job: a failed or cancelled one has no output to give up, a running one needs its files.
  if (job.state !== 'done' || job.removedAt !== undefined) {
    c.effects.push({ type: 'ignored', event: 'retire', reason: job.removedAt !== undefined ? 'already retired' : `job is ${job.state}`, jobId: job.id })
    return
  }
  job.removedAt = ev.now
  markJob(c, job)
  c.effects.push({ type: 'jobRetired', jobId: job.id, removedAt: ev.now })
}

function onElected (c: Ctx, ev: { epoch: number, now: number }): void {
  const s = c.s
  if (!Number.isInteger(ev.epoch) || ev.epoch < 0) throw new InvalidConfigError(`epoch must be an integer >= 0, got ${ev.epoch}`)
  if (ev.epoch < s.epoch) throw new StaleEpochError(ev.epoch, s.epoch)
  if (ev.epoch !== s.epoch) {
    s.epoch = ev.epoch
    markMeta(c)
  }
  for (const lease of s.leases.values()) lease.deadline = ev.now + s.config.leaseMs
  for (const job of s.active) {
    if (job.awaitingReady) c.effects.push({ type: 'phaseComplete', jobId: job.id, phase: job.phase })
  }
}

// ---------------------------------------------------------------------------------------------------
// Transitions

function freshTiles (): PhaseTiles {
  return { touched: new Map(), nextFresh: 0, retry: [], done: 0 }
}

function releaseLease (c: Ctx, lease: Lease): void {
  c.s.leases.delete(lease.leaseId)
  const ids = c.s.held.get(lease.peer)
  if (ids !== undefined) {
    ids.delete(lease.leaseId)
    if (ids.size === 0) c.s.held.delete(lease.peer)
  }
}

/** A lease ends without a result: record the attempt, then re-queue the tile or fail its job. */
function endAttempt (c: Ctx, lease: Lease, kind: RequeueReason, reason: string, counted: boolean, now: number, lapsed = false): void {
  const job = c.s.jobs.get(lease.jobId) as JobRec
  const tiles = job.tiles as PhaseTiles
  const tile = tiles.touched.get(lease.index) as TileRec
  releaseLease(c, lease)
  const other = tile.lease === lease ? tile.copy : tile.lease
  tile.lease = other
  tile.copy = undefined
  tile.attempts.push(lapsed ? { peer: lease.peer, reason, at: now, counted, lapsed } : { peer: lease.peer, reason, at: now, counted })
  markTile(c, job, lease.index)
  if (other !== undefined) {
    // The other copy may still deliver: the tile is judged (re-queued, or its job failed) only when its
    // last lease ends, with every attempt; if the other copy wins, this one never counts.
    c.effects.push({ type: 'leaseEnded', jobId: job.id, phase: lease.phase, index: lease.index, peer: lease.peer, leaseId: lease.leaseId, reason: kind, attempt: lease.attempt })
    return
  }
  if ((counted && tileExhausted(c.s, tile)) || (lapsed && lapses(tile) >= c.s.config.maxLapses)) {
    const failedOn = counted ? countedAttempts(tile) : tile.attempts.filter(a => a.lapsed === true)
    const peers = [...new Set(failedOn.map(a => a.peer))]
    const last = failedOn.slice(-c.s.config.maxAttempts).map(a => `${a.peer}: ${a.reason}`).join('; ')
    failTile(c, job, tile, lease.index, `tile ${lease.index} of phase ${lease.phase} failed on ${peers.length} peer${peers.length === 1 ? '' : 's'} (${failedOn.length} attempt${failedOn.length === 1 ? '' : 's'}): ${last}`, now)
    return
  }
  tile.state = 'queued'
  tiles.retry.push(lease.index)
  c.effects.push({ type: 'requeued', jobId: job.id, phase: lease.phase, index: lease.index, peer: lease.peer, leaseId: lease.leaseId, reason: kind, attempt: lease.attempt })
}

function lapses (tile: TileRec): number {
  let n = 0
  for (const a of tile.attempts) if (a.lapsed === true) n++
  return n
}

function countedAttempts (tile: TileRec): Attempt[] {
  return tile.attempts.filter(a => a.counted)
}

function failedPeers (tile: TileRec): Set<string> {
  const out = new Set<string>()
  for (const a of tile.attempts) if (a.counted) out.add(a.peer)
  return out
}

/** a live peer with slots that has not failed this tile exists */
function freshPeerExists (s: QueueState, failed: Set<string>): boolean {
  for (const [peer, info] of s.peers) if (info.alive && info.slots > 0 && !failed.has(peer)) return true
  return false
}

function tileExhausted (s: QueueState, tile: TileRec): boolean {
  const failed = failedPeers(tile)
  if (failed.size >= s.config.maxAttempts) return true
  return countedAttempts(tile).length >= s.config.maxAttempts && !freshPeerExists(s, failed)
}

function phaseFinished (c: Ctx, job: JobRec, now: number): void {
  if (job.phase + 1 >= job.phaseCount) {
    endJob(c, job, 'done', now, undefined)
    c.effects.push({ type: 'jobDone', jobId: job.id })
    return
  }
  job.awaitingReady = true
  markJob(c, job)
  c.effects.push({ type: 'phaseComplete', jobId: job.id, phase: job.phase })
}

/** done/failed/cancelled: revoke what is out, drop the tile records, keep the job record */
function endJob (c: Ctx, job: JobRec, state: 'done' | 'failed' | 'cancelled', now: number | undefined, revoke: RevokeReason | undefined): void {
  const tiles = job.tiles as PhaseTiles
  for (const [index, tile] of tiles.touched) {
    for (const lease of [tile.lease, tile.copy]) {
      if (lease === undefined) continue
      releaseLease(c, lease)
      if (revoke !== undefined) c.effects.push({ type: 'revoke', jobId: job.id, phase: job.phase, index, peer: lease.peer, leaseId: lease.leaseId, reason: revoke })
    }
    tile.lease = undefined
    tile.copy = undefined
  }
  dropTileRecords(c, job)
  job.doneBefore += tiles.done
  job.tiles = undefined
  job.state = state
  job.awaitingReady = false
  job.finishedAt = now
  c.s.active = c.s.active.filter(j => j !== job)
  markJob(c, job)
}

function dropTileRecords (c: Ctx, job: JobRec): void {
  const tiles = job.tiles as PhaseTiles
  for (const index of tiles.touched.keys()) c.dirty.set(tileKey(job.seq, job.phase, index), { kind: 'del' })
}

// ---------------------------------------------------------------------------------------------------
// Dispatch

interface Candidate {
  peer: string
  slots: number
  held: number
  limit: number
  /** speculative copies it runs besides `held` (they give way to queued work) */
  copies: number
}

/** a before b: lower held/slots, then fewer held, then fewer copies (none to preempt), then smaller peer id */
function before (a: Candidate, b: Candidate): boolean {
  const l = a.held * b.slots
  const r = b.held * a.slots
  if (l !== r) return l < r
  if (a.held !== b.held) return a.held < b.held
  if (a.copies !== b.copies) return a.copies < b.copies
  return a.peer < b.peer
}

/** the job's current phase has tiles waiting for a lease */
function queuedIn (job: JobRec): boolean {
  const tiles = job.tiles
  if (job.awaitingReady || tiles === undefined) return false
  return tiles.retry.length > 0 || tiles.nextFresh < job.tileCount
}

function hasQueued (s: QueueState): boolean {
  for (const job of s.active) if (queuedIn(job)) return true
  return false
}

function dispatch (c: Ctx, now: number): void {
  if (!Number.isFinite(now)) return
  settleUnchecked(c, now)
  if (hasQueued(c.s)) dispatchQueued(c, now)
  // after the queued work: only slots it could not use are left
  if (c.s.config.speculate) speculate(c, now)
}

/**
 * Queued work first. A speculative copy is optional work: it does not count as held here, and queued
 * work that needs its real slot takes it (the copy is revoked, 'preempted'), so a job submitted at
 * another's end never waits behind a copy.
 */
function dispatchQueued (c: Ctx, now: number): void {
  const s = c.s
  const copies = copiesByPeer(s)
  const cands: Candidate[] = []
  for (const [peer, info] of s.peers) {
    if (!info.alive || info.slots <= 0) continue
    const mine = copies.get(peer)?.length ?? 0
    const held = (s.held.get(peer)?.size ?? 0) - mine
    const limit = info.slots + s.config.prefetch
    if (held < limit) cands.push({ peer, slots: info.slots, held, limit, copies: mine })
  }
  while (cands.length > 0) {
    let bi = 0
    for (let i = 1; i < cands.length; i++) if (before(cands[i] as Candidate, cands[bi] as Candidate)) bi = i
    const cand = cands[bi] as Candidate
    const pick = nextTileFor(s, cand.peer)
    if (pick === undefined) {
      cands.splice(bi, 1)
      continue
    }
    const mine = copies.get(cand.peer)
    if (mine !== undefined && mine.length > 0 && (s.held.get(cand.peer)?.size ?? 0) >= cand.slots) {
      preempt(c, mine.pop() as Lease)
      cand.copies--
    }
    take(c, pick, cand.peer, now)
    cand.held++
    if (cand.held >= cand.limit) cands.splice(bi, 1)
  }
}

/** each peer's speculative copies, the newest last (the first to give way: the least work lost) */
function copiesByPeer (s: QueueState): Map<string, Lease[]> {
  const out = new Map<string, Lease[]>()
  for (const lease of s.leases.values()) {
    const tile = tileOf(s, lease)
    if (tile.copy !== lease) continue
    let list = out.get(lease.peer)
    if (list === undefined) out.set(lease.peer, list = [])
    list.push(lease)
  }
  for (const list of out.values()) list.sort((a, b) => leaseNumber(a.leaseId) - leaseNumber(b.leaseId))
  return out
}

function tileOf (s: QueueState, lease: Lease): TileRec {
  return ((s.jobs.get(lease.jobId) as JobRec).tiles as PhaseTiles).touched.get(lease.index) as TileRec
}

/** A copy gives its slot to queued work. Not an attempt: the tile's other lease runs on. */
function preempt (c: Ctx, lease: Lease): void {
  const job = c.s.jobs.get(lease.jobId) as JobRec
  const tile = tileOf(c.s, lease)
  releaseLease(c, lease)
  tile.copy = undefined
  markTile(c, job, lease.index)
  c.effects.push({ type: 'revoke', jobId: lease.jobId, phase: lease.phase, index: lease.index, peer: lease.peer, leaseId: lease.leaseId, reason: 'preempted' })
}

interface Pick {
  job: JobRec
  index: number
  /** undefined: a fresh tile (index === nextFresh) */
  tile: TileRec | undefined
  /** its place in tiles.retry, for a re-queued tile */
  retryAt: number
}

/**
 * The next tile this peer may take: of the jobs with one, the job with the fewest leases out, then the
 * one granted a tile longest ago (never first), then the oldest; undefined when there is none. Fair
 * share, not FIFO: a long job no longer holds every slot while a 1x1 job behind it waits (issue 15), in
 * a one-slot swarm too (there every job has no lease out when the slot frees: the grant order decides);
 * one job alone still gets every slot.
 */
function nextTileFor (s: QueueState, peer: string): Pick | undefined {
  const out = leasesByJob(s)
  let best: Pick | undefined
  let bestKey: [number, number] = [Infinity, Infinity]
  for (const job of s.active) {
    const key: [number, number] = [out.get(job.id) ?? 0, job.lastGrant ?? -1]
    if (key[0] > bestKey[0] || (key[0] === bestKey[0] && key[1] >= bestKey[1])) continue
    const pick = firstTileOf(s, job, peer)
    if (pick === undefined) continue
    best = pick
    bestKey = key
  }
  return best
}

function leasesByJob (s: QueueState): Map<string, number> {
  const out = new Map<string, number>()
  for (const lease of s.leases.values()) out.set(lease.jobId, (out.get(lease.jobId) ?? 0) + 1)
  return out
}

/** a job's next tile for this peer: re-queued tiles before fresh ones */
function firstTileOf (s: QueueState, job: JobRec, peer: string): Pick | undefined {
  const tiles = job.tiles
  if (job.awaitingReady || tiles === undefined) return undefined
  for (let k = 0; k < tiles.retry.length; k++) {
    const index = tiles.retry[k] as number
    const tile = tiles.touched.get(index) as TileRec
    if (mayTake(s, tile, peer)) return { job, index, tile, retryAt: k }
  }
  if (tiles.nextFresh < job.tileCount) return { job, index: tiles.nextFresh, tile: undefined, retryAt: -1 }
  return undefined
}

function take (c: Ctx, p: Pick, peer: string, now: number): void {
  p.job.lastGrant = c.s.nextLease
  const tiles = p.job.tiles as PhaseTiles
  let tile = p.tile
  if (tile === undefined) {
    tiles.nextFresh++
    tile = { state: 'queued', lease: undefined, copy: undefined, peer: undefined, attempts: [] }
    tiles.touched.set(p.index, tile)
  } else {
    tiles.retry.splice(p.retryAt, 1)
  }
  grant(c, p.job, p.index, tile, peer, now)
}

/**
 * Copies for idle real slots (prefetch slots are for queued work: a copy there would only wait). Any job
 * with nothing queued in its phase qualifies, not just the oldest: a later job's end is as much worth
 * shortening as an earlier job's, and normal dispatch has already given every slot it could to queued
 * work, oldest job first. Oldest job first again, and in a job the tile leased first (the lease number
 * orders grants across restarts and failovers: nextLease is persisted and replicated with the leases,
 * so no clock, and no other peer's, is needed to know which tile has run longest).
 */
function speculate (c: Ctx, now: number): void {
  const s = c.s
  const idle: Candidate[] = []
  for (const [peer, info] of s.peers) {
    if (!info.alive || info.slots <= 0) continue
    const held = s.held.get(peer)?.size ?? 0
    if (held < info.slots) idle.push({ peer, slots: info.slots, held, limit: info.slots, copies: 0 })
  }
  if (idle.length === 0) return
  let copies = 0
  const single: Array<{ job: JobRec, tile: TileRec, lease: Lease, n: number }> = []
  for (const lease of s.leases.values()) {
    const job = s.jobs.get(lease.jobId) as JobRec
    const tile = tileOf(s, lease)
    if (tile.copy !== undefined) {
      if (tile.copy === lease) copies++
      continue
    }
    if (!queuedIn(job)) single.push({ job, tile, lease, n: leaseNumber(lease.leaseId) })
  }
  if (copies >= s.config.maxSpeculative || single.length === 0) return
  single.sort((a, b) => a.job.seq - b.job.seq || a.n - b.n)
  for (const t of single) {
    if (copies >= s.config.maxSpeculative || idle.length === 0) return
    // A copy is optional work: never on a peer that already tried this tile (failed it, let it lapse,
    // could not be reached, died), so copies of one tile are bounded by the peers.
    const tried = new Set(t.tile.attempts.map(a => a.peer))
    tried.add(t.lease.peer)
    for (const r of t.tile.results ?? []) tried.add(r.peer)
    let bi = -1
    for (let i = 0; i < idle.length; i++) {
      const cand = idle[i] as Candidate
      if (!tried.has(cand.peer) && (bi < 0 || before(cand, idle[bi] as Candidate))) bi = i
    }
    if (bi < 0) continue
    const cand = idle[bi] as Candidate
    grant(c, t.job, t.lease.index, t.tile, cand.peer, now, true)
    copies++
    if (++cand.held >= cand.limit) idle.splice(bi, 1)
  }
}

/** A tile goes back to a peer that failed it, or was too slow for it, only when no other peer can take it. */
function mayTake (s: QueueState, tile: TileRec, peer: string): boolean {
  // a check is by another peer, always (settleUnchecked takes the tile when none is left)
  if (tile.results?.some(r => r.peer === peer) === true) return false
  if (tile.attempts.length === 0) return true
  const avoid = failedPeers(tile)
  for (const a of tile.attempts) if (a.lapsed === true) avoid.add(a.peer)
  return !avoid.has(peer) || !freshPeerExists(s, avoid)
}

function grant (c: Ctx, job: JobRec, index: number, tile: TileRec, peer: string, now: number, speculative = false): void {
  const s = c.s
  const lease: Lease = {
    jobId: job.id,
    phase: job.phase,
    index,
    peer,
    leaseId: `${s.epoch}:${s.nextLease++}`,
    deadline: now + s.config.leaseMs,
    grantedAt: now,
    // a copy runs beside the lease that is attempt attempts.length + 1
    attempt: tile.attempts.length + (speculative ? 2 : 1)
  }
  tile.state = 'leased'
  if (speculative) tile.copy = lease
  else tile.lease = lease
  s.leases.set(lease.leaseId, lease)
  let ids = s.held.get(peer)
  if (ids === undefined) s.held.set(peer, ids = new Set())
  ids.add(lease.leaseId)
  if (job.state === 'queued') {
    job.state = 'running'
    markJob(c, job)
  }
  if (job.startedAt === undefined) {
    job.startedAt = now
    markJob(c, job)
  }
  markMeta(c)
  markTile(c, job, index)
  const a: Extract<QueueEffect, { type: 'assign' }> = { type: 'assign', jobId: job.id, phase: job.phase, index, peer, leaseId: lease.leaseId, deadline: lease.deadline, attempt: lease.attempt, epoch: s.epoch }
  if (speculative) a.speculative = true
  c.effects.push(a)
}

/** a JSON-safe copy of data the shell hands in (it is persisted as JSON); throws before any change */
function jsonCopy (v: unknown, what: string): unknown {
  if (v === undefined) return undefined
  let text: string | undefined
  try {
    text = JSON.stringify(v)
  } catch (err) {
    throw new InvalidJobError(`${what} is not JSON-serialisable: ${(err as Error).message}`)
  }
  if (text === undefined) throw new InvalidJobError(`${what} is not JSON-serialisable`)
  return JSON.parse(text) as unknown
}

// ---------------------------------------------------------------------------------------------------
// Persistence: dirty marks -> ops; records <-> state

function markMeta (c: Ctx): void {
  c.dirty.set(META_KEY, { kind: 'meta' })
}

function markJob (c: Ctx, job: JobRec): void {
  c.dirty.set(jobKey(job.seq), { kind: 'job', job })
}

function markTile (c: Ctx, job: JobRec, index: number): void {
  c.dirty.set(tileKey(job.seq, job.phase, index), { kind: 'tile', job, phase: job.phase, index })
}

function materialize (c: Ctx): PersistOp[] {
  const ops: PersistOp[] = []
  for (const [key, d] of c.dirty) {
    switch (d.kind) {
      case 'meta': ops.push({ type: 'put', key, value: metaRecord(c.s) }); break
      case 'job': ops.push({ type: 'put', key, value: jobRecord(d.job) }); break
      case 'tile': {
        const tile = d.job.tiles !== undefined && d.job.phase === d.phase ? d.job.tiles.touched.get(d.index) : undefined
        if (tile === undefined) ops.push({ type: 'del', key })
        else ops.push({ type: 'put', key, value: tileRecord(tile) })
        break
      }
      case 'user': ops.push({ type: 'put', key, value: d.user }); break
      case 'del': ops.push({ type: 'del', key }); break
    }
  }
  return ops
}

function metaRecord (s: QueueState): MetaRecord {
  const r: MetaRecord = { v: RECORD_VERSION, epoch: s.epoch, pos: s.pos, nextSeq: s.nextSeq, nextLease: s.nextLease }
  if (s.blocked.size > 0) r.blocked = [...s.blocked].map(([peer, reason]) => ({ peer, reason }))
  return r
}

function jobRecord (job: JobRec): JobRecord {
  const r: JobRecord = {
    v: RECORD_VERSION,
    id: job.id,
    seq: job.seq,
    tileCount: job.tileCount,
    phaseCount: job.phaseCount,
    submittedAt: job.submittedAt,
    state: job.state,
    phase: job.phase,
    awaitingReady: job.awaitingReady,
    doneBefore: job.doneBefore
  }
  // failure, meta and phaseData are never mutated once set (meta/phaseData are JSON copies): share them
  if (job.failure !== undefined) r.failure = job.failure
  if (job.finishedAt !== undefined) r.finishedAt = job.finishedAt
  if (job.removedAt !== undefined) r.removedAt = job.removedAt
  if (job.meta !== undefined) r.meta = job.meta
  if (job.phaseData.length > 0) r.phaseData = Array.from(job.phaseData, d => d === undefined ? null : d)
  if (job.verify !== undefined) r.verify = [...job.verify].sort((a, b) => a - b)
  if (job.startedAt !== undefined) r.startedAt = job.startedAt
  if (job.workers.size > 0) r.workers = [...job.workers].sort()
  return r
}

function tileRecord (tile: TileRec): TileRecord {
  const r: TileRecord = { v: RECORD_VERSION, state: tile.state, attempts: tile.attempts.map(a => ({ ...a })) }
  if (tile.lease !== undefined) r.lease = leaseRecord(tile.lease)
  if (tile.copy !== undefined) r.copy = leaseRecord(tile.copy)
  if (tile.peer !== undefined) r.peer = tile.peer
  if (tile.results !== undefined && tile.results.length > 0) r.results = tile.results.map(x => ({ ...x }))
  return r
}

function leaseRecord (l: Lease): LeaseRecord {
  return { peer: l.peer, leaseId: l.leaseId, deadline: l.deadline, attempt: l.attempt }
}

/** Every record the state persists, in key order: what the store holds after all persist ops so far.
 * Also a full snapshot to seed a new replica. */
export function toRecords (s: QueueState): Array<[string, MetaRecord | JobRecord | TileRecord | UserRecord]> {
  // pos 0: nothing was ever persisted, the disk is empty (rebuilding [] gives this state back)
  const out: Array<[string, MetaRecord | JobRecord | TileRecord | UserRecord]> = s.pos === 0 ? [] : [[META_KEY, metaRecord(s)]]
  for (const user of s.users.values()) out.push([userKey(user.name), user])
  const jobs = [...s.jobs.values()].sort((a, b) => a.seq - b.seq)
  for (const job of jobs) {
    out.push([jobKey(job.seq), jobRecord(job)])
    if (job.tiles === undefined) continue
    for (const [index, tile] of job.tiles.touched) out.push([tileKey(job.seq, job.phase, index), tileRecord(tile)])
  }
  return out.sort((a, b) => a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)
}

export interface RebuildOptions {
  config?: Partial<QueueConfig>
  /** when given, every restored lease gets deadline now + leaseMs (no master watched it while this one
   * was down, and the persisted deadline may come from another peer's clock); when omitted the
   * persisted deadlines are kept as they are. */
  now?: number
}

/** Rebuild the state from persisted records (any order), e.g. on restart or when a standby takes
 * over. Peers are unknown until the first `peers` event; leased tiles come back leased. */
export function rebuildQueueState (records: Iterable<readonly [string, unknown]>, opts: RebuildOptions = {}): QueueState {
  const s = createQueueState(opts.config)
  let meta: MetaRecord | undefined
  const jobsBySeq = new Map<number, JobRec>()
  const tileRecs: Array<{ key: string, seq: number, phase: number, index: number, rec: TileRecord }> = []
  for (const [key, value] of records) {
    const k = parseKey(key)
    if (k.kind === 'meta') meta = parseRecord(MetaRecordSchema, key, value)
    else if (k.kind === 'user') {
      const user = parseRecord(UserRecordSchema, key, value)
      if (user.name !== k.name) throw new CorruptRecordError(key, `account ${user.name} under another name's key`)
      s.users.set(user.name, user)
    } else if (k.kind === 'tile') tileRecs.push({ key, seq: k.seq, phase: k.phase, index: k.index, rec: parseRecord(TileRecordSchema, key, value) })
    else {
      const r = parseRecord(JobRecordSchema, key, value)
      if (r.seq !== k.seq) throw new CorruptRecordError(key, `seq ${r.seq} does not match its key`)
      if (r.phase >= r.phaseCount) throw new CorruptRecordError(key, `phase ${r.phase} >= phaseCount ${r.phaseCount}`)
      const active = r.state === 'queued' || r.state === 'running'
      jobsBySeq.set(r.seq, {
        id: r.id,
        seq: r.seq,
        tileCount: r.tileCount,
        phaseCount: r.phaseCount,
        submittedAt: r.submittedAt,
        meta: r.meta,
        state: r.state,
        phase: r.phase,
        awaitingReady: active && r.awaitingReady,
        doneBefore: r.doneBefore,
        tiles: active ? freshTiles() : undefined,
        failure: r.failure,
        finishedAt: r.finishedAt,
        ...(r.removedAt !== undefined ? { removedAt: r.removedAt } : {}),
        phaseData: r.phaseData ?? [],
        verify: r.verify !== undefined && r.verify.length > 0 ? new Set(r.verify) : undefined,
        startedAt: r.startedAt,
        workers: new Set(r.workers ?? [])
      })
    }
  }
  if (meta !== undefined) {
    s.epoch = meta.epoch
    s.pos = meta.pos
    s.nextSeq = meta.nextSeq
    s.nextLease = meta.nextLease
    for (const b of meta.blocked ?? []) s.blocked.set(b.peer, b.reason)
  }
  for (const t of tileRecs) {
    const job = jobsBySeq.get(t.seq)
    // records of a finished job or an older phase are leftovers of nothing we wrote; skip them
    if (job === undefined || job.tiles === undefined || t.phase !== job.phase) continue
    if (t.index >= job.tileCount) throw new CorruptRecordError(t.key, `index ${t.index} >= tileCount ${job.tileCount}`)
    const tile: TileRec = { state: t.rec.state, lease: undefined, copy: undefined, peer: t.rec.peer, attempts: t.rec.attempts }
    if (t.rec.results !== undefined) tile.results = t.rec.results
    if (tile.state === 'leased') {
      const l = t.rec.lease
      if (l === undefined) throw new CorruptRecordError(t.key, 'leased tile without a lease')
      if (t.rec.copy !== undefined && t.rec.copy.peer === l.peer) throw new CorruptRecordError(t.key, 'a tile leased twice to one peer')
      const restore = (r: LeaseRecord): Lease => {
        if (s.leases.has(r.leaseId)) throw new CorruptRecordError(t.key, `lease ${r.leaseId} on two tiles`)
        const lease: Lease = { jobId: job.id, phase: t.phase, index: t.index, peer: r.peer, leaseId: r.leaseId, deadline: opts.now !== undefined ? opts.now + s.config.leaseMs : r.deadline, attempt: r.attempt, ...(opts.now !== undefined ? { grantedAt: opts.now } : {}) }
        s.leases.set(lease.leaseId, lease)
        let ids = s.held.get(lease.peer)
        if (ids === undefined) s.held.set(lease.peer, ids = new Set())
        ids.add(lease.leaseId)
        return lease
      }
      tile.lease = restore(l)
      if (t.rec.copy !== undefined) tile.copy = restore(t.rec.copy)
    } else if (tile.state === 'done') {
      job.tiles.done++
    } else if (tile.state === 'failed') {
      // a failed tile always ended its job in the same batch; treat a stray one as queued
      tile.state = 'queued'
    }
    job.tiles.touched.set(t.index, tile)
    job.tiles.nextFresh = Math.max(job.tiles.nextFresh, t.index + 1)
  }
  const seqs = [...jobsBySeq.keys()].sort((a, b) => a - b)
  for (const seq of seqs) {
    const job = jobsBySeq.get(seq) as JobRec
    if (s.jobs.has(job.id)) throw new CorruptRecordError(jobKey(seq), `duplicate job id ${job.id}`)
    s.jobs.set(job.id, job)
    s.nextSeq = Math.max(s.nextSeq, seq + 1)
    const tiles = job.tiles
    if (tiles === undefined) continue
    s.active.push(job)
    // tiles below nextFresh always got a record when first leased; a missing one is re-queued fresh
    for (let i = 0; i < tiles.nextFresh; i++) {
      const tile = tiles.touched.get(i)
      if (tile === undefined) tiles.touched.set(i, { state: 'queued', lease: undefined, copy: undefined, peer: undefined, attempts: [] })
      if (tile === undefined || tile.state === 'queued') tiles.retry.push(i)
    }
  }
  return s
}

/** An independent deep copy (the machine mutates the state it is given). */
export function cloneQueueState (s: QueueState): QueueState {
  const c = rebuildQueueState(toRecords(s), { config: s.config })
  // runtime-only parts that records do not carry
  for (const [leaseId, lease] of s.leases) {
    const l = c.leases.get(leaseId)
    if (l !== undefined) l.deadline = lease.deadline
  }
  for (const [peer, info] of s.peers) c.peers.set(peer, { ...info })
  for (const job of s.active) {
    const cj = c.jobs.get(job.id) as JobRec
    if (job.tiles !== undefined && cj.tiles !== undefined) cj.tiles.retry = [...job.tiles.retry]
    if (job.lastGrant !== undefined) cj.lastGrant = job.lastGrant
  }
  return c
}

// ---------------------------------------------------------------------------------------------------
// Read model

export interface JobView {
  id: string
  seq: number
  state: JobState
  /** tiles done over all phases */
  done: number
  /** tileCount * phaseCount */
  total: number
  /** current phase, 0-based */
  phase: number
  phaseCount: number
  /** the phase is complete and waits for its merged statistics (phaseReady) */
  awaitingMerge: boolean
  /** peers holding a lease on this job, sorted */
  leasedTo: string[]
  queued: number
  failure?: string
  submittedAt: number
  finishedAt?: number
  /** when its first tile was leased, by whichever master did it */
  startedAt?: number
  /** the peers whose results completed its tiles, sorted */
  workers: string[]
  /** a done job whose files were given up (retention or the disk cap) */
  removedAt?: number
  meta?: unknown
}

function viewOf (job: JobRec, leasedTo: Set<string> | undefined): JobView {
  const tiles = job.tiles
  const v: JobView = {
    id: job.id,
    seq: job.seq,
    state: job.state,
    done: job.doneBefore + (tiles?.done ?? 0),
    total: job.tileCount * job.phaseCount,
    phase: job.phase,
    phaseCount: job.phaseCount,
    awaitingMerge: job.awaitingReady,
    leasedTo: leasedTo === undefined ? [] : [...leasedTo].sort(),
    queued: tiles === undefined || job.awaitingReady ? 0 : tiles.retry.length + job.tileCount - tiles.nextFresh,
    submittedAt: job.submittedAt,
    workers: [...job.workers].sort()
  }
  if (job.startedAt !== undefined) v.startedAt = job.startedAt
  if (job.failure !== undefined) v.failure = job.failure.reason
  if (job.finishedAt !== undefined) v.finishedAt = job.finishedAt
  if (job.removedAt !== undefined) v.removedAt = job.removedAt
  if (job.meta !== undefined) v.meta = job.meta
  return v
}

function leasePeersByJob (s: QueueState): Map<string, Set<string>> {
  const m = new Map<string, Set<string>>()
  for (const l of s.leases.values()) {
    let set = m.get(l.jobId)
    if (set === undefined) m.set(l.jobId, set = new Set())
    set.add(l.peer)
  }
  return m
}

/** `swarm jobs`: every job the queue knows, in FIFO (seq) order */
export function listJobs (s: QueueState): JobView[] {
  const byJob = leasePeersByJob(s)
  return [...s.jobs.values()].sort((a, b) => a.seq - b.seq).map(j => viewOf(j, byJob.get(j.id)))
}

export function getJob (s: QueueState, jobId: string): JobView | undefined {
  const job = s.jobs.get(jobId)
  if (job === undefined) return undefined
  return viewOf(job, leasePeersByJob(s).get(jobId))
}

/** what the shell passed with phaseReady for this phase (e.g. merged statistics) */
export function phaseData (s: QueueState, jobId: string, phase: number): unknown {
  return s.jobs.get(jobId)?.phaseData[phase]
}

export interface TileView {
  state: TileState
  lease?: Lease
  /** a speculative second lease */
  copy?: Lease
  /** the peer that did it */
  peer?: string
  attempts: Attempt[]
  results?: VerifyResult[]
}

/** A copy of a lease without the machine's own bookkeeping. */
function publicLease (l: Lease): Lease {
  const { grantedAt: _internal, ...lease } = l
  return lease
}

/** whether two peers must agree on this tile's result */
export function isChecked (s: QueueState, jobId: string, index: number): boolean {
  return s.jobs.get(jobId)?.verify?.has(index) === true
}

/** distrusted peers and why, oldest first */
/** The account of that name, or undefined. */
export function getUser (s: QueueState, name: string): UserRecord | undefined {
  return s.users.get(name)
}

/** Every account, by name. */
export function listUsers (s: QueueState): UserRecord[] {
  return [...s.users.values()].sort((a, b) => a.name < b.name ? -1 : 1)
}

export function blockedPeers (s: QueueState): Array<{ peer: string, reason: string }> {
  return [...s.blocked].map(([peer, reason]) => ({ peer, reason }))
}

/** one tile of the job's CURRENT phase (finished jobs keep no tiles: undefined) */
export function tileInfo (s: QueueState, jobId: string, index: number): TileView | undefined {
  const job = s.jobs.get(jobId)
  const tiles = job?.tiles
  if (job === undefined || tiles === undefined || !Number.isInteger(index) || index < 0 || index >= job.tileCount) return undefined
  const tile = tiles.touched.get(index)
  if (tile === undefined) return { state: 'queued', attempts: [] }
  const v: TileView = { state: tile.state, attempts: tile.attempts.map(a => ({ ...a })) }
  if (tile.lease !== undefined) v.lease = publicLease(tile.lease)
  if (tile.copy !== undefined) v.copy = publicLease(tile.copy)
  if (tile.peer !== undefined) v.peer = tile.peer
  if (tile.results !== undefined) v.results = tile.results.map(r => ({ ...r }))
  return v
}

/** the outstanding leases, optionally of one peer */
export function leasesOf (s: QueueState, peer?: string): Lease[] {
  const out: Lease[] = []
  for (const l of s.leases.values()) {
    if (peer !== undefined && l.peer !== peer) continue
    out.push(publicLease(l))
  }
  return out
}

/**
 * Tiles left over all phases of each queued or running job, oldest first: what a rate estimate needs,
 * without building listJobs' view of every job the queue still keeps.
 */
export function tilesLeft (s: QueueState): Array<{ id: string, left: number }> {
  return s.active.map(j => ({ id: j.id, left: j.tileCount * j.phaseCount - j.doneBefore - (j.tiles?.done ?? 0) }))
}

/** the queue's log position (persisting steps so far; survives restarts): replica completeness */
export function queuePosition (s: QueueState): number {
  return s.pos
}

/** the epoch the queue works under (assign effects carry it) */
/** The epoch of the master that gave a lease: lease ids are "<epoch>:<n>". */
export function leaseEpoch (leaseId: string): number {
  return Number(leaseId.slice(0, leaseId.indexOf(':')))
}

/** The lease's number n in "<epoch>:<n>": leases are numbered in the order they were granted. */
export function leaseNumber (leaseId: string): number {
  return Number(leaseId.slice(leaseId.indexOf(':') + 1))
}

export function queueEpoch (s: QueueState): number {
  return s.epoch
}

/** the earliest lease deadline: when the shell should feed the next tick (undefined: no lease out) */
export function nextDeadline (s: QueueState): number | undefined {
  let t: number | undefined
  for (const l of s.leases.values()) if (t === undefined || l.deadline < t) t = l.deadline
  return t
}

/** Consistency check of the in-memory state; throws InvariantError. For tests and the simulator. */
export function checkInvariants (s: QueueState): void {
  const fail = (m: string): never => { throw new InvariantError(m) }
  let leased = 0
  const seenActive = new Set<JobRec>()
  let lastSeq = -1
  for (const job of s.active) {
    if (job.seq <= lastSeq) fail(`active jobs out of seq order at ${job.id}`)
    lastSeq = job.seq
    seenActive.add(job)
    if (s.jobs.get(job.id) !== job) fail(`active job ${job.id} not in jobs`)
    if (job.state !== 'queued' && job.state !== 'running') fail(`active job ${job.id} is ${job.state}`)
    const t = job.tiles ?? fail(`active job ${job.id} has no tiles`)
    let done = 0
    const inRetry = new Set(t.retry)
    if (inRetry.size !== t.retry.length) fail(`job ${job.id}: duplicate in retry`)
    for (const [i, tile] of t.touched) {
      if (i >= t.nextFresh) fail(`job ${job.id}: touched tile ${i} >= nextFresh`)
      if (tile.state === 'done') done++
      if (tile.state === 'failed') fail(`job ${job.id}: failed tile in an active job`)
      if ((tile.state === 'queued') !== inRetry.has(i)) fail(`job ${job.id}: tile ${i} queued=${tile.state} vs retry`)
      if ((tile.state === 'leased') !== (tile.lease !== undefined)) fail(`job ${job.id}: tile ${i} lease mismatch`)
      // two leases only when speculated: the copy beside the first lease, on another peer
      if (tile.copy !== undefined && tile.lease === undefined) fail(`job ${job.id}: tile ${i} has a copy without a lease`)
      if (tile.copy !== undefined && tile.copy.peer === tile.lease?.peer) fail(`job ${job.id}: tile ${i} leased twice to ${tile.copy.peer}`)
      for (const lease of [tile.lease, tile.copy]) {
        if (lease === undefined) continue
        leased++
        if (s.leases.get(lease.leaseId) !== lease) fail(`job ${job.id}: tile ${i} lease ${lease.leaseId} not registered`)
        if (lease.jobId !== job.id || lease.index !== i || lease.phase !== job.phase) fail(`job ${job.id}: tile ${i} lease address`)
        if (s.held.get(lease.peer)?.has(lease.leaseId) !== true) fail(`job ${job.id}: tile ${i} lease not held`)
      }
    }
    for (let i = 0; i < t.nextFresh; i++) if (!t.touched.has(i)) fail(`job ${job.id}: tile ${i} below nextFresh untouched`)
    if (done !== t.done) fail(`job ${job.id}: done count ${t.done} != ${done}`)
    if (job.awaitingReady && done !== job.tileCount) fail(`job ${job.id}: awaiting with ${done}/${job.tileCount}`)
    if (job.doneBefore !== job.phase * job.tileCount) fail(`job ${job.id}: doneBefore ${job.doneBefore}`)
  }
  for (const job of s.jobs.values()) {
    if (!seenActive.has(job) && job.tiles !== undefined) fail(`job ${job.id} has tiles but is not active`)
    if (!seenActive.has(job) && (job.state === 'queued' || job.state === 'running')) fail(`job ${job.id} is ${job.state} but not active`)
  }
  if (leased !== s.leases.size) fail(`${s.leases.size} leases registered, ${leased} on tiles`)
  let heldCount = 0
  for (const [peer, ids] of s.held) {
    if (ids.size === 0) fail(`${peer} holds an empty lease set`)
    for (const id of ids) if (s.leases.get(id)?.peer !== peer) fail(`${peer} holds ${id}, which is not its lease`)
    heldCount += ids.size
  }
  if (heldCount !== s.leases.size) fail(`held ${heldCount} != leases ${s.leases.size}`)
  for (const peer of s.blocked.keys()) if (s.held.has(peer)) fail(`distrusted ${peer} holds leases`)
}
