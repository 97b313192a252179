// Keeps every connected member's gossip link alive.
//
// Gossipsub opens one outbound stream per peer, on whichever connection identified first, and opens it
// again only when libp2p reports the peer (re)identified. Two peers that dial each other at once (both
// restart, both hear of each other) end up with two connections; when the one carrying the stream
// closes, the other stays open, no identify follows, and that peer never hears our heartbeats again
// while looking connected. Measured: 10 of 20 such closes left the link deaf for good; in the swarm
// that shows as a follower taking its healthy master for dead and claiming, or two masters that never
// hear of each other. Running identify again on a live connection makes gossipsub open a new stream.
import type { Connection, PeerId } from '@libp2p/interface'
import type { SwarmLibp2p } from './libp2p.ts'

export interface LinkView {
  peer: string
  /** Open connections to the peer, newest first or any order. */
  connectionAgesMs: number[]
  /** identify says it speaks the swarm's protocols (a client such as `swarm status` does not gossip). */
  member: boolean
  /** An open outbound gossipsub stream to it exists, on any of its connections. */
  hasGossipStream: boolean
}

/**
 * Whether a peer's gossip link is missing although a connection is open. A link younger than minAgeMs
 * may still be setting up (identify, then the stream), so only older ones count.
 */
export function isDeaf (link: LinkView, minAgeMs: number): boolean {
  if (!link.member || link.hasGossipStream || link.connectionAgesMs.length === 0) return false
  return Math.max(...link.connectionAgesMs) >= minAgeMs
}

/** Whether this connection holds our outbound gossipsub stream. */
export function carriesGossip (node: SwarmLibp2p, conn: Connection): boolean {
  const gossip = node.services.pubsub.protocols
  return conn.streams.some(s => s.direction === 'outbound' && gossip.includes(s.protocol ?? ''))
}

export interface GossipLinkOptions {
  /** Is this peer a swarm member (it gossips)? */
  isMember: (peer: string) => boolean
  now: () => number
  /** A link this young is left to finish setting up. */
  minAgeMs: number
}

export class GossipLinks {
  private readonly repairing = new Set<string>()
  private readonly onClose: (evt: CustomEvent<Connection>) => void
  private readonly node: SwarmLibp2p
  private readonly opts: GossipLinkOptions

  constructor (node: SwarmLibp2p, opts: GossipLinkOptions) {
    this.node = node
    this.opts = opts
    // A closed connection is the usual cause: look once its streams have finished closing.
    this.onClose = (evt) => {
      const peer = evt.detail.remotePeer
      setTimeout(() => { this.checkPeer(peer, 0) }, 50).unref()
    }
  }

  start (): void { this.node.addEventListener('connection:close', this.onClose) }
  stop (): void { this.node.removeEventListener('connection:close', this.onClose) }

  /** The safety net, run periodically: any deaf link, whatever closed it. */
  checkAll (): void {
    const byPeer = new Map<string, PeerId>()
    for (const c of this.node.getConnections()) byPeer.set(c.remotePeer.toString(), c.remotePeer)
    for (const id of byPeer.values()) this.checkPeer(id, this.opts.minAgeMs)
  }

  private checkPeer (id: PeerId, minAgeMs: number): void {
    const peer = id.toString()
    if (this.repairing.has(peer)) return
    const now = this.opts.now()
    const conns = this.node.getConnections(id).filter(c => c.status === 'open')
    const view: LinkView = {
      peer,
      connectionAgesMs: conns.map(c => now - c.timeline.open),
      member: this.opts.isMember(peer),
      hasGossipStream: conns.some(c => carriesGossip(this.node, c))
    }
    if (!isDeaf(view, minAgeMs)) return
    const conn = conns[0]
    this.repairing.add(peer)
    // identify raises peer:identify, on which gossipsub opens its stream again.
    this.node.services.identify.identify(conn, { signal: AbortSignal.timeout(5000) })
      .catch(() => {}) // the connection died meanwhile: a redial brings a new one, identified as usual
      .finally(() => { this.repairing.delete(peer) })
  }
}
