// What the master decides, as a pure step: stepMaster(plan, event) -> commands. The runtime
// (master.ts) reads the clock, the membership and the disk, feeds what happened here as events, and
// only executes the commands: feed the queue, send a tile, store a result, merge, stitch, tell
// watchers. No I/O, clock or randomness here: time comes in the events.
//
// A command's outcome comes back as another event (a tile sent comes back as `delivered` or
// `undelivered`, a result stored as `stored`...). The queue's own effects come back as `effects`.
import { autoTileSize, coreInTile, mergeStats, planTiles, type OutputFormat, type Pipeline, type Tile } from '../ops/index.ts'
import { CANCELLED_REASON, WAITING_MAX_CHARS, type JobEvent, type TileRequest } from '../transfer/messages.ts'
import type { TileNotice } from '../transfer/tile-done.ts'
import {
  blockedPeers, getJob, isChecked, leaseEpoch, leasesOf, listJobs, phaseData, tilesLeft, type JobState, type QueueEffect, type QueueEvent, type QueueState, type TileAddress
} from './queue-machine.ts'

/**
 * A peer a tile could not be delivered to gets no new tiles for this long: long enough for a dropped
 * connection to be redialled, short enough that a healed peer is soon busy again.
 */
export const UNREACHABLE_MS = 1000

/** How often work that waits on files this master lacks (an output, a phase's statistics) is retried. */
export const REPAIR_MS = 2000
/**
 * A job no peer took as a new standby (none other is alive, or those alive refused) is asked about again
 * this much later, not at every repair: each try lists the job's files, and a swarm of one has many jobs.
 */
export const RESTANDBY_RETRY_MS = 10_000
/** Jobs being given standbys (or checked) at once: a new master with a long history asks a few at a time. */
export const MAX_RESTANDBYS = 4

// In defaults.ts (its reason is with it), which imports nothing: `swarm start --help` prints it.
export { DEFAULT_VERIFY } from './defaults.ts'

/**
 * The tiles of a job whose results are checked: each with probability `fraction`, drawn with `random`
 * (uniform in [0, 1)) at submit, so a worker cannot tell from a tile whether it is one of them.
 */
export function checkedTiles (tileCount: number, fraction: number, random: () => number): number[] {
  if (!(fraction > 0)) return []
  const out: number[] = []
  for (let i = 0; i < tileCount; i++) if (fraction >= 1 || random() < fraction) out.push(i)
  return out
}

/**
 * A lease is renewed for at most this many times as long as the peer took, per pixel, for its tiles of the
 * same job so far (the same pipeline, so the same work per pixel): far beyond an honest peer's spread
 * (another job on it, a thermal throttle), and a peer that says "working" on a tile it is not computing
 * loses it after a bounded time. A tile's progress inside one kernel call cannot be seen, so the speed a
 * peer has shown is the measure.
 */
export const LEASE_SPEED_FACTOR = 10
/** Never less than this many lease lengths, however fast the peer was: its first tiles may have been cheap ones. */
export const MIN_LEASE_BOUND_LEASES = 4
/** Peers measured per job (one entry each); results beyond are not measured. */
const MAX_MEASURED = 4096

/** A worker that computes says "working" this often per lease: four chances before the lease runs out. */
export const renewMsFor = (leaseMs: number): number => Math.max(10, Math.floor(leaseMs / 4))

/** The longest silence the master accepts from a worker on a tile stream: three missed renewals, 5 s at least. */
export const readTimeoutMsFor = (leaseMs: number): number => Math.max(3 * renewMsFor(leaseMs), 5000)

/** The queue's timer: a tenth of a lease (expiries are noticed within 10% of it), between 50 ms and 1 s. */
export const tickMsFor = (leaseMs: number): number => Math.min(1000, Math.max(50, Math.floor(leaseMs / 10)))

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
  /** Who submitted it, as the client said (for people to read). */
  submitter?: string
  /** The account that submitted it, from the request's signature (absent in an open swarm). */
  owner?: string
  /** Its result cache key (result-cache.ts): a later job with the same key gets this job's output. */
  cacheKey?: string
  /** The input file's SHA-256 (hex): workers fetch it from any holder and check it (jobs queued before it had none). */
  inputSha256?: string
  /** The input file's size in bytes, for its history (jobs queued before it was kept have none). */
  inputBytes?: number
}

export interface PlannerConfig {
  /** this peer's id */
  self: string
  /** this peer's own tile slots */
  slots: number
  leaseMs: number
  /**
   * The master works tiles itself only while fewer than this many other peers offer slots: beyond
   * that, handing out tiles, storing results and replicating the queue keep it busy, and a tile it
   * works itself holds up every other peer's next tile.
   */
  masterWorkLimit: number
  /** Tile edge for jobs that name none; undefined: fitted to each image and the swarm (autoTileSize). */
  tileSize?: number
  /** Live peers besides this one that should hold each job's files (default 1). */
  standbys?: number
}

/** A live peer's load, from its last heartbeat (freeMem: bytes of free memory on its device). */
export interface PeerLoad { peer: string, freeSlots: number, busyTiles: number, freeMem?: number }

/**
 * A worker cuts its own tiles from the decoded input only if that fits in this share of its free
 * memory: a Pi short of memory gets its tiles' pixels from the master instead of swapping.
 */
export const INPUT_MEMORY_SHARE = 0.25

/**
 * A worker keeps a job's input decoded whole up to this size (a 20 MP photo): its tiles are then cut
 * without decoding again. A larger input is decoded one tile's rectangle at a time, in a sequential
 * pass per tile: more CPU, but no peer holds a large image whole.
 */
export const WHOLE_INPUT_MAX_BYTES = 64 * 1024 * 1024

/** A tile the queue leased, as the queue said in its `assign` effect (speculative: a copy at a job's end). */
export type Lease = TileAddress & { peer: string, leaseId: string, epoch: number, attempt: number, speculative?: true }

/** What a worker sent back, without the pixels: enough to judge it. */
export type ResultShape =
  | { kind: 'stats', stats: unknown }
  | { kind: 'image', width: number, height: number, channels: number, bytes: number }

/**
 * Why a tile did not come back. The runtime names the kind from the error it saw; which kinds count
 * against the tile and which keep the peer out for a while is decided here.
 */
export type FailureKind =
  /** no connection, a dial or a read that timed out */
  | 'unreachable'
  /** the stream ended before the answer: a connection lost midway */
  | 'streamEnded'
  /** the worker follows a newer master */
  | 'staleEpoch'
  /** the job's files are on no reachable peer right now */
  | 'missingFile'
  /** the job's input could not be loaded here */
  | 'inputUnavailable'
  /** this master could not store the result (its own disk) */
  | 'local'
  /** the worker's memory budget had no room for the tile now */
  | 'noMemory'
  /** the worker answered with an error: the work itself failed */
  | 'workerError'
  /** an answer that breaks the protocol */
  | 'malformed'
  /** a result of the wrong kind or shape, refused here */
  | 'wrongResult'

/** Failures for want of a connection do not count toward a tile's attempts: a partition must not fail jobs. */
export const isTransient = (kind: FailureKind): boolean =>
  kind === 'unreachable' || kind === 'streamEnded' || kind === 'staleEpoch' || kind === 'missingFile' || kind === 'inputUnavailable' || kind === 'local' || kind === 'noMemory'

/**
 * Failures that say the peer cannot take work now (unreachable, or its memory full): it gets no new tiles
 * for UNREACHABLE_MS, then its heartbeat's free memory says again what it can take.
 */
const keepsPeerOut = (kind: FailureKind): boolean => kind === 'unreachable' || kind === 'streamEnded' || kind === 'staleEpoch' || kind === 'noMemory'

export interface MasterPlan {
  readonly cfg: PlannerConfig
  /** the queue store's state: read here, stepped only by the runtime through `queue` commands */
  readonly queue: QueueState
  readonly epoch: number
  /** the live peers' loads at the last `activated` or `tick` */
  view: PeerLoad[]
  /** peers a tile could not be delivered to, and until when they get no work */
  readonly unreachable: Map<string, number>
  /** jobs whose statistics are being merged, and jobs being stitched: one of each at a time */
  readonly merging: Set<string>
  readonly finishing: Set<string>
  /** jobs whose output this master knows is stored */
  readonly stitched: Set<string>
  lastRepair: number
  /** each job's tiles (planTiles is deterministic: cached, not persisted) */
  readonly tiles: Map<string, Tile[]>
  /**
   * Standbys this master added to jobs (those chosen at submit died, or one of them is this master), and jobs
   * being given new ones. Not persisted: a later master checks again and adds its own.
   */
  readonly addedStandbys: Map<string, string[]>
  readonly restandbying: Set<string>
  /** jobs no peer took as a new standby, and when to ask again */
  readonly restandbyAfter: Map<string, number>
  /** finished jobs whose output this master has checked is on enough live peers */
  readonly verifiedCopies: Set<string>
  /** when each peer's recent results were stored (within PROVEN_WINDOW_MS, at most MAX_PROVEN kept) */
  readonly delivered: Map<string, number[]>
  /**
   * Tiles ("job/phase/index") whose stored copies may be wrong (a distrusted peer's, or results that
   * disagree): their next result comes here with its pixels and replaces the copies on the standbys.
   */
  readonly redo: Set<string>
  /** when each outstanding lease was sent, and its tile's pixels (halo included) */
  readonly sent: Map<string, { at: number, px: number, warned?: true }>
  /** each job's measured cost per peer: ms per pixel, an average of its stored results */
  readonly speed: Map<string, Map<string, number>>
  /**
   * Jobs whose last result this master could not store on its own disk, and the error (naming the path):
   * the job waits for the disk, and its watchers are told why, until a result of it is stored again.
   */
  readonly diskTrouble: Map<string, string>
  /** when the swarm's recent tiles were stored, oldest first (within PROVEN_WINDOW_MS, at most MAX_RATE_SAMPLES): its rate, for ETAs */
  readonly finishedTiles: number[]
}

export type MasterEvent =
  /** the queue is loaded: take over */
  | { type: 'activated', now: number, view: PeerLoad[] }
  /** the runtime's timer, or the membership changed */
  | { type: 'tick', now: number, view: PeerLoad[] }
  /** what the queue said to a `queue` command */
  | { type: 'effects', effects: QueueEffect[], now: number }
  /** a worker is still computing a tile */
  | { type: 'working', lease: Lease, now: number }
  /** a worker's result, before it is stored (the worker waits for the answer) */
  | { type: 'delivered', lease: Lease, result: ResultShape, kept: boolean, now: number }
  /** the result was stored: the queue may count the tile (hash: of the result, for a checked tile) */
  | { type: 'stored', lease: Lease, hash?: string, now: number }
  /** the tile did not come back */
  | { type: 'undelivered', lease: Lease, failure: FailureKind, message: string, now: number }
  /** a worker's word about a tile leased by an earlier master (tile-done protocol) */
  | { type: 'notice', notice: TileNotice, from: string, now: number }
  /** the pixels a worker kept, fetched after its notice, or why they could not be */
  | { type: 'fetched', lease: Lease, result?: ResultShape, hash?: string, message?: string, now: number }
  /** a phase's statistics, read back from every tile, or why they could not be */
  | { type: 'statsLoaded', jobId: string, phase: number, stats?: unknown[], message?: string, now: number }
  /** a job's output, built or found, or why not yet */
  | { type: 'stitched', jobId: string, bytes?: number, existed?: boolean, message?: string, now: number }
  /**
   * peers that took a copy of a job's files as its new standbys (none: try again later); verified: a
   * finished job's output is now on enough live peers (checked on each, not assumed)
   */
  | { type: 'standbys', jobId: string, peers: string[], verified?: boolean, now: number }

export type MasterCommand =
  /**
   * Step the queue (persisted before its effects are acted on). `answer`: this step's outcome answers
   * the event's sender (taken unless the queue ignored it). `delayMs`: wait this long first.
   */
  | { type: 'queue', event: QueueEvent, answer?: true, delayMs?: number }
  /** cut the tile from the input and send it (or run it here when lease.peer is this peer) */
  | { type: 'send', lease: Lease, tile: Tile, request: TileRequest, readTimeoutMs: number }
  /** stop sending or waiting for this lease */
  | { type: 'abort', leaseId: string }
  /** refuse a worker's result: it gets an error answer, and the tile fails */
  | { type: 'refuse', lease: Lease, reason: string }
  /**
   * write the result, and unless the worker kept a copy, send one to the job's standbys; hash: a checked
   * tile, whose result's SHA-256 `stored` reports (pixels that stayed with the worker are read back first)
   */
  | { type: 'store', lease: Lease, kept: boolean, hash: boolean }
  /** bring the tile a worker kept here (from it or any peer that has them) and report its shape (and hash) */
  | { type: 'fetch', lease: Lease, hash: boolean }
  /** read the statistics of every tile of a phase (from peers where missing) */
  | { type: 'loadStats', jobId: string, phase: number, count: number }
  /** build the job's output from its tiles, or fetch it if a peer has it already */
  | { type: 'stitch', jobId: string, tiles: Tile[] }
  /**
   * give a job `want` more standbys, none of `exclude`: copy it every file of the job this peer holds;
   * verify: a finished job, whose output is to be on `want` live peers besides this one (checked on each)
   */
  | { type: 'restandby', jobId: string, want: number, exclude: string[], verify?: true }
  /** drop what this peer keeps for a job that will not finish */
  | { type: 'forget', jobId: string }
  /** answer the event's sender directly */
  | { type: 'answer', value: boolean }
  | { type: 'emit', event: JobEvent }
  | { type: 'log', level: 'info' | 'warn', msg: string, fields?: Record<string, unknown> }

export function newPlan (cfg: PlannerConfig, queue: QueueState, epoch: number): MasterPlan {
  return {
    cfg, queue, epoch, view: [], unreachable: new Map(), merging: new Set(), finishing: new Set(), stitched: new Set(), lastRepair: 0, tiles: new Map(),
    addedStandbys: new Map(), restandbying: new Set(), restandbyAfter: new Map(), delivered: new Map(), verifiedCopies: new Set(), redo: new Set(), sent: new Map(), speed: new Map(), diskTrouble: new Map(), finishedTiles: []
  }
}

const short = (peer: string): string => peer.slice(-8)
const tileKey = (t: TileAddress): string => `${t.jobId}/${t.phase}/${t.index}`
const where = (l: Lease): TileAddress & { leaseId: string, peer: string, epoch: number } =>
  ({ jobId: l.jobId, phase: l.phase, index: l.index, leaseId: l.leaseId, peer: l.peer, epoch: l.epoch })

/**
 * Slots a peer is trusted with before it shows it uses them: its capacity is what it claims, but at most
 * this many plus the results it delivered in the last PROVEN_WINDOW_MS. Found from outside: a peer that
 * claimed 64 slots took 36 tiles of a 40-tile job and held them. An honest peer reaches its real slots
 * after as many results (seconds), and a slow one keeps a share that matches its speed.
 */
export const UNPROVEN_SLOTS = 2
export const PROVEN_WINDOW_MS = 60_000
/** Results remembered per peer: more than any peer's slots, so the cap never binds an honest one. */
const MAX_PROVEN = 256

function proven (plan: MasterPlan, peer: string, now: number): number {
  const at = plan.delivered.get(peer)
  if (at == null) return 0
  while (at.length > 0 && at[0] <= now - PROVEN_WINDOW_MS) at.shift()
  return at.length
}

function noteDelivered (plan: MasterPlan, peer: string, now: number): void {
  if (peer === plan.cfg.self) return
  const at = plan.delivered.get(peer) ?? []
  at.push(now)
  if (at.length > MAX_PROVEN) at.shift()
  plan.delivered.set(peer, at)
}

/**
 * Each live peer's capacity (free + busy slots, capped by what it has shown: UNPROVEN_SLOTS), this peer's own
 * while few others work. `claimed`: the slots as the peers say, uncapped (for sizing tiles).
 */
export function capacity (plan: MasterPlan, now: number, claimed = false): Array<{ peer: string, freeSlots: number, alive: true }> {
  const distrusted = new Set(blockedPeers(plan.queue).map(b => b.peer))
  const view = plan.view.map(hb => {
    const blocked = (plan.unreachable.get(hb.peer) ?? 0) > now || distrusted.has(hb.peer)
    const says = hb.freeSlots + hb.busyTiles
    const slots = claimed ? says : Math.min(says, UNPROVEN_SLOTS + proven(plan, hb.peer, now))
    return { peer: hb.peer, freeSlots: blocked ? 0 : slots, alive: true as const }
  })
  const workers = view.filter(v => v.freeSlots > 0).length
  // Kept out like any worker (its own memory full): else its slots, freed at once by each refusal, drew
  // the same tile back again and again, and no other peer got it (a tile refused here for 3 minutes).
  const selfOut = (plan.unreachable.get(plan.cfg.self) ?? 0) > now
  view.push({ peer: plan.cfg.self, freeSlots: workers < plan.cfg.masterWorkLimit && !selfOut ? plan.cfg.slots : 0, alive: true })
  return view
}

/** The tile edge for a new job: the one configured, else one fitted to the image and the swarm's slots. */
export function tileSizeFor (plan: MasterPlan, width: number, height: number, now: number): number {
  if (plan.cfg.tileSize != null) return plan.cfg.tileSize
  // The slots the peers claim: tiles are sized for the swarm they will have once each has shown its slots.
  return autoTileSize(width, height, capacity(plan, now, true).reduce((n, v) => n + v.freeSlots, 0))
}

/** A job's standbys: those chosen at submit, then those this master added. */
export function standbysOf (plan: MasterPlan, jobId: string): string[] {
  const meta = metaOf(plan, jobId)
  return [...new Set([...(meta?.standbys ?? []), ...(plan.addedStandbys.get(jobId) ?? [])])]
}

export function metaOf (plan: MasterPlan, jobId: string): JobMeta | undefined {
  return getJob(plan.queue, jobId)?.meta as JobMeta | undefined
}

export function tilesOf (plan: MasterPlan, jobId: string, meta: JobMeta): Tile[] {
  let tiles = plan.tiles.get(jobId)
  if (tiles == null) plan.tiles.set(jobId, tiles = planTiles(meta.width, meta.height, meta.tileSize, meta.halo))
  return tiles
}

/** A watcher's view of a job's progress; with `now`, its ETA when the swarm's rate is known. */
export function progressOf (plan: MasterPlan, jobId: string, now?: number): JobEvent | undefined {
  const job = getJob(plan.queue, jobId)
  if (job == null) return undefined
  const waiting = waitingOf(plan, jobId)
  const etaMs = now == null || waiting != null ? undefined : etaOf(plan, jobId, now)
  return {
    type: 'progress', jobId, state: job.state, done: job.done, total: job.total, phase: job.phase, phaseCount: job.phaseCount, peers: job.leasedTo, queuePosition: 0,
    ...(waiting != null ? { waiting } : {}),
    ...(etaMs != null ? { etaMs } : {})
  }
}

/** Tile completions kept for the swarm's rate: a minute of a busy swarm of fast peers. */
const MAX_RATE_SAMPLES = 2048

function noteFinished (plan: MasterPlan, now: number): void {
  plan.finishedTiles.push(now)
  if (plan.finishedTiles.length > MAX_RATE_SAMPLES) plan.finishedTiles.shift()
}

/**
 * The time left for a job, in ms, when the swarm has finished tiles within the last minute: the slots are
 * shared between running jobs (fair share), so until this job ends every other job takes as many of its
 * tiles as this one does, up to what it has left. The sum of those, over the swarm's recent tiles per ms.
 * An estimate: tiles of other sizes and ops, a peer joining or leaving, all change it.
 */
export function etaOf (plan: MasterPlan, jobId: string, now: number): number | undefined {
  const at = plan.finishedTiles
  while (at.length > 0 && at[0] <= now - PROVEN_WINDOW_MS) at.shift()
  // Called for every progress event: the active jobs only, not a view of every job the queue keeps.
  const active = tilesLeft(plan.queue)
  const left = active.find(j => j.id === jobId)?.left
  if (left == null || at.length < 2) return undefined
  const span = now - at[0]
  if (span <= 0) return undefined
  let tiles = 0
  for (const j of active) tiles += Math.min(j.left, left)
  return Math.round(tiles / (at.length / span))
}

/** Why the job is not moving, when this master knows (its own disk refused a result); else undefined. */
export function waitingOf (plan: MasterPlan, jobId: string): string | undefined {
  const trouble = plan.diskTrouble.get(jobId)
  return trouble == null ? undefined : `the master cannot store results on its disk: ${trouble}`.slice(0, WAITING_MAX_CHARS)
}

/** Feeds one event; mutates the plan in place (as the queue machine does) and says what to do. */
export function stepMaster (plan: MasterPlan, event: MasterEvent): MasterCommand[] {
  switch (event.type) {
    case 'activated': return activated(plan, event)
    case 'tick': {
      plan.view = event.view
      const out = refresh(plan, event.now)
      if (event.now - plan.lastRepair > REPAIR_MS) out.push(...repair(plan, event.now))
      return out
    }
    case 'effects': return onEffects(plan, event.effects, event.now)
    case 'working': return working(plan, event.lease, event.now)
    case 'delivered': return judge(plan, event.lease, event.result, event.kept)
    case 'stored':
      plan.diskTrouble.delete(event.lease.jobId)
      noteDelivered(plan, event.lease.peer, event.now)
      noteFinished(plan, event.now)
      measure(plan, event.lease, event.now)
      return [{ type: 'queue', event: { type: 'done', ...where(event.lease), ...(event.hash != null ? { hash: event.hash } : {}), now: event.now }, answer: true }]
    case 'undelivered':
      plan.sent.delete(event.lease.leaseId)
      return undelivered(plan, event)
    case 'notice': return notice(plan, event)
    case 'fetched': return fetched(plan, event)
    case 'statsLoaded': return statsLoaded(plan, event)
    case 'stitched': return stitched(plan, event)
    case 'standbys': {
      plan.restandbying.delete(event.jobId)
      if (event.verified === true) plan.verifiedCopies.add(event.jobId)
      if (event.peers.length === 0) {
        if (event.verified === true) return []
        plan.restandbyAfter.set(event.jobId, event.now + RESTANDBY_RETRY_MS)
        return []
      }
      plan.restandbyAfter.delete(event.jobId)
      plan.addedStandbys.set(event.jobId, [...plan.addedStandbys.get(event.jobId) ?? [], ...event.peers])
      return [{ type: 'log', level: 'info', msg: `job ${event.jobId}: new standby ${event.peers.map(short).join(', ')}` }]
    }
  }
}

function activated (plan: MasterPlan, e: Extract<MasterEvent, { type: 'activated' }>): MasterCommand[] {
  plan.view = e.view
  const out: MasterCommand[] = [{ type: 'queue', event: { type: 'elected', epoch: plan.epoch, now: e.now } }]
  // Leases given by an earlier master survive (the queue keeps them): a live worker renews them and
  // sends its result here over the tile-done protocol, so only orphaned tiles are redone. A holder
  // that is not alive now gets its tiles re-queued at once rather than at the lease deadline.
  const alive = new Set([plan.cfg.self, ...e.view.map(v => v.peer)])
  const holders = new Set([...plan.queue.leases.values()].map(l => l.peer))
  for (const peer of holders) if (!alive.has(peer)) out.push({ type: 'queue', event: { type: 'peerDead', peer, now: e.now } })
  out.push(...refresh(plan, e.now))
  const jobs = listJobs(plan.queue).length
  // Said as what it means to the person at the terminal; `loaded` marks the line for logs and tests.
  out.push({ type: 'log', level: 'info', msg: `this peer is master at epoch ${plan.epoch}: ${jobs} job(s) in the queue${jobs > 0 ? ' (kept from before: they go on)' : ''}`, fields: { jobs, epoch: plan.epoch, loaded: true } })
  const users = plan.queue.users.size
  out.push({
    type: 'log',
    level: 'info',
    msg: users === 0
      ? 'no accounts: an open swarm, where every device with the swarm key sees and cancels every job (`swarm user add NAME` makes the first account, its admin)'
      : `${users} account(s): every request must be signed by one (swarm login)`,
    fields: { accounts: users }
  })
  out.push(...repair(plan, e.now))
  return out
}

/** The queue hears the swarm's capacity, then the time (which dispatches and expires). */
function refresh (plan: MasterPlan, now: number): MasterCommand[] {
  return [{ type: 'queue', event: { type: 'peers', view: capacity(plan, now), now } }, { type: 'queue', event: { type: 'tick', now } }]
}

/**
 * Work that waits on files this master lacks (a finished job's output or tiles, a phase's
 * statistics) is retried until the peers holding them are back: a master and its standby may both
 * have been down when this one took over.
 */
function repair (plan: MasterPlan, now: number): MasterCommand[] {
  plan.lastRepair = now
  const out: MasterCommand[] = []
  for (const job of listJobs(plan.queue)) {
    if (job.state === 'done') out.push(...stitch(plan, job.id))
    else if (getJob(plan.queue, job.id)?.awaitingMerge === true) out.push(...merge(plan, job.id, job.phase))
    out.push(...restandby(plan, job.id, job.state, now))
  }
  return out
}

/**
 * Durability after a failover: a job keeps its files on `standbys` live peers besides this master, as soon
 * as the swarm has them. The standby chosen at submit is the likeliest next master, so when it takes over
 * (or dies) the job would be on one peer only; another is made its standby, with every file of the job.
 * A finished job counts once its output is stored here (its input and tiles then go everywhere).
 */
function restandby (plan: MasterPlan, jobId: string, state: JobState, now: number): MasterCommand[] {
  if (state === 'failed' || state === 'cancelled' || plan.restandbying.has(jobId)) return []
  if ((plan.restandbyAfter.get(jobId) ?? 0) > now || plan.restandbying.size >= MAX_RESTANDBYS) return []
  if (state === 'done' && !plan.stitched.has(jobId)) return []
  // Given up by retention or the disk cap: there is nothing left to copy, on purpose.
  if (getJob(plan.queue, jobId)?.removedAt != null) return []
  const live = new Set(plan.view.map(v => v.peer).filter(p => p !== plan.cfg.self))
  const target = Math.min(plan.cfg.standbys ?? 1, live.size)
  // A finished job, once per master: a standby alive now may have been down when the output was made
  // (or the peer that took it instead is gone), and who took it was not persisted. Checked, not assumed.
  const verify = state === 'done' && !plan.verifiedCopies.has(jobId)
  const standbys = standbysOf(plan, jobId)
  const want = verify ? target : target - standbys.filter(p => live.has(p)).length
  if (want <= 0) return []
  plan.restandbying.add(jobId)
  return [verify
    ? { type: 'restandby', jobId, want, exclude: [plan.cfg.self], verify: true }
    : { type: 'restandby', jobId, want, exclude: [plan.cfg.self, ...standbys] }]
}

function stitch (plan: MasterPlan, jobId: string): MasterCommand[] {
  const meta = metaOf(plan, jobId)
  if (meta == null || plan.finishing.has(jobId) || plan.stitched.has(jobId)) return []
  // Its files were given up (retention, the disk cap): a new master must not build it again from nothing.
  if (getJob(plan.queue, jobId)?.removedAt != null) return []
  plan.finishing.add(jobId)
  return [{ type: 'stitch', jobId, tiles: tilesOf(plan, jobId, meta) }]
}

function merge (plan: MasterPlan, jobId: string, phase: number): MasterCommand[] {
  const meta = metaOf(plan, jobId)
  if (meta == null || plan.merging.has(jobId)) return []
  plan.merging.add(jobId)
  return [{ type: 'loadStats', jobId, phase, count: tilesOf(plan, jobId, meta).length }]
}

function onEffects (plan: MasterPlan, effects: QueueEffect[], now: number): MasterCommand[] {
  const out: MasterCommand[] = []
  const touched = new Set<string>()
  for (const e of effects) {
    switch (e.type) {
      case 'assign': out.push(...send(plan, e, now)); break
      case 'revoke':
        plan.sent.delete(e.leaseId)
        out.push({ type: 'abort', leaseId: e.leaseId })
        break
      case 'phaseComplete': out.push(...merge(plan, e.jobId, e.phase)); break
      case 'jobDone': out.push(...stitch(plan, e.jobId)); break
      case 'jobFailed':
      case 'jobCancelled': {
        plan.tiles.delete(e.jobId)
        plan.speed.delete(e.jobId)
        plan.diskTrouble.delete(e.jobId)
        // A cancelled job ends for its watchers as a failure would, with the reason the jobs list shows.
        const reason = e.type === 'jobFailed' ? e.reason : CANCELLED_REASON
        out.push({ type: 'log', level: e.type === 'jobFailed' ? 'warn' : 'info', msg: e.type === 'jobFailed' ? `job ${e.jobId} failed: ${reason}` : `job ${e.jobId} cancelled` })
        out.push({ type: 'emit', event: { type: 'failed', jobId: e.jobId, reason } })
        out.push({ type: 'forget', jobId: e.jobId })
        break
      }
      case 'tileDone':
        plan.redo.delete(tileKey(e))
        touched.add(e.jobId)
        break
      case 'requeued': case 'jobQueued': touched.add(e.jobId); break
      case 'verifying':
        if (!e.disputed) break
        plan.redo.add(tileKey(e))
        out.push({ type: 'log', level: 'warn', msg: `tile ${tileKey(e)}: the results of two peers differ; a third decides`, fields: { jobId: e.jobId, peer: e.peer } })
        break
      case 'redo': plan.redo.add(tileKey(e)); touched.add(e.jobId); break
      case 'unverified':
        out.push({ type: 'log', level: 'info', msg: `tile ${tileKey(e)} taken unchecked from ${short(e.peer)}: ${e.reason}` })
        break
      case 'distrusted':
        out.push({ type: 'log', level: 'warn', msg: `peer ${e.peer} is distrusted and gets no more tiles: ${e.reason}`, fields: { peer: e.peer } })
        break
      default: break
    }
  }
  for (const jobId of touched) {
    const p = progressOf(plan, jobId, now)
    if (p != null) out.push({ type: 'emit', event: p })
  }
  return out
}

function send (plan: MasterPlan, a: Extract<QueueEffect, { type: 'assign' }>, now: number): MasterCommand[] {
  const lease: Lease = { jobId: a.jobId, phase: a.phase, index: a.index, peer: a.peer, leaseId: a.leaseId, epoch: a.epoch, attempt: a.attempt, ...(a.speculative === true ? { speculative: true } : {}) }
  const meta = metaOf(plan, a.jobId)
  const tile = meta == null ? undefined : tilesOf(plan, a.jobId, meta)[a.index]
  if (meta == null || tile == null) {
    return [{ type: 'queue', event: { type: 'failed', ...where(lease), reason: `tile ${a.index} of job ${a.jobId} is not in its plan`, now } }]
  }
  const request = requestFor(plan, lease, meta, tile)
  plan.sent.set(lease.leaseId, { at: now, px: tile.halo.width * tile.halo.height })
  return [{ type: 'send', lease, tile, request, readTimeoutMs: readTimeoutMsFor(plan.cfg.leaseMs) }]
}

function requestFor (plan: MasterPlan, lease: Lease, meta: JobMeta, tile: Tile): TileRequest {
  const stats: unknown[] = []
  for (let k = 1; k <= lease.phase; k++) stats.push(phaseData(plan.queue, lease.jobId, k))
  return {
    jobId: lease.jobId,
    phase: lease.phase,
    index: lease.index,
    leaseId: lease.leaseId,
    epoch: lease.epoch,
    pipeline: meta.pipeline,
    width: tile.halo.width,
    height: tile.halo.height,
    channels: meta.channels as 1 | 2 | 3 | 4,
    core: coreInTile(tile),
    stats,
    renewMs: renewMsFor(plan.cfg.leaseMs),
    ...copyTo(plan, lease, meta),
    ...source(plan, lease, meta, tile)
  }
}

/**
 * The work of a finished job's tile whose result no live peer has (every peer that held it died), for this
 * master's own worker to do again at the stitch. The queue counted the tile long ago and has let go of it,
 * and the stitch cannot wait for a copy that will never come; the input is on this master, so the tile can
 * be made again from it. Undefined for a job or tile this plan does not know.
 */
export function lostTileRequest (plan: MasterPlan, jobId: string, index: number): { tile: Tile, request: TileRequest } | undefined {
  const meta = metaOf(plan, jobId)
  const tile = meta == null ? undefined : tilesOf(plan, jobId, meta)[index]
  if (meta == null || tile == null) return undefined
  const phase = (getJob(plan.queue, jobId)?.phaseCount ?? 1) - 1
  const lease: Lease = { jobId, phase, index, peer: plan.cfg.self, leaseId: `${plan.epoch}:lost-${index}`, epoch: plan.epoch, attempt: 0 }
  return { tile, request: requestFor(plan, lease, meta, tile) }
}

/**
 * How long a lease may be renewed, from when it was sent: LEASE_SPEED_FACTOR times what the peer took for
 * this many pixels of the job before (undefined: not measured yet, and the queue's maxLeaseMs bounds it).
 */
export function leaseBoundMs (plan: MasterPlan, lease: Lease): number | undefined {
  const sent = plan.sent.get(lease.leaseId)
  const msPerPx = plan.speed.get(lease.jobId)?.get(lease.peer)
  if (sent == null || msPerPx == null) return undefined
  return Math.max(MIN_LEASE_BOUND_LEASES * plan.cfg.leaseMs, LEASE_SPEED_FACTOR * msPerPx * sent.px)
}

function working (plan: MasterPlan, lease: Lease, now: number): MasterCommand[] {
  const bound = leaseBoundMs(plan, lease)
  const sent = plan.sent.get(lease.leaseId)
  if (bound == null || sent == null || now - sent.at <= bound) return [{ type: 'queue', event: { type: 'renew', ...where(lease), now } }]
  // Not renewed: the lease lapses at its deadline (a stall, not counted) and the tile goes to another peer.
  const out: MasterCommand[] = []
  if (sent.warned !== true) {
    out.push({ type: 'log', level: 'warn', msg: `tile ${tileKey(lease)} on ${short(lease.peer)}: still "working" after ${Math.round((now - sent.at) / 1000)} s, ${LEASE_SPEED_FACTOR}x what its tiles of this job took; not renewed`, fields: { jobId: lease.jobId, peer: lease.peer } })
    sent.warned = true
  }
  return out
}

/** A stored result: the time since its tile was sent, per pixel, into the peer's average for the job. */
function measure (plan: MasterPlan, lease: Lease, now: number): void {
  const sent = plan.sent.get(lease.leaseId)
  plan.sent.delete(lease.leaseId)
  if (sent == null || sent.px <= 0) return
  let byPeer = plan.speed.get(lease.jobId)
  if (byPeer == null) plan.speed.set(lease.jobId, byPeer = new Map())
  if (!byPeer.has(lease.peer) && byPeer.size >= MAX_MEASURED) return
  const took = Math.max(0, now - sent.at) / sent.px
  const before = byPeer.get(lease.peer)
  byPeer.set(lease.peer, before == null ? took : 0.7 * before + 0.3 * took)
}

/**
 * The final pixels of a tile worked elsewhere go from the worker to the job's standbys, not through
 * the master: the worker keeps them and copies them on, so the master carries no pixels. A worker that
 * is the job's only standby (or the master itself) sends them here as before.
 */
function copyTo (plan: MasterPlan, lease: Lease, meta: JobMeta): { copyTo?: string[] } {
  if (lease.peer === plan.cfg.self || !isLastPhase(plan, lease.jobId, lease.phase) || plan.redo.has(tileKey(lease))) return {}
  const peers = standbysOf(plan, lease.jobId).filter(p => p !== lease.peer && p !== plan.cfg.self)
  return peers.length > 0 ? { copyTo: peers } : {}
}

/**
 * Workers fetch the job's input once (from the standbys first, then this master) and cut their tiles
 * from it, so tiles' pixels do not pass through the master either; unless what the worker would hold
 * decoded (the input, or one tile of a large input) would not fit its memory, or the job predates input
 * hashes.
 */
function source (plan: MasterPlan, lease: Lease, meta: JobMeta, tile: Tile): { source?: NonNullable<TileRequest['source']> } {
  if (meta.inputSha256 == null) return {}
  // The master's own tiles too: cutting them from a decoded copy held here would keep the whole input in
  // the master's memory for as long as the job runs; its own worker decodes what it needs, as any worker
  // does, from the file it already has.
  if (lease.peer !== plan.cfg.self) {
    const freeMem = plan.view.find(v => v.peer === lease.peer)?.freeMem ?? 0
    const decoded = meta.width * meta.height * meta.channels
    const need = decoded <= WHOLE_INPUT_MAX_BYTES ? decoded : tile.halo.width * tile.halo.height * meta.channels
    if (need > freeMem * INPUT_MEMORY_SHARE) return {}
  }
  const holders = [...standbysOf(plan, lease.jobId).filter(p => p !== plan.cfg.self), plan.cfg.self].slice(0, 8)
  return { source: { sha256: meta.inputSha256, holders, x: tile.halo.x, y: tile.halo.y } }
}

const isLastPhase = (plan: MasterPlan, jobId: string, phase: number): boolean => phase === (getJob(plan.queue, jobId)?.phaseCount ?? 1) - 1

/** Why a result cannot be the tile's, or undefined when it can. */
function wrongResult (plan: MasterPlan, lease: Lease, result: ResultShape): string | undefined {
  const meta = metaOf(plan, lease.jobId)
  const tile = meta == null ? undefined : tilesOf(plan, lease.jobId, meta)[lease.index]
  if (meta == null || tile == null) return `job ${lease.jobId} has no tile ${lease.index}`
  if (!isLastPhase(plan, lease.jobId, lease.phase)) {
    if (result.kind !== 'stats') return 'expected statistics, got pixels'
    try {
      // Checked per tile now (mergeStats re-checks every tile's statistics), so garbage is caught here.
      mergeStats(meta.pipeline, lease.phase, [result.stats])
    } catch (err) {
      return (err as Error).message
    }
    return undefined
  }
  if (result.kind !== 'image') return 'expected pixels, got statistics'
  const { width, height, channels, bytes } = result
  if (width !== tile.core.width || height !== tile.core.height || channels !== meta.outChannels) {
    return `result is ${width}x${height}x${channels}, expected ${tile.core.width}x${tile.core.height}x${meta.outChannels}`
  }
  if (bytes !== width * height * channels) return `result of ${width}x${height}x${channels} has ${bytes} bytes, expected ${width * height * channels}`
  return undefined
}

/**
 * A result is checked before it is stored: anything of the wrong kind or shape is refused (and the
 * tile fails on that peer). The second copy is the worker's own when it kept one (a new master looks
 * for missing files on every live peer), else the runtime sends one to the standbys.
 */
function judge (plan: MasterPlan, lease: Lease, result: ResultShape, kept: boolean): MasterCommand[] {
  const wrong = wrongResult(plan, lease, result)
  if (wrong !== undefined) return [{ type: 'refuse', lease, reason: wrong }]
  return [{ type: 'store', lease, kept, hash: isChecked(plan.queue, lease.jobId, lease.index) }]
}

function undelivered (plan: MasterPlan, e: Extract<MasterEvent, { type: 'undelivered' }>): MasterCommand[] {
  const transient = isTransient(e.failure)
  const l = e.lease
  const out: MasterCommand[] = [{ type: 'log', level: 'warn', msg: `tile ${l.jobId}/${l.phase}/${l.index} ${transient ? 'not delivered to' : 'failed on'} ${short(l.peer)}: ${e.message}` }]
  // Unreachable for now (a partition, a cable): no work until it has had time to reconnect, instead
  // of tile after tile that cannot arrive.
  if (keepsPeerOut(e.failure)) plan.unreachable.set(l.peer, e.now + UNREACHABLE_MS)
  for (const [peer, until] of plan.unreachable) if (until <= e.now) plan.unreachable.delete(peer)
  // No reachable peer has the input right now, or this master's own disk refused the result (full,
  // read-only): the tile goes back after a while, so this does not spin; the standby or the old master
  // may come back, space may be freed. A disk failure is the master's, not the worker's: not counted
  // against the tile, and the job's watchers are told it waits for the disk (the error names the path).
  const delayMs = e.failure === 'inputUnavailable' || e.failure === 'local' ? UNREACHABLE_MS : undefined
  out.push({ type: 'queue', event: { type: 'failed', ...where(l), reason: `${short(l.peer)}: ${e.message}`, transient, now: e.now }, ...(delayMs != null ? { delayMs } : {}) })
  if (transient) out.push(...refresh(plan, e.now))
  if (e.failure === 'local') {
    plan.diskTrouble.set(l.jobId, e.message)
    const p = progressOf(plan, l.jobId, e.now)
    if (p != null) out.push({ type: 'emit', event: p })
  }
  return out
}

function notice (plan: MasterPlan, e: Extract<MasterEvent, { type: 'notice' }>): MasterCommand[] {
  const n = e.notice
  if (n.type === 'holding') {
    // Leases of earlier masters that this worker does not hold: their tile never reached it.
    const held = new Set(n.leaseIds)
    const out: MasterCommand[] = []
    for (const l of leasesOf(plan.queue, e.from)) {
      if (held.has(l.leaseId) || leaseEpoch(l.leaseId) >= plan.epoch) continue
      out.push({ type: 'queue', event: { type: 'failed', jobId: l.jobId, phase: l.phase, index: l.index, leaseId: l.leaseId, peer: e.from, reason: `${short(e.from)}: never received (its master died while sending it)`, transient: true, now: e.now } })
    }
    out.push({ type: 'answer', value: true })
    return out
  }
  const held = leasesOf(plan.queue, e.from).find(l => l.leaseId === n.leaseId && l.jobId === n.jobId && l.phase === n.phase && l.index === n.index)
  if (held == null) return [{ type: 'answer', value: false }]
  const lease: Lease = { jobId: n.jobId, phase: n.phase, index: n.index, peer: e.from, leaseId: n.leaseId, epoch: n.epoch, attempt: held.attempt }
  if (n.type === 'renew') return [{ type: 'queue', event: { type: 'renew', ...where(lease), now: e.now }, answer: true }]
  if (!isLastPhase(plan, n.jobId, n.phase)) {
    const out = judge(plan, lease, { kind: 'stats', stats: n.stats }, true)
    return out[0].type === 'refuse' ? refusedAfterFailover(lease, out[0].reason, e.now) : out
  }
  // The pixels stay with the worker: fetch them (from it, or any peer that has them) and check them.
  return [{ type: 'fetch', lease, hash: isChecked(plan.queue, lease.jobId, lease.index) }]
}

function fetched (plan: MasterPlan, e: Extract<MasterEvent, { type: 'fetched' }>): MasterCommand[] {
  if (e.result == null) {
    // Not to be had now (the worker went, a read failed): not the tile's fault.
    return [
      { type: 'log', level: 'warn', msg: `tile ${e.lease.jobId}/${e.lease.phase}/${e.lease.index} from ${short(e.lease.peer)} after a failover: ${e.message ?? 'not found'}` },
      { type: 'queue', event: { type: 'failed', ...where(e.lease), reason: `${short(e.lease.peer)}: ${e.message ?? 'not found'}`, transient: true, now: e.now } },
      { type: 'answer', value: false }
    ]
  }
  const wrong = wrongResult(plan, e.lease, e.result)
  if (wrong !== undefined) return refusedAfterFailover(e.lease, wrong, e.now)
  // Already on this peer's disk (the fetch put it there): count it.
  return [{ type: 'queue', event: { type: 'done', ...where(e.lease), ...(e.hash != null ? { hash: e.hash } : {}), now: e.now }, answer: true }]
}

function refusedAfterFailover (lease: Lease, reason: string, now: number): MasterCommand[] {
  return [
    { type: 'log', level: 'warn', msg: `tile ${lease.jobId}/${lease.phase}/${lease.index} from ${short(lease.peer)} after a failover: ${reason}` },
    { type: 'queue', event: { type: 'failed', ...where(lease), reason: `${short(lease.peer)}: ${reason}`, transient: false, now } },
    { type: 'answer', value: false }
  ]
}

function statsLoaded (plan: MasterPlan, e: Extract<MasterEvent, { type: 'statsLoaded' }>): MasterCommand[] {
  plan.merging.delete(e.jobId)
  const meta = metaOf(plan, e.jobId)
  let why = e.message
  if (why == null && meta != null && e.stats != null) {
    try {
      return [{ type: 'queue', event: { type: 'phaseReady', jobId: e.jobId, phase: e.phase + 1, data: mergeStats(meta.pipeline, e.phase, e.stats), now: e.now } }]
    } catch (err) {
      why = (err as Error).message
    }
  }
  return [{ type: 'log', level: 'warn', msg: `cannot merge statistics of ${e.jobId} phase ${e.phase} yet: ${why ?? 'unknown job'}` }]
}

function stitched (plan: MasterPlan, e: Extract<MasterEvent, { type: 'stitched' }>): MasterCommand[] {
  plan.finishing.delete(e.jobId)
  const meta = metaOf(plan, e.jobId)
  if (e.message != null || e.bytes == null || meta == null) {
    return [{ type: 'log', level: 'warn', msg: `cannot stitch job ${e.jobId} yet: ${e.message ?? 'unknown job'}` }]
  }
  plan.stitched.add(e.jobId)
  plan.tiles.delete(e.jobId)
  plan.speed.delete(e.jobId)
  plan.diskTrouble.delete(e.jobId)
  // Found stored already (by this master before a restart): its watchers were told then.
  if (e.existed === true) return []
  return [
    { type: 'log', level: 'info', msg: `job ${e.jobId} (${meta.name}) done`, fields: { jobId: e.jobId } },
    { type: 'emit', event: { type: 'result', jobId: e.jobId, format: meta.format, bytes: e.bytes, width: meta.width, height: meta.height } }
  ]
}
