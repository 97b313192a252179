// `/swarm/tile-done/1.0.0`: a worker tells the master it follows about a tile whose stream to the master
// that leased it is gone (that master died or was deposed): "still working on it" (renew) or "done, the
// result is kept here" (done; a statistics phase sends its statistics along, pixels stay on the worker
// and the master fetches them with the blob protocol); and, to a new master, which leases it holds. This is what lets a lease survive a failover: the
// new master keeps the leases of live workers, and their results reach it instead of being computed again.
//
// One JSON frame each way on a fresh stream. Client and server are here; the master decides what a notice
// means (the queue matches it by lease id, so a notice for a lease it no longer has is ignored).
import type { Libp2p, PeerId } from '@libp2p/interface'
import { z } from 'zod'
import { systemClock, timeoutSignal, type Clock } from './clock.ts'
import { FrameStream } from './frames.ts'
import { ErrorCodes } from './messages.ts'

export const TILE_DONE_PROTOCOL = '/swarm/tile-done/1.0.0'

/** A master hears at most one notice per tile in flight at a time: peers x slots, with room. */
export const MAX_INBOUND_STREAMS = 256
/**
 * A worker sends one notice per tile it holds at a time (renewals every renewMs, then done), and one
 * lease list: at most its slots + prefetch. libp2p's default, which the swarm always ran with.
 */
export const MAX_OUTBOUND_STREAMS = 64
/** A notice and its answer are one small frame each way; a master that cannot answer in this long is gone. */
export const NOTICE_TIMEOUT_MS = 10_000
/** Statistics are a 256-bin histogram (a few KiB as JSON), a lease list at most 4096 short ids. */
export const MAX_NOTICE_BYTES = 256 * 1024
/** Leases a worker can hold at once: far more than any peer's slots and prefetch. */
export const MAX_HELD_LEASES = 4096
/** Job and lease ids are a few dozen characters. */
const MAX_ID_CHARS = 128

const id = z.string().min(1).max(MAX_ID_CHARS)
const int = z.number().int().min(0)

const TileAddressSchema = {
  jobId: id,
  phase: int.max(64),
  index: int,
  leaseId: id,
  /** The epoch of the master that gave the lease. */
  epoch: int
}

export const TileNoticeSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('renew'), ...TileAddressSchema }).strict(),
  /** A statistics phase's result comes along; pixels of the final phase stay with the worker. */
  z.object({ type: z.literal('done'), ...TileAddressSchema, stats: z.unknown().optional() }).strict(),
  /**
   * Sent to a new master: every lease this worker really holds. A lease the old master gave it whose
   * tile never arrived (the master died while sending it) is not in the list, so the new master can
   * re-queue it at once instead of at the lease deadline.
   */
  z.object({ type: z.literal('holding'), leaseIds: z.array(id).max(MAX_HELD_LEASES) }).strict()
])
export type TileNotice = z.infer<typeof TileNoticeSchema>

const ReplySchema = z.object({ ok: z.literal(true), accepted: z.boolean() }).strict()

export interface TileDoneComponents {
  libp2p: Pick<Libp2p, 'handle' | 'unhandle' | 'dialProtocol'>
}

export interface TileDoneInit {
  /**
   * Acts on a notice from peer `from`; resolves true when the master took it (a renewed or committed
   * lease), false when it was ignored (an unknown lease, or this peer is not master).
   */
  onNotice: (notice: TileNotice, from: string) => Promise<boolean>
  /** Deadlines run on this clock (default: the system's). */
  clock?: Clock
}

export class TileDoneService {
  readonly #components: TileDoneComponents
  readonly #init: TileDoneInit
  readonly #clock: Clock
  #started = false

  constructor (components: TileDoneComponents, init: TileDoneInit) {
    this.#components = components
    this.#init = init
    this.#clock = init.clock ?? systemClock
  }

  async start (): Promise<void> {
    if (this.#started) return
    await this.#components.libp2p.handle(TILE_DONE_PROTOCOL, async (stream, connection) => {
      const fs = new FrameStream(stream, { maxFrameBytes: MAX_NOTICE_BYTES, readTimeoutMs: NOTICE_TIMEOUT_MS, clock: this.#clock })
      try {
        const notice = await fs.readJson(TileNoticeSchema)
        let accepted: boolean
        try {
          accepted = await this.#init.onNotice(notice, connection.remotePeer.toString())
        } catch (err) {
          await fs.writeError(ErrorCodes.internal, (err as Error).message)
          await fs.close()
          return
        }
        await fs.writeJson({ ok: true, accepted })
        await fs.close()
      } catch (err) {
        // A malformed notice resets this stream only.
        fs.abort(err as Error)
      }
    }, { maxInboundStreams: MAX_INBOUND_STREAMS, maxOutboundStreams: MAX_OUTBOUND_STREAMS })
    this.#started = true
  }

  async stop (): Promise<void> {
    if (!this.#started) return
    await this.#components.libp2p.unhandle(TILE_DONE_PROTOCOL)
    this.#started = false
  }

  /** Sends one notice; resolves whether the master took it. Throws when it could not be delivered. */
  async send (master: PeerId, notice: TileNotice): Promise<boolean> {
    const dial = timeoutSignal(this.#clock, NOTICE_TIMEOUT_MS)
    let stream
    try {
      stream = await this.#components.libp2p.dialProtocol(master, TILE_DONE_PROTOCOL, { signal: dial.signal })
    } finally {
      dial.cancel()
    }
    const fs = new FrameStream(stream, { maxFrameBytes: MAX_NOTICE_BYTES, readTimeoutMs: NOTICE_TIMEOUT_MS, clock: this.#clock })
    try {
      await fs.writeJson(notice)
      const reply = await fs.readJson(ReplySchema)
      await fs.close()
      return reply.accepted
    } catch (err) {
      fs.abort(err as Error)
      throw err
    }
  }
}

export function tileDone (init: TileDoneInit): (components: TileDoneComponents) => TileDoneService {
  return (components) => new TileDoneService(components, init)
}
