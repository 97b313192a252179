// Membership and failure detection as a pure state machine: fed heartbeats and clock ticks, it says who
// joined and who left. mDNS never reports a departure and a cut cable closes no socket, so a peer is
// declared dead only by the silence of its heartbeats.
import type { Heartbeat } from './heartbeat.ts'

export interface MembershipConfig {
  self: string
  /** A peer silent for longer than this is dead. */
  deadAfterMs: number
  /** Dead peers stay in the table (for `swarm status`) this long before they are forgotten. */
  forgetAfterMs: number
}

export interface Member {
  hb: Heartbeat
  firstSeen: number
  lastSeen: number
  alive: boolean
}

export interface MembershipState {
  config: MembershipConfig
  members: ReadonlyMap<string, Member>
}

export type MembershipEvent =
  | { type: 'heartbeat', hb: Heartbeat, now: number }
  | { type: 'tick', now: number }

export type MembershipEffect =
  | { type: 'joined', peer: string, hb: Heartbeat }
  | { type: 'left', peer: string, reason: 'timeout' | 'leaving' }

export function initMembership (config: MembershipConfig): MembershipState {
  return { config, members: new Map() }
}

export function stepMembership (state: MembershipState, event: MembershipEvent): { state: MembershipState, effects: MembershipEffect[] } {
  return event.type === 'heartbeat' ? onHeartbeat(state, event.hb, event.now) : onTick(state, event.now)
}

function onHeartbeat (state: MembershipState, hb: Heartbeat, now: number): { state: MembershipState, effects: MembershipEffect[] } {
  if (hb.peerId === state.config.self) return { state, effects: [] }
  const prev = state.members.get(hb.peerId)
  // Gossip can reorder and replay: only a newer (incarnation, seq) counts.
  if (prev != null && (hb.incarnation < prev.hb.incarnation || (hb.incarnation === prev.hb.incarnation && hb.seq <= prev.hb.seq))) {
    return { state, effects: [] }
  }
  const members = new Map(state.members)
  const effects: MembershipEffect[] = []
  if (hb.role === 'leaving') {
    members.set(hb.peerId, { hb, firstSeen: prev?.firstSeen ?? now, lastSeen: now, alive: false })
    if (prev?.alive === true) effects.push({ type: 'left', peer: hb.peerId, reason: 'leaving' })
    return { state: { ...state, members }, effects }
  }
  const rejoined = prev == null || !prev.alive
  members.set(hb.peerId, { hb, firstSeen: rejoined ? now : prev.firstSeen, lastSeen: now, alive: true })
  if (rejoined) effects.push({ type: 'joined', peer: hb.peerId, hb })
  return { state: { ...state, members }, effects }
}

function onTick (state: MembershipState, now: number): { state: MembershipState, effects: MembershipEffect[] } {
  const { deadAfterMs, forgetAfterMs } = state.config
  let members: Map<string, Member> | undefined
  const effects: MembershipEffect[] = []
  for (const [id, m] of state.members) {
    const silent = now - m.lastSeen
    if (m.alive && silent > deadAfterMs) {
      members ??= new Map(state.members)
      members.set(id, { ...m, alive: false })
      effects.push({ type: 'left', peer: id, reason: 'timeout' })
    } else if (!m.alive && silent > forgetAfterMs) {
      members ??= new Map(state.members)
      members.delete(id)
    }
  }
  return { state: members == null ? state : { ...state, members }, effects }
}

export function liveMembers (state: MembershipState): Heartbeat[] {
  const out: Heartbeat[] = []
  for (const m of state.members.values()) if (m.alive) out.push(m.hb)
  return out
}
