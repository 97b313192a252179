// The worker pool: same results as in-process, pixels moved by transfer, errors keep their class, and the
// main thread stays responsive while kernels run (heartbeats live there).
import { afterAll, describe, expect, it } from 'vitest'
import { InvalidTileError, PoolClosedError, UnknownOpError } from '../../src/ops/errors.ts'
import { runTiledInProcess, runWholeInProcess } from '../../src/ops/local.ts'
import { outputChannels, parsePipeline, phaseCount, pipelineHalo } from '../../src/ops/pipeline.ts'
import type { Pipeline } from '../../src/ops/pipeline.ts'
import { createPool } from '../../src/ops/pool.ts'
import type { KernelPool } from '../../src/ops/pool.ts'
import { createRaw } from '../../src/ops/raw.ts'
import type { RawImage } from '../../src/ops/raw.ts'
import { mergeStats, runTile } from '../../src/ops/run-tile.ts'
import { coreInTile, placeTile, planTiles, sliceTile } from '../../src/ops/tiling.ts'
import { firstDifference, photoLike } from './helpers.ts'

const pool = createPool({ size: 2 })
afterAll(() => pool.close())

/** The master's loop, with the tiles of each phase run concurrently on the pool. */
async function runTiledOnPool (raw: RawImage, pipeline: Pipeline, tileSize: number, p: KernelPool): Promise<RawImage> {
  const tiles = planTiles(raw.width, raw.height, tileSize, pipelineHalo(pipeline))
  const stats: unknown[] = []
  const phases = phaseCount(pipeline)
  for (let phase = 0; phase < phases - 1; phase++) {
    const results = await Promise.all(tiles.map(t => p.run(sliceTile(raw, t), pipeline, { phase, stats: [...stats], core: coreInTile(t) })))
    stats.push(mergeStats(pipeline, phase, results.map(r => ('stats' in r ? r.stats : undefined))))
  }
  const out = createRaw(raw.width, raw.height, outputChannels(pipeline, raw.channels))
  await Promise.all(tiles.map(async t => {
    const r = await p.run(sliceTile(raw, t), pipeline, { phase: phases - 1, stats, core: coreInTile(t) })
    if (!('image' in r)) throw new Error('expected an image')
    placeTile(out, t, r.image)
  }))
  return out
}

describe('KernelPool', () => {
  it('gives the same bytes as running in-process, for a pipeline with a global op in the middle', async () => {
    const img = photoLike(150, 97, 4, 12)
    const p = parsePipeline(['grayscale', 'blur:sigma=2', 'threshold:method=otsu', 'dilate'])
    const onPool = await runTiledOnPool(img, p, 40, pool)
    expect(firstDifference(onPool, runWholeInProcess(img, p))).toBeUndefined()
    expect(firstDifference(onPool, runTiledInProcess(img, p, 64))).toBeUndefined()
  })

  it('returns statistics like runTile does', async () => {
    const img = photoLike(30, 20, 3)
    const p = parsePipeline(['equalise'])
    const core = { x: 0, y: 0, width: 30, height: 20 }
    expect(await pool.run(img, p, { phase: 0, stats: [], core }, { transfer: false })).toEqual(runTile(img, p, { phase: 0, stats: [], core }))
  })

  it('transfers the tile buffer unless asked to keep it', async () => {
    const p = parsePipeline(['invert'])
    const core = { x: 0, y: 0, width: 20, height: 10 }
    const kept = photoLike(20, 10, 3)
    const r1 = await pool.run(kept, p, { phase: 0, stats: [], core }, { transfer: false })
    expect(kept.data.byteLength).toBe(600)
    const moved = photoLike(20, 10, 3)
    const expected = runWholeInProcess(moved, p)
    const r2 = await pool.run(moved, p, { phase: 0, stats: [], core })
    expect(moved.data.byteLength).toBe(0) // detached: the pixels went to the worker without a copy
    expect('image' in r2 && r2.image.data).toEqual(expected.data)
    expect('image' in r1 && r1.image.data).toEqual(expected.data)
    // A view into a larger buffer is copied (transferring would take the whole buffer away).
    const big = new Uint8Array(1000)
    const view = { width: 20, height: 10, channels: 3 as const, data: big.subarray(100, 700) }
    await pool.run(view, p, { phase: 0, stats: [], core })
    expect(big.byteLength).toBe(1000)
  })

  it('rejects with the original error class and keeps working', async () => {
    const img = photoLike(10, 10, 3)
    const bad = pool.run(img, parsePipeline(['blur']), { phase: 0, stats: [], core: { x: 5, y: 5, width: 10, height: 10 } })
    await expect(bad).rejects.toBeInstanceOf(InvalidTileError)
    const unknown = pool.run(photoLike(10, 10, 3), { ops: [{ name: 'nope', params: {} }] }, { phase: 0, stats: [], core: { x: 0, y: 0, width: 10, height: 10 } })
    await expect(unknown).rejects.toBeInstanceOf(UnknownOpError)
    const ok = await pool.run(photoLike(10, 10, 3), parsePipeline(['invert']), { phase: 0, stats: [], core: { x: 0, y: 0, width: 10, height: 10 } })
    expect('image' in ok).toBe(true)
  })

  it('runs big kernels off the main thread: the event loop keeps ticking', async () => {
    const big = photoLike(1001, 997, 3, 3)
    // Heavy enough (several hundred ms even with the wasm kernels) that a blocked loop would show.
    const p = parsePipeline(['median:radius=25', 'median:radius=24', 'median:radius=23', 'median:radius=22'])
    const core = { x: 0, y: 0, width: 1001, height: 997 }
    let last = performance.now()
    let maxGap = 0
    let ticks = 0
    const timer = setInterval(() => {
      const now = performance.now()
      maxGap = Math.max(maxGap, now - last)
      last = now
      ticks++
    }, 5)
    const started = performance.now()
    const r = await pool.run(big, p, { phase: 0, stats: [], core })
    const took = performance.now() - started
    clearInterval(timer)
    expect('image' in r && r.image.width).toBe(1001)
    expect(took).toBeGreaterThan(250) // long enough that blocking would show
    expect(ticks).toBeGreaterThan(took / 50)
    expect(maxGap).toBeLessThan(100)
  })

  it('queues beyond its size; close() rejects what is pending and refuses new work', async () => {
    const small = createPool({ size: 1 })
    const p = parsePipeline(['median:radius=5'])
    const core = { x: 0, y: 0, width: 300, height: 200 }
    const first = small.run(photoLike(300, 200, 3), p, { phase: 0, stats: [], core })
    const second = small.run(photoLike(300, 200, 3), p, { phase: 0, stats: [], core })
    expect(small.busy).toBe(1)
    expect(small.queued).toBe(1)
    const closing = small.close()
    await expect(first).rejects.toBeInstanceOf(PoolClosedError)
    await expect(second).rejects.toBeInstanceOf(PoolClosedError)
    await closing
    await expect(small.run(photoLike(4, 4, 3), p, { phase: 0, stats: [], core: { x: 0, y: 0, width: 4, height: 4 } })).rejects.toBeInstanceOf(PoolClosedError)
    expect(() => createPool({ size: 0 })).toThrow(RangeError)
  })
})
