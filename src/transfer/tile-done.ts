// `/swarm/tile-done/1.0.0`: a worker tells the master it follows about a tile whose stream to the master
// that leased it is gone (that master died or was deposed): "still working on it" (renew) or "done, the
// result is kept here" (done; a statistics phase sends its statistics along, pixels stay on the worker
// and the master fetches them with the blob protocol). This is what lets a lease survive a failover: the
// new master keeps the leases of live workers, and their results reach it instead of being computed again.
//
// One JSON frame each way on a fresh stream. Client and server are here; the master decides what a notice
// means (the queue matches it by lease id, so a notice for a lease it no longer has is ignored).
import type { Libp2p, PeerId } from '@libp2p/interface'
import { z } from 'zod'
import { FrameStream } from './frames.ts'
import { ErrorCodes } from './messages.ts'

export const TILE_DONE_PROTOCOL = '/swarm/tile-done/1.0.0'

/** A master hears at most one notice per tile in flight at a time: peers x slots, with room. */
export const MAX_INBOUND_STREAMS = 256
/** A notice and its answer are one small frame each way; a master that cannot answer in this long is gone. */
export const NOTICE_TIMEOUT_MS = 10_000
/** Statistics are a 256-bin histogram (a few KiB as JSON); anything far larger is not a notice. */
export const MAX_NOTICE_BYTES = 64 * 1024

const id = z.string().min(1).max(128)
const int = z.number().int().min(0)

export const TileNoticeSchema = z.object({
  type: z.enum(['renew', 'done']),
  jobId: id,
  phase: int.max(64),
  index: int,
  leaseId: id,
  /** The epoch of the master that gave the lease. */
  epoch: int,
  /** A statistics phase's result; pixels of the final phase stay with the worker. */
  stats: z.unknown().optional()
}).strict()
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
}

export class TileDoneService {
  readonly #components: TileDoneComponents
  readonly #init: TileDoneInit
  #started = false

  constructor (components: TileDoneComponents, init: TileDoneInit) {
    this.#components = components
    this.#init = init
  }

  async start (): Promise<void> {
    if (this.#started) return
    await this.#components.libp2p.handle(TILE_DONE_PROTOCOL, async (stream, connection) => {
      const fs = new FrameStream(stream, { maxFrameBytes: MAX_NOTICE_BYTES, readTimeoutMs: NOTICE_TIMEOUT_MS })
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
    }, { maxInboundStreams: MAX_INBOUND_STREAMS })
    this.#started = true
  }

  async stop (): Promise<void> {
    if (!this.#started) return
    await this.#components.libp2p.unhandle(TILE_DONE_PROTOCOL)
    this.#started = false
  }

  /** Sends one notice; resolves whether the master took it. Throws when it could not be delivered. */
  async send (master: PeerId, notice: TileNotice): Promise<boolean> {
    const signal = AbortSignal.timeout(NOTICE_TIMEOUT_MS)
    const stream = await this.#components.libp2p.dialProtocol(master, TILE_DONE_PROTOCOL, { signal })
    const fs = new FrameStream(stream, { maxFrameBytes: MAX_NOTICE_BYTES, readTimeoutMs: NOTICE_TIMEOUT_MS })
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
