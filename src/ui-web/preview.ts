// A job's live preview (GET /api/jobs/:id/preview): the stitched output, small, as its tiles complete,
// as render farms show the last frame rendered. Workers keep their tiles (the master is out of the data
// path), so a tile is brought here only when a page asks for the preview, and then the way the stitch
// brings it (ensureLocal): the copy stays here and the stitch later reads it without fetching it again,
// so watching a job moves no more bytes than not watching it. Each tile is shrunk once into the job's
// small canvas; a done job's preview is its output, shrunk.
import sharp from 'sharp'
import type { MasterRuntime } from '../scheduler/master.ts'
import { extensionOf } from '../scheduler/master.ts'
import { tileName } from '../scheduler/job-files.ts'
import type { MemoryBudget } from '../ops/memory-budget.ts'

/** The preview's longer side: enough to see the work on a phone or in a job list, small to send often. */
export const PREVIEW_EDGE = 480
/** Tiles brought and shrunk per request: a page asks again within seconds, the answer never waits long. */
export const PREVIEW_TILES_PER_REQUEST = 16
/** Jobs whose canvas is kept (PREVIEW_EDGE² x 4 bytes each at most, under 1 MiB). */
export const PREVIEW_JOBS = 8

interface Canvas {
  width: number
  height: number
  channels: number
  scale: number
  data: Uint8Array
  added: Set<number>
  /** The PNG of the canvas and how many tiles it showed (encoded again only when more are in). */
  png?: { tiles: number, bytes: Buffer }
  /** The output's preview, once the job is done. */
  final?: Buffer
}

export interface PreviewComponents {
  master: Pick<MasterRuntime, 'ensureLocal' | 'meta' | 'files'>
  /** A tile is read whole into memory to be shrunk: only when the budget has room (else the next request). */
  memory?: Pick<MemoryBudget, 'tryReserve'>
}

export class Previews {
  readonly #c: PreviewComponents
  readonly #jobs = new Map<string, Canvas>()
  /** One preview is made at a time: two tabs on one job must not fetch its tiles twice. */
  #chain: Promise<unknown> = Promise.resolve()

  constructor (components: PreviewComponents) {
    this.#c = components
  }

  /** The preview PNG: `done` tiles of the final phase (indices), or the output once `finished`. */
  async png (jobId: string, done: number[], finished: boolean): Promise<Buffer | undefined> {
    const run = this.#chain.then(async () => await this.make(jobId, done, finished))
    this.#chain = run.catch(() => {})
    return await run
  }

  private canvasOf (jobId: string): Canvas {
    let c = this.#jobs.get(jobId)
    if (c != null) {
      this.#jobs.delete(jobId)
      this.#jobs.set(jobId, c) // most recently used last
      return c
    }
    const meta = this.#c.master.meta(jobId)
    const scale = Math.min(1, PREVIEW_EDGE / Math.max(meta.width, meta.height))
    const width = Math.max(1, Math.round(meta.width * scale))
    const height = Math.max(1, Math.round(meta.height * scale))
    const channels = meta.outChannels
    c = { width, height, channels, scale, data: new Uint8Array(width * height * channels), added: new Set() }
    if (this.#jobs.size >= PREVIEW_JOBS) this.#jobs.delete(this.#jobs.keys().next().value!)
    this.#jobs.set(jobId, c)
    return c
  }

  private async make (jobId: string, done: number[], finished: boolean): Promise<Buffer | undefined> {
    const meta = this.#c.master.meta(jobId)
    const c = this.canvasOf(jobId)
    if (finished) {
      if (c.final != null) return c.final
      const name = `output.${extensionOf(meta.format)}`
      await this.#c.master.ensureLocal(jobId, meta, name)
      c.final = await sharp(this.#c.master.files.pathOf(jobId, name), { limitInputPixels: false }).resize(c.width, c.height, { fit: 'fill' }).png().toBuffer()
      c.data = new Uint8Array(0) // the canvas is not needed any more
      return c.final
    }
    const cols = Math.ceil(meta.width / meta.tileSize)
    let brought = 0
    for (const index of done) {
      if (c.added.has(index) || brought >= PREVIEW_TILES_PER_REQUEST) continue
      const memory = this.#c.memory?.tryReserve(2 * meta.tileSize * meta.tileSize * meta.outChannels)
      if (this.#c.memory != null && memory == null) break
      brought++
      try {
        await this.#c.master.ensureLocal(jobId, meta, tileName(index))
        const tile = await this.#c.master.files.readTile(jobId, index)
        this.paste(c, tile, (index % cols) * meta.tileSize, Math.floor(index / cols) * meta.tileSize)
        c.added.add(index)
      } finally {
        memory?.release()
      }
    }
    if (c.added.size === 0) return undefined
    if (c.png?.tiles !== c.added.size) {
      c.png = { tiles: c.added.size, bytes: await sharp(c.data, { raw: { width: c.width, height: c.height, channels: c.channels as 1 | 2 | 3 | 4 } }).png().toBuffer() }
    }
    return c.png.bytes
  }

  /** Shrinks a tile (its core, at x, y of the output) into the canvas. */
  private paste (c: Canvas, tile: { width: number, height: number, channels: number, data: Uint8Array }, x: number, y: number): void {
    const x0 = Math.round(x * c.scale)
    const y0 = Math.round(y * c.scale)
    const x1 = Math.min(c.width, Math.round((x + tile.width) * c.scale))
    const y1 = Math.min(c.height, Math.round((y + tile.height) * c.scale))
    const ch = Math.min(c.channels, tile.channels)
    // Nearest pixel: a preview, and a few thousand pixels per tile at most, not worth a worker thread.
    for (let py = y0; py < y1; py++) {
      const ty = Math.max(0, Math.min(tile.height - 1, Math.floor((py + 0.5) / c.scale) - y))
      for (let px = x0; px < x1; px++) {
        const tx = Math.max(0, Math.min(tile.width - 1, Math.floor((px + 0.5) / c.scale) - x))
        const from = (ty * tile.width + tx) * tile.channels
        const to = (py * c.width + px) * c.channels
        for (let k = 0; k < ch; k++) c.data[to + k] = tile.data[from + k]
      }
    }
  }
}
