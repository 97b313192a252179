// The worker side of every peer: takes tiles over the tile protocol (or directly from its own master),
// runs them in the kernel pool (off the main thread, so heartbeats keep flowing), and answers with the
// statistics or the pixels. It refuses tiles of an epoch older than the master it follows.
import type { Libp2p } from '@libp2p/interface'
import { createPool, type KernelPool, type RawImage, type TileResult, validatePipeline } from '../ops/index.ts'
import { RemoteError } from '../transfer/errors.ts'
import { FrameStream } from '../transfer/frames.ts'
import { ErrorCodes, FRAME_BYTES, TILE_PROTOCOL, TileAckSchema, TileRequestSchema, type TileRequest } from '../transfer/messages.ts'
import type { TileNotice } from '../transfer/tile-done.ts'
import { StaleEpochError } from './errors.ts'

export interface WorkerOptions {
  /** Tiles run at once; also the capacity announced in heartbeats. */
  slots: number
  /** Worker threads of the kernel pool; default: slots. */
  threads?: number
  /** The epoch of the master this peer follows; tiles of an older epoch are refused. */
  epoch: () => number
  readTimeoutMs?: number
  /** Tests and benches: hold every result this long (a slow device). */
  slowdownMs?: number
  /**
   * Stores a result of a tile served to a master in this peer's data dir before it is sent, so the
   * result has a second copy without the master sending it on to a standby.
   */
  keep?: (req: TileRequest, result: TileResult) => Promise<void>
  /** Tests: run a result through this before it is sent (a faulty worker). */
  tamper?: (result: TileResult, req: TileRequest) => TileResult
  /** The master this peer follows now, if any. */
  master?: () => string | null
  /**
   * Tells the master this peer follows about a tile whose stream to the master that leased it is gone
   * (tile-done protocol); resolves whether that master took it, throws when it could not be reached.
   */
  notify?: (notice: TileNotice) => Promise<boolean>
}

/** How long a finished tile's result is offered to a new master after a failover (an election takes ~2 s). */
const NOTIFY_FOR_MS = 15_000
const NOTIFY_RETRY_MS = 500

export class BadTileError extends Error {
  override name = 'BadTileError'
}

export class WorkerRuntime {
  readonly opts: WorkerOptions
  private pool?: KernelPool
  private running = 0
  /** Tiles received over the tile protocol and not yet answered, by lease id. */
  private readonly serving = new Map<string, TileRequest>()
  private readonly startedAt = Date.now()
  private recent: number[] = []

  constructor (opts: WorkerOptions) {
    this.opts = opts
  }

  get busy (): number { return this.running }

  /** Tiles per second over the last minute. */
  tileSpeed (): number {
    const now = Date.now()
    this.recent = this.recent.filter(t => now - t < 60_000)
    const span = Math.min(60_000, now - this.startedAt) / 1000
    return span > 0 ? Math.round((this.recent.length / span) * 100) / 100 : 0
  }

  async register (node: Libp2p): Promise<void> {
    await node.handle(TILE_PROTOCOL, async (stream, connection) => {
      const fs = new FrameStream(stream, { maxFrameBytes: FRAME_BYTES, readTimeoutMs: this.opts.readTimeoutMs ?? 30_000 })
      try {
        await this.serve(fs, connection.remotePeer.toString())
      } catch (err) {
        // A malformed request resets this stream only.
        fs.abort(err as Error)
      }
    }, { maxInboundStreams: 256 })
  }

  /**
   * One tile from the master `from`. While it runs, "working" frames renew its lease. If that master is
   * gone meanwhile (the stream broke, or this peer now follows another master), the lease lives on with
   * the new master: renewals and the result's notice go to it instead (tile-done protocol), so the tile
   * is not computed again.
   */
  private async serve (fs: FrameStream, from: string): Promise<void> {
    const req = await fs.readJson(TileRequestSchema)
    const expected = req.width * req.height * req.channels
    const data = await fs.readBinary(expected) as Uint8Array
    this.serving.set(req.leaseId, req)
    try {
      await this.serveTile(fs, from, req, data)
    } finally {
      this.serving.delete(req.leaseId)
    }
  }

  private async serveTile (fs: FrameStream, from: string, req: TileRequest, data: Uint8Array): Promise<void> {
    let orphaned = false
    // Gone: the stream broke, or this peer has since started to follow another master (a cut cable
    // breaks no stream). Compared with the master followed when the tile came, not with `from`: a tile
    // may come from a peer that is not the master this one follows (a bench client, a peer elected a
    // moment before this one noticed).
    const followed = this.opts.master?.() ?? null
    const leaserGone = (): boolean => {
      const now = this.opts.master?.() ?? null
      return orphaned || (now != null && now !== followed && now !== from)
    }
    const renew = async (): Promise<void> => {
      if (!leaserGone()) {
        try { await fs.writeJson({ type: 'working' }); return } catch { orphaned = true }
      }
      await this.opts.notify?.({ type: 'renew', ...noticeOf(req) }).catch(() => {})
    }
    let timer: NodeJS.Timeout | undefined
    try {
      timer = setInterval(() => { void renew() }, req.renewMs)
      const result = await this.run(req, data)
      // Not kept (a full disk, say): the master copies the result to a standby as it would otherwise.
      const kept = this.opts.keep == null ? false : await this.opts.keep(req, result).then(() => true, () => false)
      clearInterval(timer)
      if (leaserGone()) orphaned = true
      else {
        try {
          if ('stats' in result) {
            await fs.writeJson({ type: 'stats', stats: result.stats, kept })
          } else {
            const img = result.image
            await fs.writeJson({ type: 'image', width: img.width, height: img.height, channels: img.channels, kept })
            await fs.writeBinary(img.data, FRAME_BYTES)
          }
          // Counted only once acked: a master that dies between reading and storing it never acks.
          await fs.readJson(TileAckSchema)
          await fs.close()
        } catch (err) {
          // Refused (an error answer) is the master's decision; only silence means it is gone.
          if (!(err instanceof RemoteError)) orphaned = true
        }
      }
      if (orphaned) {
        fs.abort(new Error('the master that leased this tile is gone'))
        if (kept) await this.offer({ type: 'done', ...noticeOf(req), ...('stats' in result ? { stats: result.stats } : {}) })
      }
    } catch (err) {
      clearInterval(timer)
      const code = err instanceof StaleEpochError ? ErrorCodes.staleEpoch : ErrorCodes.badTile
      await fs.writeError(code, (err as Error).message).catch(() => {})
      await fs.close().catch(() => {})
    }
  }

  /**
   * Tells a newly followed master every lease this worker holds, so it re-queues at once the ones whose
   * tile never arrived here (bounded retries while that master is still taking over).
   */
  async reportHolding (): Promise<void> {
    await this.offer({ type: 'holding', leaseIds: [...this.serving.keys()] })
  }

  /** Offers a notice to the master this peer follows, until one answers (bounded in time). */
  private async offer (notice: TileNotice): Promise<void> {
    const notify = this.opts.notify
    if (notify == null) return
    const until = Date.now() + NOTIFY_FOR_MS
    for (let i = 0; i < 100 && Date.now() < until; i++) {
      try {
        await notify(notice)
        return // taken or ignored: either way the master has decided
      } catch {
        await new Promise(resolve => setTimeout(resolve, NOTIFY_RETRY_MS))
      }
    }
  }

  /** Runs one tile; the master calls this directly for tiles it leases to itself. */
  async run (req: TileRequest, data: Uint8Array): Promise<TileResult> {
    if (req.epoch < this.opts.epoch()) throw new StaleEpochError(req.epoch, this.opts.epoch())
    const pipeline = validatePipeline(req.pipeline)
    if (data.byteLength !== req.width * req.height * req.channels) throw new BadTileError(`tile data is ${data.byteLength} bytes, expected ${req.width}x${req.height}x${req.channels}`)
    const tile: RawImage = { width: req.width, height: req.height, channels: req.channels, data }
    this.pool ??= createPool({ size: this.opts.threads ?? Math.max(1, this.opts.slots) })
    this.running++
    try {
      const result = await this.pool.run(tile, pipeline, { phase: req.phase, stats: req.stats, core: req.core })
      if (this.opts.slowdownMs != null && this.opts.slowdownMs > 0) await new Promise(resolve => setTimeout(resolve, this.opts.slowdownMs))
      this.recent.push(Date.now())
      return this.opts.tamper != null ? this.opts.tamper(result, req) : result
    } finally {
      this.running--
    }
  }

  async close (): Promise<void> {
    await this.pool?.close()
    this.pool = undefined
  }
}

function noticeOf (req: TileRequest): { jobId: string, phase: number, index: number, leaseId: string, epoch: number } {
  return { jobId: req.jobId, phase: req.phase, index: req.index, leaseId: req.leaseId, epoch: req.epoch }
}
