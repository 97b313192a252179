// Running a pipeline on one tile, phase by phase. This is the unit of work a peer does; it is pure (no
// I/O, no clock), so running a tile twice, or on two peers, gives the same bytes.
//
// Phases: with G global ops (Otsu, normalise, equalise...) a pipeline has G + 1 phases. In phase k < G
// the tile runs the ops before the k-th global op (using the merged stats of global ops 0..k-1), then
// measures statistics over its CORE only; the master merges the stats of all tiles (mergeStats). The
// final phase G runs the whole pipeline with all merged stats and returns the core, cropped.
import { getOp } from './catalogue.ts'
import { InvalidTileError } from './errors.ts'
import { globalOps } from './pipeline.ts'
import type { Pipeline } from './pipeline.ts'
import type { RawImage, Rect } from './raw.ts'
import { copyRect, isRawImage, rectInside } from './raw.ts'
import { scope } from './wasm/engine.ts'
import type { Resident } from './wasm/resident.ts'
import { toRaw, toResident, view } from './wasm/resident.ts'

export interface TileOptions {
  phase: number
  /** Merged statistics of the global ops before this phase: stats[k] belongs to the k-th global op. */
  stats: unknown[]
  /** The core rectangle in tile coordinates; pixels outside it are halo. */
  core: Rect
}

export type TileResult = { stats: unknown } | { image: RawImage }

export function runTile (tile: RawImage, pipeline: Pipeline, opts: TileOptions): TileResult {
  if (!isRawImage(tile)) throw new InvalidTileError('the tile is not a valid raw image (width, height, channels 1-4 and data of width * height * channels bytes)')
  const { phase, core } = opts
  if (!rectInside(core, tile.width, tile.height)) {
    throw new InvalidTileError(`the core ${JSON.stringify(core)} does not lie inside the ${tile.width}x${tile.height} tile`)
  }
  const globals = globalOps(pipeline)
  if (!Number.isInteger(phase) || phase < 0 || phase > globals.length) {
    throw new InvalidTileError(`phase ${phase} does not exist: this pipeline has phases 0..${globals.length}`)
  }
  const stats = opts.stats ?? []
  if (stats.length < phase) throw new InvalidTileError(`phase ${phase} needs the merged statistics of ${phase} earlier phase(s), got ${stats.length}`)
  const checked: unknown[] = []
  for (let k = 0; k < phase; k++) checked.push(parseStats(pipeline, globals[k], stats[k]))

  const stopAt = phase < globals.length ? globals[phase] : pipeline.ops.length
  // The tile enters wasm memory once and every op with a kernel works on it there; an op without one
  // gets an ordinary copy. The scope frees all of it once the result has been copied out.
  return scope(() => {
    let img: Resident | RawImage = tile
    let g = 0
    for (let i = 0; i < stopAt; i++) {
      const call = pipeline.ops[i]
      const op = getOp(call.name)
      const merged = globals[g] === i ? checked[g++] : undefined
      if (op.kernel) img = op.kernel(resident(img), call.params, merged)
      else img = op.apply(raw(img), call.params, merged)
    }
    if (phase < globals.length) {
      const call = pipeline.ops[stopAt]
      return { stats: getOp(call.name).global?.(call.params)?.measure('ptr' in img ? view(img) : img, core) }
    }
    if ('ptr' in img) return { image: toRaw(img, core) }
    return { image: core.width === img.width && core.height === img.height && img !== tile ? img : copyRect(img, core) }
  })
}

const resident = (img: Resident | RawImage): Resident => 'ptr' in img ? img : toResident(img)
const raw = (img: Resident | RawImage): RawImage => 'ptr' in img ? toRaw(img) : img

/** Merges the per-tile statistics of `phase` (in any order: merging is associative and commutative). */
export function mergeStats (pipeline: Pipeline, phase: number, list: readonly unknown[]): unknown {
  const globals = globalOps(pipeline)
  if (!Number.isInteger(phase) || phase < 0 || phase >= globals.length) {
    throw new InvalidTileError(`phase ${phase} has no statistics: this pipeline has ${globals.length} statistics phase(s)`)
  }
  if (list.length === 0) throw new InvalidTileError('nothing to merge: no tile statistics')
  const call = pipeline.ops[globals[phase]]
  const part = getOp(call.name).global?.(call.params)
  if (!part) throw new InvalidTileError(`${call.name} has no statistics`)
  return part.merge(list.map(s => parseStats(pipeline, globals[phase], s)))
}

function parseStats (pipeline: Pipeline, opIndex: number, value: unknown): unknown {
  const call = pipeline.ops[opIndex]
  const part = getOp(call.name).global?.(call.params)
  const r = part?.schema.safeParse(value)
  if (!r?.success) throw new InvalidTileError(`${call.name}: malformed statistics ${JSON.stringify(value)?.slice(0, 80)}`)
  return r.data
}
