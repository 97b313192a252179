// `/swarm/status/1.0.0`: one length-prefixed JSON frame with the responder's view of the swarm, then
// the stream closes. Used by `swarm status` from any device.
import { lpStream } from '@libp2p/utils'
import type { Libp2p, PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

export const STATUS_PROTOCOL = '/swarm/status/1.0.0'
const MAX_STATUS_BYTES = 1024 * 1024

/** A peer's load as heartbeats carry it (src/node/heartbeat.ts owns the schema). */
export interface StatusLoad {
  cores: number
  freeSlots: number
  busyTiles: number
  freeMem: number
  tileSpeed: number
}

export interface PeerRow {
  peerId: string
  name: string
  /** joining, follower, master or leaving */
  role: string
  epoch: number
  master: string | null
  eligible: boolean
  alive: boolean
  self: boolean
  addrs: string[]
  arch: string
  platform: string
  version: string
  load: StatusLoad
  /** Milliseconds since the last heartbeat, as seen by the responder (0 for itself). */
  lastSeenMsAgo: number
}

export interface StatusSnapshot {
  respondent: string
  master: string | null
  epoch: number
  peers: PeerRow[]
}

export class StatusError extends Error {
  override name = 'StatusError'
}

export async function registerStatusHandler (node: Libp2p, snapshot: () => StatusSnapshot): Promise<void> {
  await node.handle(STATUS_PROTOCOL, async (stream) => {
    try {
      const lp = lpStream(stream, { maxDataLength: MAX_STATUS_BYTES })
      await lp.write(new TextEncoder().encode(JSON.stringify(snapshot())), { signal: AbortSignal.timeout(5000) })
      await stream.close({ signal: AbortSignal.timeout(5000) })
    } catch (err) {
      stream.abort(err as Error)
    }
  }, { maxInboundStreams: 8 })
}

export async function queryStatus (node: Libp2p, target: PeerId | Multiaddr, timeoutMs = 5000): Promise<StatusSnapshot> {
  const signal = AbortSignal.timeout(timeoutMs)
  const stream = await node.dialProtocol(target, STATUS_PROTOCOL, { signal })
  try {
    const lp = lpStream(stream, { maxDataLength: MAX_STATUS_BYTES })
    const frame = await lp.read({ signal })
    const snap = JSON.parse(new TextDecoder().decode(frame.subarray())) as StatusSnapshot
    if (typeof snap?.respondent !== 'string' || !Array.isArray(snap.peers)) throw new StatusError('malformed status reply')
    await stream.close({ signal }).catch(() => {})
    return snap
  } catch (err) {
    stream.abort(err as Error)
    throw err
  }
}
