// Master election as a pure state machine (in the manner of etcd-io/raft's core): it is fed the live
// view and clock ticks and returns effects; the shell persists, publishes and logs.
//
// Rules (design brief, "Election"):
// - Sticky: a live master is kept, so a joining peer never causes churn. Within its start-up grace a
//   joining peer follows only a master another peer follows (a lone claim may be a rogue's).
// - When no live master is visible (after a start-up grace that lets a new peer hear the current one),
//   the eligible peer with the most complete queue replica, then the lowest PeerId, claims epoch+1.
//   The claim is persisted before the peer acts as master (fencing survives a crash).
// - Two masters seen at once (a healed partition): the one more live peers follow wins, then the higher
//   (epoch, rank); the other steps down (masterWins).
// - An epoch is believed only in bounded steps (epochBacked): a peer far above this one's epoch counts
//   only when most other live peers are near it, so one peer cannot lift the swarm to any epoch it likes.
import type { Role } from './heartbeat.ts'

/**
 * How far above this peer's epoch another's is believed on its word alone. Epochs grow by one per
 * election (and per burnt claim), so a peer that was away through a few dozen elections still adopts the
 * swarm's epoch by itself; farther than this it needs most of the other live peers near that epoch. Found
 * from outside: one heartbeat at 2^53 made every peer claim above it, split the swarm for good, and left
 * an epoch on disk no restart could read.
 */
export const MAX_EPOCH_STEP = 64

/** The highest epoch a heartbeat may carry: claims above it stay exact integers and readable records. */
export const MAX_EPOCH = 2 ** 40

/**
 * Whether `epoch`, claimed by one of `others` (the live peers but this one), is believed by a peer at
 * `own`: a bounded step, or most of the others near it (a peer back after a long absence, the whole swarm
 * ahead of it).
 */
export function epochBacked (epoch: number, own: number, others: Candidate[]): boolean {
  if (epoch <= own + MAX_EPOCH_STEP) return true
  if (epoch > MAX_EPOCH) return false
  const near = others.filter(c => c.epoch >= epoch - MAX_EPOCH_STEP && c.epoch <= MAX_EPOCH).length
  return near * 2 > others.length
}

export interface ElectionConfig {
  self: string
  eligible: boolean
  /** A starting peer listens this long for an existing master before it may claim. */
  graceMs: number
}

/** What the election needs of a live peer: a projection of its latest heartbeat. */
export interface Candidate {
  peerId: string
  role: Role
  epoch: number
  eligible: boolean
  replicaPos: number
  /** the master this peer follows, from its heartbeat (counts towards that master's support) */
  master?: string | null
}

export interface ElectionState {
  config: ElectionConfig
  startedAt: number
  role: Exclude<Role, 'leaving'>
  /** The highest epoch this peer knows of (persisted). */
  epoch: number
  /** Our own queue-replica position, set by the shell as replication advances. */
  replicaPos: number
  master: string | null
  masterEpoch: number
  /** An epoch we decided to claim, waiting for the shell to persist it. */
  pendingClaim: number | null
  /** Peers whose epoch is not believed, with that epoch (so each refusal is told once). */
  refused: Record<string, number>
}

export type ElectionEvent =
  /**
   * unheard: peers we are connected to that speak the heartbeat protocol but have not been heard yet.
   * Our view is incomplete while there are any, so we do not claim (they may be the better candidate).
   */
  | { type: 'tick', now: number, live: Candidate[], unheard?: number }
  /** The claimed epoch is durable; `live` is the view now, which may have changed while writing. */
  | { type: 'persisted', epoch: number, live: Candidate[] }
  | { type: 'replica', replicaPos: number }

export type ElectionEffect =
  /** Write the epoch durably, then (for a claim) feed back `persisted`. */
  | { type: 'persist-epoch', epoch: number, claim: boolean }
  | { type: 'master-changed', master: string | null, epoch: number, self: boolean, previous: string | null }
  /** a peer's epoch is not believed (epochBacked): it is ignored until it comes within reach */
  | { type: 'epoch-refused', peer: string, epoch: number, own: number }

export interface ElectionResult { state: ElectionState, effects: ElectionEffect[] }

export function initElection (config: ElectionConfig, persistedEpoch: number, now: number): ElectionState {
  return { config, startedAt: now, role: 'joining', epoch: persistedEpoch, replicaPos: 0, master: null, masterEpoch: 0, pendingClaim: null, refused: {} }
}

/** true when master claim a beats b: higher epoch, then lower PeerId (the stable rank). */
export function masterBeats (a: { peerId: string, epoch: number }, b: { peerId: string, epoch: number }): boolean {
  if (a.epoch !== b.epoch) return a.epoch > b.epoch
  return a.peerId < b.peerId
}

/**
 * How many live peers stand behind a master: itself and the peers whose heartbeats say they follow it.
 * Counted from each peer's own (signed) heartbeat, so a master cannot claim followers it does not have.
 */
export function support (live: Candidate[], master: string): number {
  let n = 1
  for (const c of live) if (c.peerId !== master && c.role !== 'master' && c.master === master) n++
  return n
}

/**
 * true when master a wins over b when both are seen (a healed partition, a rival claim): the one more
 * live peers follow, then masterBeats. Stickiness: a peer that was alone, or the smaller side of a
 * partition, claimed a higher epoch meanwhile but does not take the swarm over on heal; two sides of
 * the same size fall back to the epoch. Both sides keep working while apart (availability first).
 */
export function masterWins (a: { peerId: string, epoch: number }, b: { peerId: string, epoch: number }, live: Candidate[]): boolean {
  const sa = support(live, a.peerId)
  const sb = support(live, b.peerId)
  if (sa !== sb) return sa > sb
  return masterBeats(a, b)
}

/** true when candidate a is a better successor than b: more complete replica, then lower PeerId. */
export function candidateBeats (a: { peerId: string, replicaPos: number }, b: { peerId: string, replicaPos: number }): boolean {
  if (a.replicaPos !== b.replicaPos) return a.replicaPos > b.replicaPos
  return a.peerId < b.peerId
}

export function stepElection (state: ElectionState, event: ElectionEvent): ElectionResult {
  switch (event.type) {
    case 'persisted': return onPersisted(state, event.epoch, event.live)
    case 'replica': return { state: { ...state, replicaPos: event.replicaPos }, effects: [] }
    case 'tick': return onTick(state, event.now, event.live, event.unheard ?? 0)
  }
}

/** The live view with the peers whose epoch is not believed left out. */
function believed (state: ElectionState, live: Candidate[]): Candidate[] {
  const others = live.filter(c => c.peerId !== state.config.self)
  return live.filter(c => c.peerId === state.config.self || epochBacked(c.epoch, state.epoch, others))
}

function onPersisted (state: ElectionState, epoch: number, all: Candidate[]): ElectionResult {
  if (state.pendingClaim !== epoch) return { state, effects: [] } // the claim was abandoned meanwhile
  const live = believed(state, all)
  // A higher epoch was learnt while the claim was written: a master at the claimed epoch would run below
  // an epoch already in use (found by the VOPR, seed 6152). Drop the claim; the next tick claims above.
  if (epoch <= state.epoch) return { state: { ...state, pendingClaim: null }, effects: [] }
  // A rival heard during the write: give way if it is master or the better candidate. The epoch is
  // burnt, which is harmless: epochs only need to grow.
  const me = { peerId: state.config.self, replicaPos: state.replicaPos }
  if (live.some(c => c.peerId !== me.peerId && (c.role === 'master' || (c.eligible && c.role !== 'leaving' && candidateBeats(c, me))))) {
    return { state: { ...state, pendingClaim: null }, effects: [] }
  }
  const next: ElectionState = { ...state, role: 'master', master: state.config.self, masterEpoch: epoch, epoch, pendingClaim: null }
  return { state: next, effects: [{ type: 'master-changed', master: state.config.self, epoch, self: true, previous: state.master }] }
}

function onTick (state: ElectionState, now: number, all: Candidate[], unheard: number): ElectionResult {
  const self = state.config.self
  const effects: ElectionEffect[] = []
  let s = state

  const live = believed(s, all)
  const refused: Record<string, number> = {}
  for (const c of all) {
    if (live.includes(c)) continue
    refused[c.peerId] = c.epoch
    if (s.refused[c.peerId] !== c.epoch) effects.push({ type: 'epoch-refused', peer: c.peerId, epoch: c.epoch, own: s.epoch })
  }
  s = { ...s, refused }

  // Learn higher epochs from anyone, so a later claim of ours is above every epoch in use.
  let seenMax = 0
  for (const c of live) if (c.peerId !== self && c.epoch > seenMax) seenMax = c.epoch
  if (seenMax > s.epoch) {
    s = { ...s, epoch: seenMax }
    effects.push({ type: 'persist-epoch', epoch: seenMax, claim: false })
  }

  // Support counts this peer too, for the master it follows now (its own heartbeat says so).
  const voters = [...live.filter(c => c.peerId !== self), { peerId: self, role: s.role, epoch: s.epoch, eligible: s.config.eligible, replicaPos: s.replicaPos, master: s.role === 'master' ? null : s.master }]
  let best: Candidate | undefined
  for (const c of live) {
    if (c.peerId === self || c.role !== 'master') continue
    if (best == null || masterWins(c, best, voters)) best = c
  }

  if (s.role === 'master') {
    if (best != null && masterWins(best, { peerId: self, epoch: s.masterEpoch }, voters)) {
      s = { ...s, role: 'follower', master: best.peerId, masterEpoch: best.epoch }
      effects.push({ type: 'master-changed', master: best.peerId, epoch: best.epoch, self: false, previous: self })
    }
    return { state: s, effects }
  }

  // A starting peer, within its grace, follows only a master some other peer follows: the first master it
  // hears may be a keyed peer that heartbeats as master with nobody behind it, and following it would tie
  // that claim with the real master's support and hand it the swarm on the higher epoch (CI, rogue sim:
  // a restarted follower did). A lone real master is followed once the grace is over.
  const waiting = s.role === 'joining' && now - s.startedAt < s.config.graceMs
  if (best != null && waiting && support(voters, best.peerId) < 2) return { state: s, effects }

  if (best != null) {
    if (s.master !== best.peerId || s.masterEpoch !== best.epoch || s.role !== 'follower') {
      effects.push({ type: 'master-changed', master: best.peerId, epoch: best.epoch, self: false, previous: s.master })
    }
    s = { ...s, role: 'follower', master: best.peerId, masterEpoch: best.epoch, pendingClaim: null }
    return { state: s, effects }
  }

  // No live master in view.
  if (waiting) return { state: s, effects }
  if (s.master != null) {
    effects.push({ type: 'master-changed', master: null, epoch: s.masterEpoch, self: false, previous: s.master })
  }
  s = { ...s, role: 'follower', master: null }
  if (!s.config.eligible || s.pendingClaim != null || unheard > 0) return { state: s, effects }

  const me = { peerId: self, replicaPos: s.replicaPos }
  for (const c of live) {
    if (c.peerId === self || !c.eligible || c.role === 'leaving') continue
    if (candidateBeats(c, me)) return { state: s, effects } // a better peer will claim; wait for it
  }
  const claim = s.epoch + 1
  s = { ...s, pendingClaim: claim }
  effects.push({ type: 'persist-epoch', epoch: claim, claim: true })
  return { state: s, effects }
}
