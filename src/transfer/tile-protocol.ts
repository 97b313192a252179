// `/swarm/tile/1.0.0`: a master sends a worker one tile (a JSON request, then its pixels). The worker says
// "working" every req.renewMs while it computes (each one renews the lease), then answers with the
// statistics or the pixels, and the master acks once it has stored them: a result counts only when acked.
// Pixels stay off the master both ways: a request may name a source (the job's input, which the worker
// fetches once and cuts its tiles from) instead of carrying pixels, and a worker asked to copy its result
// to the job's standbys (req.copyTo) that keeps it and did so answers with the result's size only.
//
// Both halves are here: sendTile is the master's side, TileService the worker's (every peer runs one). The
// work, and what to do when the master that leased a tile is gone, are the worker's decisions
// (src/scheduler/worker.ts); the service gets them as a TileHandler and does only the wire.
import type { Libp2p, PeerId } from '@libp2p/interface'
import type { RawImage, TileResult } from '../ops/index.ts'
import { systemClock, type Clock } from './clock.ts'
import { MalformedFrameError, RemoteError } from './errors.ts'
import { FrameStream } from './frames.ts'
import { ErrorCodes, FRAME_BYTES, TILE_PROTOCOL, TileAckSchema, TileReplySchema, TileRequestSchema, type TileRequest } from './messages.ts'

export { TILE_PROTOCOL }

/**
 * Tile streams a worker takes at once: it holds at most slots + prefetch tiles of one master, of two
 * masters around a failover; this is far above any device's slots and still bounds a flood.
 */
export const MAX_INBOUND_STREAMS = 256
/**
 * Tile streams a master opens to one worker: at most that worker's slots + prefetch are in flight.
 * libp2p's default, which the swarm always ran with; enough for a 63-slot worker.
 */
export const MAX_OUTBOUND_STREAMS = 64
/** Pixels travel in frames of this size (1 MiB, the swarm's frame size); requests and replies are far smaller. */
export const MAX_FRAME_BYTES = FRAME_BYTES
/**
 * The worker's longest wait for the master's next frame (the pixels, then the ack): a master silent this
 * long is gone, and the result goes to the next one. The master's own wait is its caller's
 * (SendTileOptions.readTimeoutMs), since it depends on the renewal period it asked for.
 */
export const READ_TIMEOUT_MS = 30_000

// ---- the master's side

export interface SendTileOptions {
  signal: AbortSignal
  onWorking: () => void
  /** Longest silence from the worker; it sends "working" every req.renewMs. */
  readTimeoutMs: number
  /** Checks and stores the result; the worker is acked only once this resolves. */
  commit: (result: SentTileResult) => Promise<void>
  /** The read deadlines' clock (default: the system's). */
  clock?: Clock
}

/**
 * A worker's result; kept = the worker stored a copy of it too. `stored`: only the size of pixels that
 * stayed on the worker and on `copies` (the request's copyTo that took them).
 */
export type SentTileResult =
  | (TileResult & { kept: boolean })
  | { stored: { width: number, height: number, channels: 1 | 2 | 3 | 4 }, copies: string[], kept: true }

/**
 * Sends one tile (header + pixels) to a worker, relays its "working" frames as lease renewals, and hands
 * its statistics or pixels to opts.commit; acks once that resolves, answers an error when it throws.
 */
export async function sendTile (node: Pick<Libp2p, 'dialProtocol'>, peer: PeerId, req: TileRequest, data: Uint8Array, opts: SendTileOptions): Promise<SentTileResult> {
  const stream = await node.dialProtocol(peer, TILE_PROTOCOL, { signal: opts.signal })
  const fs = new FrameStream(stream, { maxFrameBytes: MAX_FRAME_BYTES, readTimeoutMs: opts.readTimeoutMs, clock: opts.clock })
  const onAbort = (): void => { fs.abort(new Error('lease revoked')) }
  opts.signal.addEventListener('abort', onAbort, { once: true })
  try {
    await fs.writeJson(req)
    // A request with a source names where the worker gets the pixels itself.
    if (req.source == null) await fs.writeBinary(data, MAX_FRAME_BYTES)
    // Bounded: a worker may only say "working" so many times before the lease or the abort ends it.
    for (;;) {
      const reply = await fs.readJson(TileReplySchema)
      if (reply.type === 'working') { opts.onWorking(); continue }
      if (reply.type === 'stats') return await acked(fs, { stats: reply.stats, kept: reply.kept === true }, opts.commit)
      // A result can never be larger than the tile sent with 4 channels: refuse before reading it.
      const bytes = reply.width * reply.height * reply.channels
      if (reply.width > req.width || reply.height > req.height) throw new MalformedFrameError(`result of ${reply.width}x${reply.height} for a ${req.width}x${req.height} tile`)
      if (reply.type === 'stored') {
        const asked = new Set(req.copyTo ?? [])
        if (!reply.copies.every(p => asked.has(p))) throw new MalformedFrameError('a result stored on peers it was not asked to copy to')
        return await acked(fs, { stored: { width: reply.width, height: reply.height, channels: reply.channels }, copies: reply.copies, kept: true }, opts.commit)
      }
      const pixels = await fs.readBinary(bytes) as Uint8Array
      const image: RawImage = { width: reply.width, height: reply.height, channels: reply.channels, data: pixels }
      return await acked(fs, { image, kept: reply.kept === true }, opts.commit)
    }
  } catch (err) {
    fs.abort(err as Error)
    throw err
  } finally {
    opts.signal.removeEventListener('abort', onAbort)
  }
}

async function acked (fs: FrameStream, result: SentTileResult, commit: (r: SentTileResult) => Promise<void>): Promise<SentTileResult> {
  try {
    await commit(result)
  } catch (err) {
    // An answer, not silence: the worker must not offer a refused result to another master.
    await fs.writeError(ErrorCodes.badTile, (err as Error).message).catch(() => {})
    throw err
  }
  await fs.writeJson({ type: 'ack' })
  await fs.close()
  return result
}

// ---- the worker's side

/** A tile's result, and whether the worker stored a copy of it (then the master needs no standby copy). */
export interface TileAnswer {
  result: TileResult
  kept: boolean
  /** Peers of the request's copyTo that hold a copy of the kept pixels: then only their size is sent. */
  copies?: string[]
}

/** Thrown by a TileHandler to refuse a tile with this error code; any other error refuses it as bad-tile. */
export class TileRefusal extends Error {
  override name = 'TileRefusal'
  readonly code: string
  constructor (code: string, message: string) {
    super(message)
    this.code = code
  }
}

/** What the tile server needs of the worker: its decisions, none of the wire. */
export interface TileHandler {
  /**
   * A tile's request came from peer `from`, its pixels not yet read: the worker's hold on it while it is
   * served. Throws a TileRefusal to refuse it before its pixels are read (no memory for it).
   */
  accept: (req: TileRequest, from: string) => ServedTile
}

export interface ServedTile {
  /**
   * The work: the result and whether it was kept; rejects to refuse the tile (see TileRefusal). `data`:
   * the tile's pixels, or undefined when the request names a source to cut them from.
   */
  compute: (data: Uint8Array | undefined) => Promise<TileAnswer>
  /**
   * Whether the master that leased the tile still counts as its leaser. A master can be gone with its
   * stream intact (a cut cable breaks no stream): the worker knows by the master it now follows.
   */
  leaserHere: () => boolean
  /** A renewal is due and the leaser cannot take it on this stream (gone, or the stream broke). */
  renewElsewhere: () => void
  /** The result could not be handed to its leaser. */
  orphaned: (answer: TileAnswer) => Promise<void>
  /** The stream is over (answered, refused or orphaned); called once, last. */
  release: () => void
}

export interface TileComponents {
  libp2p: Pick<Libp2p, 'handle' | 'unhandle'>
}

export interface TileInit {
  handler: TileHandler
  /** Default READ_TIMEOUT_MS. */
  readTimeoutMs?: number
  /** Renewals and read deadlines run on this clock (default: the system's). */
  clock?: Clock
}

export class TileService {
  readonly #components: TileComponents
  readonly #handler: TileHandler
  readonly #readTimeoutMs: number
  readonly #clock: Clock
  #started = false

  constructor (components: TileComponents, init: TileInit) {
    this.#components = components
    this.#handler = init.handler
    this.#readTimeoutMs = init.readTimeoutMs ?? READ_TIMEOUT_MS
    this.#clock = init.clock ?? systemClock
  }

  async start (): Promise<void> {
    if (this.#started) return
    await this.#components.libp2p.handle(TILE_PROTOCOL, async (stream, connection) => {
      const fs = new FrameStream(stream, { maxFrameBytes: MAX_FRAME_BYTES, readTimeoutMs: this.#readTimeoutMs, clock: this.#clock })
      try {
        await this.#serve(fs, connection.remotePeer.toString())
      } catch (err) {
        // A malformed request resets this stream only.
        fs.abort(err as Error)
      }
    }, { maxInboundStreams: MAX_INBOUND_STREAMS, maxOutboundStreams: MAX_OUTBOUND_STREAMS })
    this.#started = true
  }

  async stop (): Promise<void> {
    if (!this.#started) return
    await this.#components.libp2p.unhandle(TILE_PROTOCOL)
    this.#started = false
  }

  async #serve (fs: FrameStream, from: string): Promise<void> {
    const req = await fs.readJson(TileRequestSchema)
    // Taken (its memory reserved) before its pixels are read: what a request announces is checked first.
    let tile: ServedTile
    try {
      tile = this.#handler.accept(req, from)
    } catch (err) {
      if (!(err instanceof TileRefusal)) throw err
      await fs.writeError(err.code, err.message).catch(() => {})
      // A master that sends pixels is writing them now and reads the refusal only after: reset, so it stops
      // (a reset is transient to it too). One that sent only the request reads the refusal itself.
      if (req.source == null) fs.abort(err)
      else await fs.close()
      return
    }
    try {
      const data = req.source == null ? await fs.readBinary(req.width * req.height * req.channels) as Uint8Array : undefined
      await this.#answer(fs, req, data, tile)
    } finally {
      tile.release()
    }
  }

  async #answer (fs: FrameStream, req: TileRequest, data: Uint8Array | undefined, tile: ServedTile): Promise<void> {
    let broken = false
    const listening = (): boolean => !broken && tile.leaserHere()
    const renew = async (): Promise<void> => {
      if (listening()) {
        try { await fs.writeJson({ type: 'working' }); return } catch { broken = true }
      }
      tile.renewElsewhere()
    }
    const renewals = this.#clock.every(req.renewMs, () => { void renew() })
    let answer: TileAnswer
    try {
      answer = await tile.compute(data)
    } catch (err) {
      await fs.writeError(err instanceof TileRefusal ? err.code : ErrorCodes.badTile, (err as Error).message).catch(() => {})
      await fs.close()
      return
    } finally {
      renewals.cancel()
    }
    if (listening()) {
      try {
        await writeAnswer(fs, answer)
        // Counted only once acked: a master that dies between reading and storing it never acks.
        await fs.readJson(TileAckSchema)
        await fs.close()
        return
      } catch (err) {
        // Refused (an error answer) is the master's decision; only silence means it is gone.
        if (err instanceof RemoteError) return
      }
    }
    fs.abort(new Error('the master that leased this tile is gone'))
    await tile.orphaned(answer)
  }
}

async function writeAnswer (fs: FrameStream, { result, kept, copies }: TileAnswer): Promise<void> {
  if ('stats' in result) {
    await fs.writeJson({ type: 'stats', stats: result.stats, kept })
    return
  }
  const img = result.image
  if (kept && copies != null && copies.length > 0) {
    await fs.writeJson({ type: 'stored', width: img.width, height: img.height, channels: img.channels, copies })
    return
  }
  await fs.writeJson({ type: 'image', width: img.width, height: img.height, channels: img.channels, kept })
  await fs.writeBinary(img.data, MAX_FRAME_BYTES)
}

export function tileProtocol (init: TileInit): (components: TileComponents) => TileService {
  return (components) => new TileService(components, init)
}
