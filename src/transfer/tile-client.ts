// The master's side of the tile protocol: send one tile (header + pixels) to a worker, relay its
// "still working" frames as lease renewals, store its statistics or pixels (opts.commit), then ack.
import type { Libp2p, PeerId } from '@libp2p/interface'
import type { RawImage, TileResult } from '../ops/index.ts'
import { MalformedFrameError } from './errors.ts'
import { FrameStream } from './frames.ts'
import { ErrorCodes, FRAME_BYTES, TILE_PROTOCOL, TileReplySchema, type TileRequest } from './messages.ts'

export interface SendTileOptions {
  signal: AbortSignal
  onWorking: () => void
  /** Longest silence from the worker; it sends "working" every req.renewMs. */
  readTimeoutMs: number
  /** Checks and stores the result; the worker is acked only once this resolves. */
  commit: (result: SentTileResult) => Promise<void>
}

/** A worker's result; kept = the worker stored a copy of it too. */
export type SentTileResult = TileResult & { kept: boolean }

export async function sendTile (node: Libp2p, peer: PeerId, req: TileRequest, data: Uint8Array, opts: SendTileOptions): Promise<SentTileResult> {
  const stream = await node.dialProtocol(peer, TILE_PROTOCOL, { signal: opts.signal })
  const fs = new FrameStream(stream, { maxFrameBytes: FRAME_BYTES, readTimeoutMs: opts.readTimeoutMs })
  const onAbort = (): void => { fs.abort(new Error('lease revoked')) }
  opts.signal.addEventListener('abort', onAbort, { once: true })
  try {
    await fs.writeJson(req)
    await fs.writeBinary(data, FRAME_BYTES)
    // Bounded: a worker may only say "working" so many times before the lease or the abort ends it.
    for (;;) {
      const reply = await fs.readJson(TileReplySchema)
      if (reply.type === 'working') { opts.onWorking(); continue }
      if (reply.type === 'stats') return await acked(fs, { stats: reply.stats, kept: reply.kept === true }, opts.commit)
      // A result can never be larger than the tile sent with 4 channels: refuse before reading it.
      const bytes = reply.width * reply.height * reply.channels
      if (reply.width > req.width || reply.height > req.height) throw new MalformedFrameError(`result of ${reply.width}x${reply.height} for a ${req.width}x${req.height} tile`)
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
