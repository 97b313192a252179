// Local (non-swarm) execution: `swarm run`, the reference the swarm's output must equal. Also the tiled
// algorithm in one process, step for step what the master and workers do over the network:
//   plan tiles with the pipeline halo; for each stats phase: slice every tile, runTile, merge the stats;
//   final phase: slice, runTile, stitch the cores.
import { createPool } from './pool.ts'
import type { KernelPool } from './pool.ts'
import { decodeImage, encodeImage, outputFormatFor } from './image-io.ts'
import { InvalidTileError } from './errors.ts'
import { outputChannels, phaseCount, pipelineHalo } from './pipeline.ts'
import type { Pipeline } from './pipeline.ts'
import { mergeStats, runTile } from './run-tile.ts'
import type { TileResult } from './run-tile.ts'
import { createRaw } from './raw.ts'
import type { Channels, RawImage } from './raw.ts'
import { coreInTile, placeTile, planTiles, sliceTile } from './tiling.ts'
import type { Tile } from './tiling.ts'

export interface RunLocalOptions {
  /** Pool to run the kernels on; by default one is created (and closed) for this run. */
  pool?: KernelPool
  maxPixels?: number
}

export interface RunLocalResult {
  width: number
  height: number
  inputChannels: Channels
  channels: Channels
  phases: number
  milliseconds: number
}

/** Decodes `inputPath` once, runs the pipeline on the whole image off the main thread, writes `outputPath`. */
export async function runLocal (inputPath: string, pipeline: Pipeline, outputPath: string, options: RunLocalOptions = {}): Promise<RunLocalResult> {
  const started = performance.now()
  outputFormatFor(outputPath) // fail on a bad output name before the expensive part
  const raw = await decodeImage(inputPath, { maxPixels: options.maxPixels })
  const inputChannels = raw.channels
  const pool = options.pool ?? createPool()
  try {
    const out = await runImage(raw, pipeline, pool)
    await encodeImage(out, outputPath)
    return {
      width: out.width,
      height: out.height,
      inputChannels,
      channels: out.channels,
      phases: phaseCount(pipeline),
      milliseconds: Math.round(performance.now() - started)
    }
  } finally {
    if (!options.pool) await pool.close()
  }
}

/**
 * The whole image as a single tile, through the pool, all phases. `raw`'s buffer is handed to a worker
 * in the final phase (detached afterwards); the statistics phases send copies.
 */
export async function runImage (raw: RawImage, pipeline: Pipeline, pool: KernelPool): Promise<RawImage> {
  const core = { x: 0, y: 0, width: raw.width, height: raw.height }
  const phases = phaseCount(pipeline)
  const stats: unknown[] = []
  for (let phase = 0; phase < phases - 1; phase++) {
    const r = await pool.run(raw, pipeline, { phase, stats, core }, { transfer: false })
    stats.push(mergeStats(pipeline, phase, [statsOf(r)]))
  }
  return imageOf(await pool.run(raw, pipeline, { phase: phases - 1, stats, core }))
}

/** The whole-image run, in this thread (tests and tools only: it blocks the event loop). */
export function runWholeInProcess (raw: RawImage, pipeline: Pipeline): RawImage {
  const whole = { x: 0, y: 0, width: raw.width, height: raw.height }
  return runTilesInProcess(raw, pipeline, [{ index: 0, core: whole, halo: whole }])
}

/** The distributed algorithm with tiles of `tileSize`, in this thread. Equals runWholeInProcess byte for byte. */
export function runTiledInProcess (raw: RawImage, pipeline: Pipeline, tileSize: number): RawImage {
  return runTilesInProcess(raw, pipeline, planTiles(raw.width, raw.height, tileSize, pipelineHalo(pipeline)))
}

function runTilesInProcess (raw: RawImage, pipeline: Pipeline, tiles: Tile[]): RawImage {
  const phases = phaseCount(pipeline)
  const stats: unknown[] = []
  for (let phase = 0; phase < phases - 1; phase++) {
    const perTile = tiles.map(t => statsOf(runTile(sliceTile(raw, t), pipeline, { phase, stats, core: coreInTile(t) })))
    stats.push(mergeStats(pipeline, phase, perTile))
  }
  const out = createRaw(raw.width, raw.height, outputChannels(pipeline, raw.channels))
  for (const t of tiles) {
    placeTile(out, t, imageOf(runTile(sliceTile(raw, t), pipeline, { phase: phases - 1, stats, core: coreInTile(t) })))
  }
  return out
}

function statsOf (r: TileResult): unknown {
  if (!('stats' in r)) throw new InvalidTileError('expected statistics from a statistics phase, got an image')
  return r.stats
}

function imageOf (r: TileResult): RawImage {
  if (!('image' in r)) throw new InvalidTileError('expected an image from the final phase, got statistics')
  return r.image
}
