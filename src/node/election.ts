// Master election as a pure state machine (in the manner of etcd-io/raft's core): it is fed the live
// view and clock ticks and returns effects; the shell persists, publishes and logs.
//
// Rules (design brief, "Election"):
// - Sticky: a live master is kept, so a joining peer never causes churn.
// - When no live master is visible (after a start-up grace that lets a new peer hear the current one),
//   the eligible peer with the most complete queue replica, then the lowest PeerId, claims epoch+1.
//   The claim is persisted before the peer acts as master (fencing survives a crash).
// - Two masters seen at once (a healed partition): the higher (epoch, rank) wins, the other steps down.
import type { Role } from './heartbeat.ts'

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

export interface ElectionResult { state: ElectionState, effects: ElectionEffect[] }

export function initElection (config: ElectionConfig, persistedEpoch: number, now: number): ElectionState {
  return { config, startedAt: now, role: 'joining', epoch: persistedEpoch, replicaPos: 0, master: null, masterEpoch: 0, pendingClaim: null }
}

/** true when master claim a beats b: higher epoch, then lower PeerId (the stable rank). */
export function masterBeats (a: { peerId: string, epoch: number }, b: { peerId: string, epoch: number }): boolean {
  if (a.epoch !== b.epoch) return a.epoch > b.epoch
  return a.peerId < b.peerId
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

function onPersisted (state: ElectionState, epoch: number, live: Candidate[]): ElectionResult {
  if (state.pendingClaim !== epoch) return { state, effects: [] } // the claim was abandoned meanwhile
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

function onTick (state: ElectionState, now: number, live: Candidate[], unheard: number): ElectionResult {
  const self = state.config.self
  const effects: ElectionEffect[] = []
  let s = state

  // Learn higher epochs from anyone, so a later claim of ours is above every epoch in use.
  let seenMax = 0
  for (const c of live) if (c.peerId !== self && c.epoch > seenMax) seenMax = c.epoch
  if (seenMax > s.epoch) {
    s = { ...s, epoch: seenMax }
    effects.push({ type: 'persist-epoch', epoch: seenMax, claim: false })
  }

  let best: Candidate | undefined
  for (const c of live) {
    if (c.peerId === self || c.role !== 'master') continue
    if (best == null || masterBeats(c, best)) best = c
  }

  if (s.role === 'master') {
    if (best != null && masterBeats(best, { peerId: self, epoch: s.masterEpoch })) {
      s = { ...s, role: 'follower', master: best.peerId, masterEpoch: best.epoch }
      effects.push({ type: 'master-changed', master: best.peerId, epoch: best.epoch, self: false, previous: self })
    }
    return { state: s, effects }
  }

  if (best != null) {
    if (s.master !== best.peerId || s.masterEpoch !== best.epoch || s.role !== 'follower') {
      effects.push({ type: 'master-changed', master: best.peerId, epoch: best.epoch, self: false, previous: s.master })
    }
    s = { ...s, role: 'follower', master: best.peerId, masterEpoch: best.epoch, pendingClaim: null }
    return { state: s, effects }
  }

  // No live master in view.
  if (s.role === 'joining' && now - s.startedAt < s.config.graceMs) return { state: s, effects }
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
