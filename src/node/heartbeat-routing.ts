// Who hears a peer's heartbeat. With a master, the swarm is a star: each follower tells only the master,
// and the master's heartbeat carries the latest heartbeat of every live member (a digest), so an interval
// costs a follower one message each way and the master one per follower. Without a master, or once the
// master has gone quiet, every peer tells every peer directly, so the survivors know each other when the
// election needs them. Pure: the peer shell gives the view, this says where to send and what to relay.

export interface RouteView {
  /** This peer is the master (it sends to every member and relays all of them). */
  isMaster: boolean
  /** The master this peer follows, or null. */
  master: string | null
  /** ms since this peer last had news of its master; undefined when it never had. */
  masterSilentMs: number | undefined
  /** Past this much silence the master counts as late and the peer speaks to everyone directly. */
  lateAfterMs: number
  /** The peer is leaving: everyone must know at once. */
  leaving: boolean
}

export interface RoutePeer {
  peer: string
  /** The master this peer's newest heartbeat named; undefined when it was never heard. */
  follows: string | null | undefined
}

export type Relay = 'none' | 'master' | 'all'

export interface Route {
  to: string[]
  /** Heartbeats of others to send along: none, the master's (for a peer outside the star), or every live member's. */
  relay: Relay
  /** The peers that get the relayed heartbeats (the others get this peer's own heartbeat alone). */
  relayTo: string[]
  /** The star is in use: only the master (and peers outside it) hear this peer. */
  star: boolean
}

/**
 * Where this interval's heartbeat goes. `members` are the connected peers that speak the heartbeat protocol.
 * A follower in the star still speaks to any member that follows another master or none (a peer joining
 * through it, or the far side of a healed partition), sending the master's heartbeat along so that peer
 * finds the master and joins the star itself.
 */
export function routeHeartbeat (view: RouteView, members: readonly RoutePeer[]): Route {
  if (view.isMaster) return { to: members.map(m => m.peer), relay: 'all', relayTo: members.map(m => m.peer), star: false }
  const m = view.master
  const inStar = !view.leaving && m != null && view.masterSilentMs !== undefined && view.masterSilentMs <= view.lateAfterMs &&
    members.some(p => p.peer === m)
  if (!inStar) return { to: members.map(p => p.peer), relay: 'none', relayTo: [], star: false }
  const outside = members.filter(p => p.peer !== m && p.follows !== m).map(p => p.peer)
  return { to: [m, ...outside], relay: 'master', relayTo: outside, star: true }
}

/** The master is late after a heartbeat and a half of silence: well before it could be declared dead. */
export function lateAfterMs (heartbeatMs: number): number {
  return Math.round(1.5 * heartbeatMs)
}
