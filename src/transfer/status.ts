// `/swarm/status/1.0.0`: one length-prefixed JSON frame with the responder's view of the swarm, then
// the stream closes. Used by `swarm status` from any device, and by clients looking for the master.
// Both halves are here: queryStatus (a client's) and StatusService (every peer runs one).
import { lpStream } from '@libp2p/utils'
import type { Libp2p, PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { systemClock, timeoutSignal, type Clock } from './clock.ts'

export const STATUS_PROTOCOL = '/swarm/status/1.0.0'

/**
 * Queries a peer answers at once: each is one snapshot, asked by a person or a client looking for the
 * master, so a few suffice, and a flood cannot make a peer build snapshots without end. (Peers never
 * query each other, so no outbound limit is set: libp2p's default applies to clients.)
 */
export const MAX_INBOUND_STREAMS = 8
/** A snapshot row is a few hundred bytes of JSON: room for a swarm of some thousands of peers. */
export const MAX_STATUS_BYTES = 1024 * 1024
/** The responder's longest wait to hand its snapshot over, and again to close: a client that takes no data is gone. */
export const WRITE_TIMEOUT_MS = 5000
/** A client's default wait for the whole reply; a live peer answers in milliseconds. */
export const QUERY_TIMEOUT_MS = 5000

/** A peer's load as heartbeats carry it (src/node/heartbeat.ts owns the schema). */
export interface StatusLoad {
  cores: number
  freeSlots: number
  busyTiles: number
  freeMem: number
  tileSpeed: number
  /** Bytes of job files in its data dir, and its cap (--max-disk): absent from older peers, or no cap. */
  diskUsed?: number
  diskMax?: number
  /** The device's temperature (°C) where known, and why it takes fewer tiles (hot, loaded), when it does. */
  tempC?: number
  backoff?: string
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
  /** The peers it has a connection to, as its heartbeat said. */
  links?: string[]
}

export interface StatusSnapshot {
  respondent: string
  master: string | null
  epoch: number
  peers: PeerRow[]
  /** Peers the master gives no tiles (their results were outvoted) and why: only a master's answer has them. */
  distrusted?: Array<{ peer: string, reason: string }>
}

export class StatusError extends Error {
  override name = 'StatusError'
}

export interface StatusComponents {
  libp2p: Pick<Libp2p, 'handle' | 'unhandle'>
}

export interface StatusInit {
  /** The responder's view of the swarm, taken when a query comes. */
  snapshot: () => StatusSnapshot
  /** Write deadlines run on this clock (default: the system's). */
  clock?: Clock
}

export class StatusService {
  readonly #components: StatusComponents
  readonly #snapshot: () => StatusSnapshot
  readonly #clock: Clock
  #started = false

  constructor (components: StatusComponents, init: StatusInit) {
    this.#components = components
    this.#snapshot = init.snapshot
    this.#clock = init.clock ?? systemClock
  }

  async start (): Promise<void> {
    if (this.#started) return
    await this.#components.libp2p.handle(STATUS_PROTOCOL, async (stream) => {
      const write = timeoutSignal(this.#clock, WRITE_TIMEOUT_MS)
      let close: ReturnType<typeof timeoutSignal> | undefined
      try {
        const lp = lpStream(stream, { maxDataLength: MAX_STATUS_BYTES })
        await lp.write(new TextEncoder().encode(JSON.stringify(this.#snapshot())), { signal: write.signal })
        close = timeoutSignal(this.#clock, WRITE_TIMEOUT_MS)
        await stream.close({ signal: close.signal })
      } catch (err) {
        stream.abort(err as Error)
      } finally {
        write.cancel()
        close?.cancel()
      }
    }, { maxInboundStreams: MAX_INBOUND_STREAMS })
    this.#started = true
  }

  async stop (): Promise<void> {
    if (!this.#started) return
    await this.#components.libp2p.unhandle(STATUS_PROTOCOL)
    this.#started = false
  }
}

export function status (init: StatusInit): (components: StatusComponents) => StatusService {
  return (components) => new StatusService(components, init)
}

export interface QueryOptions {
  /** The reply's deadline runs on this clock (default: the system's). */
  clock?: Clock
}

export async function queryStatus (node: Pick<Libp2p, 'dialProtocol'>, target: PeerId | Multiaddr, timeoutMs = QUERY_TIMEOUT_MS, opts: QueryOptions = {}): Promise<StatusSnapshot> {
  const timeout = timeoutSignal(opts.clock ?? systemClock, timeoutMs)
  const signal = timeout.signal
  try {
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
  } finally {
    timeout.cancel()
  }
}
