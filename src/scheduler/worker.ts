// The worker side of every peer: takes tiles over the tile protocol (or directly from its own master),
// runs them in the kernel pool (off the main thread, so heartbeats keep flowing), and answers with the
// statistics or the pixels. It refuses tiles of an epoch older than the master it follows. The wire is
// src/transfer/tile-protocol.ts's TileService; this decides: the work, the leases it holds, when the
// leasing master counts as gone, and offering a kept result to the master it follows instead.
import { unlink } from 'node:fs/promises'
import { tileWorkingBytes, type MemoryBudget, type Reservation } from '../ops/memory-budget.ts'
import { createPool, decodeImage, decodeToFile, DEFAULT_MAX_PIXELS, openDecodedFile, probeImage, readRect, sliceTile, type DecodedFile, type KernelPool, type RawImage, type TileResult, validatePipeline } from '../ops/index.ts'
import { systemClock, type Clock } from '../transfer/clock.ts'
import { ErrorCodes, type TileRequest } from '../transfer/messages.ts'
import type { TileNotice } from '../transfer/tile-done.ts'
import { TileRefusal, type ServedTile, type TileAnswer, type TileHandler } from '../transfer/tile-protocol.ts'
import { StaleEpochError } from './errors.ts'
import { WHOLE_INPUT_MAX_BYTES } from './master-planner.ts'

export interface WorkerOptions {
  /** Tiles run at once; also the capacity announced in heartbeats. */
  slots: number
  /** Worker threads of the kernel pool; default: slots. */
  threads?: number
  /** The epoch of the master this peer follows; tiles of an older epoch are refused. */
  epoch: () => number
  /** Tests and benches: hold every result this long (a slow device). */
  slowdownMs?: number
  /**
   * Stores a result of a tile served to a master in this peer's data dir before it is sent, so the
   * result has a second copy without the master sending it on to a standby.
   */
  keep?: (req: TileRequest, result: TileResult) => Promise<void>
  /**
   * Copies a kept tile result to `peers` (the request's copyTo: the job's standbys); resolves those that
   * took it. Then the master gets only the result's size, and the pixels stay off it.
   */
  copy?: (req: TileRequest, peers: string[]) => Promise<string[]>
  /** Tests: run a result through this before it is sent (a faulty worker). */
  tamper?: (result: TileResult, req: TileRequest) => TileResult
  /**
   * Brings a job's input here for a request that names a source (from its holders, checked against
   * its sha256) and resolves the local file's path.
   */
  fetchInput?: (req: TileRequest) => Promise<string>
  /** The largest input this worker decodes (default DEFAULT_MAX_PIXELS). */
  maxPixels?: number
  /** Inputs decoded whole up to this many bytes, larger ones a tile at a time (default WHOLE_INPUT_MAX_BYTES). */
  wholeInputMaxBytes?: number
  /**
   * The peer's memory budget: a tile is taken only once its working set is reserved (before its pixels are
   * read), and an input is kept decoded whole only while it fits; undefined: no limit (tests, benches).
   */
  memory?: MemoryBudget
  /** The master this peer follows now, if any. */
  master?: () => string | null
  /**
   * Tells the master this peer follows about a tile whose stream to the master that leased it is gone
   * (tile-done protocol); resolves whether that master took it, throws when it could not be reached.
   */
  notify?: (notice: TileNotice) => Promise<boolean>
  /** Tile speed, slowdowns and notice retries run on this clock (default: the system's). */
  clock?: Clock
}

/** How long a finished tile's result is offered to a new master after a failover (an election takes ~2 s). */
export const NOTIFY_FOR_MS = 15_000
/** Between offers: a master still opening its queue answers within a few of these. */
export const NOTIFY_RETRY_MS = 500
/** A bound on offers besides the time, in case a clock stands still. */
const MAX_OFFERS = 100
/**
 * Decoded inputs kept at once: the job being worked and the next one (a job's tiles come in order, so
 * an older job's input is rarely needed again; more would hold several whole images).
 */
export const MAX_INPUTS = 2
/** The window tileSpeed() averages over. */
const SPEED_WINDOW_MS = 60_000

export class BadTileError extends Error {
  override name = 'BadTileError'
}

/** No room in this peer's memory budget for the tile now: not the tile's fault, the master tries elsewhere. */
export class NoMemoryError extends TileRefusal {
  override name = 'NoMemoryError'
  constructor (message: string) {
    super(ErrorCodes.noMemory, message)
  }
}

export class WorkerRuntime implements TileHandler {
  readonly opts: WorkerOptions
  private readonly clock: Clock
  private pool?: KernelPool
  private running = 0
  /** Tiles received over the tile protocol and not yet answered, by lease id. */
  private readonly serving = new Map<string, TileRequest>()
  private readonly startedAt: number
  private recent: number[] = []
  /**
   * Inputs of jobs whose tiles this worker cuts itself, oldest first: decoded whole in memory when small,
   * else decoded once into a file beside the input, from which each tile's rectangle is read.
   */
  private readonly inputs = new Map<string, Promise<{ whole: RawImage, memory?: Reservation } | { file: DecodedFile }>>()

  constructor (opts: WorkerOptions) {
    this.opts = opts
    this.clock = opts.clock ?? systemClock
    this.startedAt = this.clock.now()
  }

  get busy (): number { return this.running }

  /** Tiles per second over the last minute. */
  tileSpeed (): number {
    const now = this.clock.now()
    this.recent = this.recent.filter(t => now - t < SPEED_WINDOW_MS)
    const span = Math.min(SPEED_WINDOW_MS, now - this.startedAt) / 1000
    return span > 0 ? Math.round((this.recent.length / span) * 100) / 100 : 0
  }

  /**
   * One tile from the master `from`. While it runs, "working" frames renew its lease. If that master is
   * gone meanwhile (the stream broke, or this peer now follows another master), the lease lives on with
   * the new master: renewals and the result's notice go to it instead (tile-done protocol), so the tile
   * is not computed again.
   */
  accept (req: TileRequest, from: string): ServedTile {
    const memory = this.reserve(req)
    this.serving.set(req.leaseId, req)
    // Gone: this peer has since started to follow another master. Compared with the master followed
    // when the tile came, not with `from`: a tile may come from a peer that is not the master this one
    // follows (a bench client, a peer elected a moment before this one noticed).
    const followed = this.opts.master?.() ?? null
    return {
      compute: async (data: Uint8Array | undefined): Promise<TileAnswer> => {
        let result: TileResult
        try {
          result = await this.run(req, data ?? await this.cut(req))
        } catch (err) {
          if (err instanceof StaleEpochError) throw new TileRefusal(ErrorCodes.staleEpoch, err.message)
          throw err
        }
        // Not kept (a full disk, say): the master copies the result to a standby as it would otherwise.
        const kept = this.opts.keep == null ? false : await this.opts.keep(req, result).then(() => true, () => false)
        // No standby took a copy: the pixels go to the master, which stores them (its copy is the second).
        const copies = kept && 'image' in result && req.copyTo != null && req.copyTo.length > 0 && this.opts.copy != null
          ? await this.opts.copy(req, req.copyTo).catch(() => [])
          : []
        return { result, kept, copies }
      },
      leaserHere: () => {
        const now = this.opts.master?.() ?? null
        return now == null || now === followed || now === from
      },
      renewElsewhere: () => { void this.opts.notify?.({ type: 'renew', ...noticeOf(req) }).catch(() => {}) },
      orphaned: async ({ result, kept }) => {
        if (kept) await this.offer({ type: 'done', ...noticeOf(req), ...('stats' in result ? { stats: result.stats } : {}) })
      },
      release: () => {
        this.serving.delete(req.leaseId)
        memory?.release()
      }
    }
  }

  /**
   * The tile's working set from the memory budget, or a NoMemoryError: called before the tile's pixels are
   * read, so a request cannot make this peer allocate what it announces before it is checked.
   */
  reserve (req: Pick<TileRequest, 'width' | 'height'>): Reservation | undefined {
    const budget = this.opts.memory
    if (budget == null) return undefined
    const need = tileWorkingBytes(req.width, req.height)
    const got = budget.tryReserve(need)
    if (got == null) throw new NoMemoryError(budget.describe(need, `a ${req.width}x${req.height} tile`))
    return got
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
    const until = this.clock.now() + NOTIFY_FOR_MS
    for (let i = 0; i < MAX_OFFERS && this.clock.now() < until; i++) {
      try {
        await notify(notice)
        return // taken or ignored: either way the master has decided
      } catch {
        await this.clock.sleep(NOTIFY_RETRY_MS)
      }
    }
  }

  /**
   * The tile's pixels cut from the job's input, which is fetched and decoded once per job. Not having
   * the input is not the tile's fault: the master hears input-unavailable and tries again later.
   */
  async cut (req: TileRequest): Promise<Uint8Array> {
    const src = req.source
    if (src == null) throw new BadTileError('a tile with neither pixels nor a source')
    let input = this.inputs.get(req.jobId)
    if (input == null) {
      const fetch = this.opts.fetchInput
      if (fetch == null) throw new TileRefusal(ErrorCodes.inputUnavailable, 'this worker cannot fetch inputs')
      const maxPixels = this.opts.maxPixels ?? DEFAULT_MAX_PIXELS
      input = fetch(req).then(async path => {
        const info = await probeImage(path, { maxPixels })
        const name = `the input of ${req.jobId}`
        const bytes = info.width * info.height * info.channels
        // Kept whole only if the budget has room for it while the job's tiles come here.
        const small = bytes <= (this.opts.wholeInputMaxBytes ?? WHOLE_INPUT_MAX_BYTES)
        const memory = small ? this.opts.memory?.tryReserve(bytes, { lasting: true }) : undefined
        if (!small || (this.opts.memory != null && memory == null)) {
          // On the master, the check at submit left this decode beside the input already.
          return { file: await openDecodedFile(decodedPathOf(path), info) ?? await decodeToFile(path, decodedPathOf(path), { maxPixels, name }) }
        }
        try {
          return { whole: await decodeImage(path, { maxPixels, name }), ...(memory != null ? { memory } : {}) }
        } catch (err) {
          memory?.release()
          throw err
        }
      })
      this.inputs.set(req.jobId, input)
      input.catch(() => { if (this.inputs.get(req.jobId) === input) this.inputs.delete(req.jobId) })
      for (const jobId of this.inputs.keys()) if (this.inputs.size > MAX_INPUTS) this.forget(jobId)
    }
    const halo = { x: src.x, y: src.y, width: req.width, height: req.height }
    let raw: RawImage
    let cached = false
    try {
      const got = await input
      cached = 'whole' in got
      raw = 'whole' in got ? got.whole : await readRect(got.file, halo)
    } catch (err) {
      throw new TileRefusal(ErrorCodes.inputUnavailable, `cannot get the input of ${req.jobId}: ${(err as Error).message}`)
    }
    if (raw.channels !== req.channels) throw new BadTileError(`the input of ${req.jobId} has ${raw.channels} channels, the tile ${req.channels}`)
    // The pool transfers a tile's buffer to its thread, detaching it here: a tile that is the whole cached
    // input is a copy, or the job's next tile (its next phase) would find the input 0 bytes long.
    if (raw.width === halo.width && raw.height === halo.height) return cached ? raw.data.slice() : raw.data
    return sliceTile(raw, { index: req.index, core: halo, halo }).data
  }

  /** A job is over (its files dropped): its decoded input goes. */
  forget (jobId: string): void {
    const input = this.inputs.get(jobId)
    this.inputs.delete(jobId)
    // A decoded file goes with it (it is as large as the decoded image); a whole one gives its memory back.
    void input?.then(got => {
      if ('file' in got) return unlink(got.file.path)
      got.memory?.release()
    }).catch(() => {})
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
      if (this.opts.slowdownMs != null && this.opts.slowdownMs > 0) await this.clock.sleep(this.opts.slowdownMs)
      this.recent.push(this.clock.now())
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

/** Where a large input's decoded file is kept: beside the input (it goes with the job's directory). */
export const decodedPathOf = (inputPath: string): string => `${inputPath}.decoded`

function noticeOf (req: TileRequest): { jobId: string, phase: number, index: number, leaseId: string, epoch: number } {
  return { jobId: req.jobId, phase: req.phase, index: req.index, leaseId: req.leaseId, epoch: req.epoch }
}
