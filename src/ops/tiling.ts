// Cutting an image into tiles with a halo and stitching the processed cores back.
// A tile's core rectangles partition the image; its halo rectangle is the core grown by the pipeline halo
// on every side and clamped to the image. Kernels replicate the edge of whatever they are given, which
// at an image border is the image's own edge, and inside the image only ever touches halo pixels that
// are cropped away -- so stitched cores equal the whole-image result exactly.
import { InvalidParameterError, InvalidTileError } from './errors.ts'
import type { RawImage, Rect } from './raw.ts'
import { copyRect, isRawImage, rectInside } from './raw.ts'
import { MAX_TILE_SIZE, MIN_TILE_SIZE } from './limits.ts'
// In limits.ts, which imports nothing: the command line's --tile-size bounds, printed in its help.
export { MAX_TILE_SIZE, MIN_TILE_SIZE } from './limits.ts'

export interface Tile {
  /** Row-major position: stable for a given (width, height, tileSize). */
  index: number
  /** The pixels this tile is responsible for, in image coordinates. */
  core: Rect
  /** The pixels it must be given (core + halo, clamped to the image), in image coordinates. */
  halo: Rect
}

function checkInt (name: string, v: unknown, min: number, max: number): void {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
    throw new InvalidParameterError('tiling', name, v, `an integer between ${min} and ${max}`)
  }
}

export function planTiles (width: number, height: number, tileSize: number, halo: number): Tile[] {
  checkInt('width', width, 1, 1 << 30)
  checkInt('height', height, 1, 1 << 30)
  checkInt('tileSize', tileSize, MIN_TILE_SIZE, MAX_TILE_SIZE)
  checkInt('halo', halo, 0, 1 << 20)
  const tiles: Tile[] = []
  for (let y = 0; y < height; y += tileSize) {
    for (let x = 0; x < width; x += tileSize) {
      const core = { x, y, width: Math.min(tileSize, width - x), height: Math.min(tileSize, height - y) }
      const x0 = Math.max(0, x - halo)
      const y0 = Math.max(0, y - halo)
      const x1 = Math.min(width, core.x + core.width + halo)
      const y1 = Math.min(height, core.y + core.height + halo)
      tiles.push({ index: tiles.length, core, halo: { x: x0, y: y0, width: x1 - x0, height: y1 - y0 } })
    }
  }
  return tiles
}

/** Bounds of the tile edge chosen when a job names none (see autoTileSize). */
export const AUTO_TILE_MIN = 512
export const AUTO_TILE_MAX = 2048
/** Tiles per slot of the swarm the automatic size aims for: enough that a slow or lost peer's tiles are a small part. */
export const AUTO_TILES_PER_SLOT = 8

/**
 * The tile edge for a job that names none: about AUTO_TILES_PER_SLOT tiles per slot of the swarm, in
 * multiples of 64 from AUTO_TILE_MIN to AUTO_TILE_MAX. Each tile costs a fixed amount of bookkeeping and
 * messages besides its pixels, so a small swarm gets fewer, larger tiles; a large one keeps tiles small
 * enough for every slot to get several.
 */
export function autoTileSize (width: number, height: number, slots: number): number {
  checkInt('width', width, 1, 1 << 30)
  checkInt('height', height, 1, 1 << 30)
  checkInt('slots', slots, 0, 1 << 20)
  const edge = Math.sqrt((width * height) / (AUTO_TILES_PER_SLOT * Math.max(1, slots)))
  return Math.min(AUTO_TILE_MAX, Math.max(AUTO_TILE_MIN, Math.floor(edge / 64) * 64))
}

/** The core rectangle relative to the tile's halo rectangle: what runTile gets as `core`. */
export function coreInTile (tile: Tile): Rect {
  return { x: tile.core.x - tile.halo.x, y: tile.core.y - tile.halo.y, width: tile.core.width, height: tile.core.height }
}

/** A copy of the tile's halo rectangle. */
export function sliceTile (raw: RawImage, tile: Tile): RawImage {
  if (!rectInside(tile.halo, raw.width, raw.height)) {
    throw new InvalidTileError(`tile ${tile.index}: its rectangle ${JSON.stringify(tile.halo)} is not inside the ${raw.width}x${raw.height} image`)
  }
  return copyRect(raw, tile.halo)
}

/** Writes a processed core into the output image; refuses a result of the wrong size or channel count. */
/** Throws InvalidTileError unless `core` is the tile's result and the tile lies inside a width x height output. */
export function checkPlacement (out: { width: number, height: number, channels: number }, tile: Tile, core: RawImage): void {
  if (!isRawImage(core)) throw new InvalidTileError(`tile ${tile.index}: the result is not a valid raw image`)
  if (core.width !== tile.core.width || core.height !== tile.core.height || core.channels !== out.channels) {
    throw new InvalidTileError(`tile ${tile.index}: the result is ${core.width}x${core.height}x${core.channels}, expected ${tile.core.width}x${tile.core.height}x${out.channels}`)
  }
  if (!rectInside(tile.core, out.width, out.height)) {
    throw new InvalidTileError(`tile ${tile.index}: its core ${JSON.stringify(tile.core)} is not inside the ${out.width}x${out.height} output`)
  }
}

export function placeTile (out: RawImage, tile: Tile, core: RawImage): void {
  checkPlacement(out, tile, core)
  const rowBytes = core.width * core.channels
  for (let y = 0; y < core.height; y++) {
    const dst = ((tile.core.y + y) * out.width + tile.core.x) * out.channels
    out.data.set(core.data.subarray(y * rowBytes, (y + 1) * rowBytes), dst)
  }
}
