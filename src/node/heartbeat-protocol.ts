// `/swarm/heartbeat/1.0.0`: heartbeats go straight to the peers that must hear them, one long-lived stream
// per peer and direction, one JSON frame per heartbeat. The connection's noise handshake names the sender,
// so a heartbeat is taken only from the peer it speaks for; what a frame relays is checked by signature.
//
// This replaced gossipsub. With every peer connected to every peer, gossip flooded each heartbeat to all
// and then again along the mesh, signed and verified it, and ran its own control traffic: 0.06 of a core
// per idle peer in a swarm of 8. It also kept one outbound stream per peer that it reopened only on a new
// identify, so a link whose connection closed while a second one stayed open went deaf. Here a stream is
// checked before every send and reopened on whatever connection is open.
import type { Libp2p, PeerId, Stream } from '@libp2p/interface'
import { systemClock, timeoutSignal, type Clock } from '../transfer/clock.ts'
import { FrameStream } from '../transfer/frames.ts'
import { HeartbeatFrameSchema, MAX_RELAYED, type HeartbeatFrame } from './heartbeat.ts'

export const HEARTBEAT_PROTOCOL = '/swarm/heartbeat/1.0.0'

/** A digest relays at most MAX_RELAYED heartbeats of about 1 KiB each as JSON strings: 1 MiB leaves room. */
export const MAX_FRAME_BYTES = 1024 * 1024
/** One stream each way per peer; a few more while a closed one is replaced. */
export const MAX_STREAMS_PER_PEER = 4
/**
 * A follower in the star speaks only to its master, so a stream from a peer may carry nothing for a long time.
 * Past this much silence the stream is dropped; the sender opens a new one when it next has something to say.
 */
export const INBOUND_IDLE_MS = 10 * 60_000
/** Opening a stream is a round trip or two on a live connection; a peer that needs longer misses this heartbeat, not the next. */
export const OPEN_TIMEOUT_MS = 3000

export interface HeartbeatComponents {
  libp2p: Pick<Libp2p, 'handle' | 'unhandle' | 'dialProtocol'>
}

export interface HeartbeatInit {
  /** A frame arrived from peer `from` (checked against the schema; what it says is the receiver's to check). */
  onFrame: (frame: HeartbeatFrame, from: string) => void
  /** A frame that could not be read, for the log. */
  onError?: (message: string, from: string) => void
  clock?: Clock
}

interface Outbound {
  stream?: Stream
  fs?: FrameStream
  /** A send (or the stream's opening) is under way: the next heartbeat is dropped, not queued behind it. */
  busy: boolean
}

export class HeartbeatService {
  readonly #components: HeartbeatComponents
  readonly #init: HeartbeatInit
  readonly #clock: Clock
  readonly #out = new Map<string, Outbound>()
  #started = false

  constructor (components: HeartbeatComponents, init: HeartbeatInit) {
    this.#components = components
    this.#init = init
    this.#clock = init.clock ?? systemClock
  }

  async start (): Promise<void> {
    if (this.#started) return
    await this.#components.libp2p.handle(HEARTBEAT_PROTOCOL, async (stream, connection) => {
      await this.#serve(stream, connection.remotePeer.toString())
    }, { maxInboundStreams: MAX_STREAMS_PER_PEER, maxOutboundStreams: MAX_STREAMS_PER_PEER })
    this.#started = true
  }

  async stop (): Promise<void> {
    if (!this.#started) return
    this.#started = false
    await this.#components.libp2p.unhandle(HEARTBEAT_PROTOCOL)
    for (const o of this.#out.values()) o.fs?.abort(new Error('heartbeats stopped'))
    this.#out.clear()
  }

  async #serve (stream: Stream, from: string): Promise<void> {
    const fs = new FrameStream(stream, { maxFrameBytes: MAX_FRAME_BYTES, readTimeoutMs: INBOUND_IDLE_MS, clock: this.#clock })
    try {
      for (;;) {
        const frame = await fs.readJson(HeartbeatFrameSchema)
        this.#init.onFrame(frame, from)
      }
    } catch (err) {
      // The end of the stream (the peer stopped, or replaced it) reads as an error here too; it is only logged when malformed.
      const e = err as Error
      if (e.name === 'MalformedFrameError' || e.name === 'FrameTooLargeError') this.#init.onError?.(e.message, from)
      fs.abort(e)
    }
  }

  /**
   * Sends one frame to `peer` without waiting: heartbeats are periodic, so one that cannot go now (a stream
   * still opening, a write not yet drained) is dropped and the next one carries newer news. At most one send per
   * peer is in flight, which bounds what a slow peer costs to one frame. Resolves whether the frame was
   * written (a sender that sends only what changed needs to know what went).
   */
  async send (peer: PeerId, frame: HeartbeatFrame): Promise<boolean> {
    if (!this.#started) return false
    if ((frame.relayed?.length ?? 0) > MAX_RELAYED) throw new RangeError(`a heartbeat frame relays at most ${MAX_RELAYED} heartbeats`)
    const key = peer.toString()
    let o = this.#out.get(key)
    if (o == null) { o = { busy: false }; this.#out.set(key, o) }
    if (o.busy) return false
    o.busy = true
    try {
      return await this.#deliver(peer, o, frame)
    } finally {
      o.busy = false
    }
  }

  async #deliver (peer: PeerId, o: Outbound, frame: HeartbeatFrame): Promise<boolean> {
    try {
      if (o.stream == null || o.fs == null || o.stream.status !== 'open' || o.stream.writeStatus !== 'writable') {
        o.fs?.abort(new Error('replaced'))
        const open = timeoutSignal(this.#clock, OPEN_TIMEOUT_MS)
        try {
          o.stream = await this.#components.libp2p.dialProtocol(peer, HEARTBEAT_PROTOCOL, { signal: open.signal })
        } finally {
          open.cancel()
        }
        // The receiver never writes; the read side only notices the stream's end.
        o.fs = new FrameStream(o.stream, { maxFrameBytes: 1, readTimeoutMs: INBOUND_IDLE_MS, clock: this.#clock })
        if (!this.#started) { o.fs.abort(new Error('heartbeats stopped')); return false }
      }
      await o.fs.writeJson(frame)
      return true
    } catch {
      // The peer is gone or unreachable for now; the next heartbeat opens a new stream.
      o.fs?.abort(new Error('heartbeat not delivered'))
      o.stream = undefined
      o.fs = undefined
      return false
    }
  }

  /** Forgets a peer's stream (it disconnected); the next send opens a new one. */
  drop (peer: string): void {
    const o = this.#out.get(peer)
    if (o == null) return
    o.fs?.abort(new Error('peer disconnected'))
    this.#out.delete(peer)
  }
}

export function heartbeats (init: HeartbeatInit): (components: HeartbeatComponents) => HeartbeatService {
  return (components) => new HeartbeatService(components, init)
}
