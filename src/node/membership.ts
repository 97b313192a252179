// Membership and failure detection as a pure state machine: fed heartbeats and clock ticks, it says who
// joined and who left. mDNS never reports a departure and a cut cable closes no socket, so a peer is
// declared dead only by the silence of its heartbeats.
//
// A slow peer must not look dead (an overloaded PC or a busy Raspberry Pi makes the swarm slower, never
// leaderless), so silence is measured with two allowances:
// - Our own stalls. When this peer's event loop was blocked, the first tick after it runs before the
//   heartbeats queued in the sockets are read: every peer would look silent. Time between ticks beyond
//   twice the tick interval is counted as a stall and not held against anyone.
// - The sender's lag. Heartbeats carry the sender's recent event-loop lag; a lagging peer gets that much
//   more time, twice over, capped at MAX_LAG_GRACE_FACTOR x deadAfterMs. A dead process says nothing more,
//   so its last lag is what it keeps: a peer that was healthy when it died is found in deadAfterMs.
import type { Heartbeat } from './heartbeat.ts'

export interface MembershipConfig {
  self: string
  /** A peer silent for longer than this is dead. */
  deadAfterMs: number
  /** Dead peers stay in the table (for `swarm status`) this long before they are forgotten. */
  forgetAfterMs: number
  /** How often ticks come; with it, time this peer itself was stalled is not counted as silence. */
  tickMs?: number
}

/** A lagging peer gets at most this many deadAfterMs more (6 s at the default 2 s): cut-cable detection stays bounded. */
export const MAX_LAG_GRACE_FACTOR = 3

export interface Member {
  hb: Heartbeat
  firstSeen: number
  lastSeen: number
  /** `stalledMs` of the state when this member was last heard. */
  stalledAtSeen: number
  alive: boolean
  /** Last heard through another peer's relay (the master's digest), not from the member itself. */
  relayed: boolean
}

export interface MembershipState {
  config: MembershipConfig
  members: ReadonlyMap<string, Member>
  /** When the last tick came. */
  lastTick?: number
  /** Total time this peer was stalled (not running its ticks), so far. */
  stalledMs: number
}

export type MembershipEvent =
  /** `relayed`: another peer vouched for this heartbeat, heard `now` by that peer's clock as we reckon it. */
  | { type: 'heartbeat', hb: Heartbeat, now: number, relayed?: boolean }
  | { type: 'tick', now: number }
  /**
   * The relay went quiet (the master this peer followed is late), so members known only through it have not
   * been silent: the relay was. Each is taken as heard at `heardAt` and now has its own time to speak up directly.
   */
  | { type: 'relay-lost', heardAt: number }
  /**
   * The relay (the master) vouches that a member it heard is alive and its heartbeat unchanged in substance:
   * a live member is taken as heard at `heardAt`. It revives no dead member: that takes a heartbeat.
   */
  | { type: 'seen', peer: string, heardAt: number }

export type MembershipEffect =
  | { type: 'joined', peer: string, hb: Heartbeat }
  | { type: 'left', peer: string, reason: 'timeout' | 'leaving' }

export function initMembership (config: MembershipConfig): MembershipState {
  return { config, members: new Map(), stalledMs: 0 }
}

export function stepMembership (state: MembershipState, event: MembershipEvent): { state: MembershipState, effects: MembershipEffect[] } {
  switch (event.type) {
    case 'heartbeat': return onHeartbeat(state, event.hb, event.now, event.relayed === true)
    case 'tick': return onTick(state, event.now)
    case 'relay-lost': return onRelayLost(state, event.heardAt)
    case 'seen': return onSeen(state, event.peer, event.heardAt)
  }
}

function onSeen (state: MembershipState, peer: string, heardAt: number): { state: MembershipState, effects: MembershipEffect[] } {
  const m = state.members.get(peer)
  if (m == null || !m.alive || m.lastSeen >= heardAt) return { state, effects: [] }
  const members = new Map(state.members)
  members.set(peer, { ...m, lastSeen: heardAt, stalledAtSeen: state.stalledMs, relayed: true })
  return { state: { ...state, members }, effects: [] }
}

function onRelayLost (state: MembershipState, heardAt: number): { state: MembershipState, effects: MembershipEffect[] } {
  let members: Map<string, Member> | undefined
  for (const [id, m] of state.members) {
    if (!m.alive || !m.relayed || m.lastSeen >= heardAt) continue
    members ??= new Map(state.members)
    members.set(id, { ...m, lastSeen: heardAt, stalledAtSeen: state.stalledMs })
  }
  return { state: members == null ? state : { ...state, members }, effects: [] }
}

function onHeartbeat (state: MembershipState, hb: Heartbeat, now: number, relayed: boolean): { state: MembershipState, effects: MembershipEffect[] } {
  if (hb.peerId === state.config.self) return { state, effects: [] }
  const prev = state.members.get(hb.peerId)
  // Relays and reconnections can reorder and replay: only a newer (incarnation, seq) counts.
  if (prev != null && (hb.incarnation < prev.hb.incarnation || (hb.incarnation === prev.hb.incarnation && hb.seq <= prev.hb.seq))) {
    return { state, effects: [] }
  }
  const members = new Map(state.members)
  const effects: MembershipEffect[] = []
  if (hb.role === 'leaving') {
    members.set(hb.peerId, { hb, firstSeen: prev?.firstSeen ?? now, lastSeen: now, stalledAtSeen: state.stalledMs, alive: false, relayed })
    if (prev?.alive === true) effects.push({ type: 'left', peer: hb.peerId, reason: 'leaving' })
    return { state: { ...state, members }, effects }
  }
  const rejoined = prev == null || !prev.alive
  members.set(hb.peerId, { hb, firstSeen: rejoined ? now : prev.firstSeen, lastSeen: now, stalledAtSeen: state.stalledMs, alive: true, relayed })
  if (rejoined) effects.push({ type: 'joined', peer: hb.peerId, hb })
  return { state: { ...state, members }, effects }
}

function onTick (state: MembershipState, now: number): { state: MembershipState, effects: MembershipEffect[] } {
  const { deadAfterMs, forgetAfterMs, tickMs } = state.config
  let stalledMs = state.stalledMs
  if (tickMs != null && state.lastTick != null) stalledMs += Math.max(0, now - state.lastTick - 2 * tickMs)
  let members: Map<string, Member> | undefined
  const effects: MembershipEffect[] = []
  for (const [id, m] of state.members) {
    const silent = now - m.lastSeen - (stalledMs - m.stalledAtSeen)
    if (m.alive && silent > deadAfterMs + lagGrace(m.hb, deadAfterMs)) {
      members ??= new Map(state.members)
      members.set(id, { ...m, alive: false })
      effects.push({ type: 'left', peer: id, reason: 'timeout' })
    } else if (!m.alive && now - m.lastSeen > forgetAfterMs) {
      members ??= new Map(state.members)
      members.delete(id)
    }
  }
  return { state: { ...state, members: members ?? state.members, lastTick: now, stalledMs }, effects }
}

/** Extra time a peer gets for the event-loop lag it reported. */
export function lagGrace (hb: Heartbeat, deadAfterMs: number): number {
  return Math.min(MAX_LAG_GRACE_FACTOR * deadAfterMs, 2 * (hb.lagMs ?? 0))
}

export function liveMembers (state: MembershipState): Heartbeat[] {
  const out: Heartbeat[] = []
  for (const m of state.members.values()) if (m.alive) out.push(m.hb)
  return out
}
