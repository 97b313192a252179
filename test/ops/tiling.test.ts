import { describe, expect, it } from 'vitest'
import { InvalidParameterError, InvalidTileError } from '../../src/ops/errors.ts'
import { createRaw } from '../../src/ops/raw.ts'
import { AUTO_TILE_MAX, AUTO_TILE_MIN, autoTileSize, coreInTile, placeTile, planTiles, sliceTile } from '../../src/ops/tiling.ts'
import { photoLike } from './helpers.ts'

describe('planTiles', () => {
  it('cores partition the image in row-major order; halos are the cores grown and clamped', () => {
    const W = 101
    const H = 67
    const tiles = planTiles(W, H, 32, 5)
    expect(tiles).toHaveLength(4 * 3)
    const owner = new Int32Array(W * H).fill(-1)
    tiles.forEach((t, i) => {
      expect(t.index).toBe(i)
      for (let y = t.core.y; y < t.core.y + t.core.height; y++) {
        for (let x = t.core.x; x < t.core.x + t.core.width; x++) {
          expect(owner[y * W + x]).toBe(-1)
          owner[y * W + x] = i
        }
      }
      expect(t.halo.x).toBe(Math.max(0, t.core.x - 5))
      expect(t.halo.y).toBe(Math.max(0, t.core.y - 5))
      expect(t.halo.x + t.halo.width).toBe(Math.min(W, t.core.x + t.core.width + 5))
      expect(t.halo.y + t.halo.height).toBe(Math.min(H, t.core.y + t.core.height + 5))
    })
    expect(owner.every(v => v >= 0)).toBe(true)
    expect(tiles[1].core).toEqual({ x: 32, y: 0, width: 32, height: 32 })
    expect(tiles[3].core).toEqual({ x: 96, y: 0, width: 5, height: 32 })
    expect(tiles[11].core).toEqual({ x: 96, y: 64, width: 5, height: 3 })
    expect(coreInTile(tiles[5])).toEqual({ x: 5, y: 5, width: 32, height: 32 })
    expect(planTiles(W, H, 32, 5)).toEqual(tiles)
  })

  it('a halo larger than the image is clamped; a 1x1 image is one tile', () => {
    expect(planTiles(20, 20, 16, 1000)[3].halo).toEqual({ x: 0, y: 0, width: 20, height: 20 })
    expect(planTiles(1, 1, 16, 3)).toEqual([{ index: 0, core: { x: 0, y: 0, width: 1, height: 1 }, halo: { x: 0, y: 0, width: 1, height: 1 } }])
  })

  it('validates its arguments with named errors', () => {
    const bad: Array<[() => unknown, string]> = [
      [() => planTiles(100, 100, 8, 0), 'tiling: parameter "tileSize" is 8, expected an integer between 16 and 16384'],
      [() => planTiles(100, 100, 31.5, 0), 'tiling: parameter "tileSize" is 31.5, expected an integer between 16 and 16384'],
      [() => planTiles(0, 100, 32, 0), 'tiling: parameter "width" is 0, expected an integer between 1 and 1073741824'],
      [() => planTiles(100, Number.NaN, 32, 0), 'tiling: parameter "height" is NaN, expected an integer between 1 and 1073741824'],
      [() => planTiles(100, 100, 32, -1), 'tiling: parameter "halo" is -1, expected an integer between 0 and 1048576']
    ]
    for (const [fn, msg] of bad) {
      expect(fn).toThrow(InvalidParameterError)
      expect(fn).toThrow(msg)
    }
  })
})

describe('sliceTile / placeTile', () => {
  it('slicing every tile and placing its core rebuilds the image', () => {
    const img = photoLike(70, 45, 4)
    const out = createRaw(70, 45, 4)
    for (const t of planTiles(70, 45, 16, 3)) {
      const s = sliceTile(img, t)
      expect([s.width, s.height]).toEqual([t.halo.width, t.halo.height])
      const c = coreInTile(t)
      const core = createRaw(t.core.width, t.core.height, 4)
      for (let y = 0; y < c.height; y++) {
        core.data.set(s.data.subarray(((c.y + y) * s.width + c.x) * 4, ((c.y + y) * s.width + c.x + c.width) * 4), y * c.width * 4)
      }
      placeTile(out, t, core)
    }
    expect(out.data).toEqual(img.data)
  })

  it('a slice is a copy', () => {
    const img = photoLike(40, 40, 1)
    const [t] = planTiles(40, 40, 16, 2)
    const s = sliceTile(img, t)
    s.data.fill(0)
    expect(img.data.some(v => v > 0)).toBe(true)
    expect(img.data[0]).not.toBe(0)
  })

  it('refuses a result of the wrong size or channel count', () => {
    const out = createRaw(40, 40, 3)
    const [t] = planTiles(40, 40, 16, 2)
    expect(() => placeTile(out, t, createRaw(16, 15, 3))).toThrow(InvalidTileError)
    expect(() => placeTile(out, t, createRaw(16, 16, 1))).toThrow('tile 0: the result is 16x16x1, expected 16x16x3')
    expect(() => placeTile(out, t, { width: 16, height: 16, channels: 3, data: new Uint8Array(10) })).toThrow(InvalidTileError)
    expect(() => sliceTile(photoLike(10, 10, 3), t)).toThrow(InvalidTileError)
  })

  it('fits the automatic tile edge to the image and the slots, within bounds', () => {
    // 4096x4096 over 8 slots: 64 tiles of 512 is 8 per slot.
    expect(autoTileSize(4096, 4096, 8)).toBe(512)
    expect(planTiles(4096, 4096, autoTileSize(4096, 4096, 8), 0).length).toBe(64)
    // One peer with 2 slots: fewer, larger tiles, in multiples of 64.
    const one = autoTileSize(6000, 4000, 2)
    expect(one % 64).toBe(0)
    expect(one).toBeGreaterThan(1024)
    expect(planTiles(6000, 4000, one, 0).length).toBeGreaterThanOrEqual(16)
    // More slots never give larger tiles.
    expect(autoTileSize(6000, 4000, 16)).toBeLessThanOrEqual(one)
    expect(autoTileSize(100, 100, 1)).toBe(AUTO_TILE_MIN)
    expect(autoTileSize(100_000, 100_000, 0)).toBe(AUTO_TILE_MAX)
    expect(() => autoTileSize(0, 10, 1)).toThrow('width')
    expect(() => autoTileSize(10, 10, -1)).toThrow('slots')
  })
})
