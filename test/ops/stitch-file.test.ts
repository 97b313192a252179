// stitchToFile: tiles written one at a time into a file and encoded from it give the same bytes as the
// whole image encoded from memory (the output must equal `swarm run`'s), for every channel count, and a
// tile of the wrong shape is refused with nothing left behind.
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRaw, encodeImageToBuffer, planTiles, sliceTile, stitchToFile, type RawImage } from '../../src/ops/index.ts'
import { InvalidTileError } from '../../src/ops/errors.ts'

let dir: string
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'swarm-stitch-')) })
afterAll(async () => { await rm(dir, { recursive: true, force: true }) })

function noise (width: number, height: number, channels: 1 | 2 | 3 | 4, seed: number): RawImage {
  const img = createRaw(width, height, channels)
  let x = seed
  for (let i = 0; i < img.data.length; i++) { x = (x * 1103515245 + 12345) >>> 0; img.data[i] = (x >>> 16) & 0xff }
  return img
}

describe('stitchToFile', () => {
  for (const [channels, format] of [[1, 'png'], [2, 'png'], [3, 'png'], [4, 'png'], [3, 'jpeg'], [1, 'jpeg'], [3, 'webp'], [4, 'tiff']] as const) {
    it(`${channels} channel(s) -> ${format}: the same bytes as encoding the whole image`, async () => {
      const img = noise(203, 117, channels, channels * 7)
      // tiles visited in an order other than the rows', as the stitch reads them in plan order
      const tiles = planTiles(img.width, img.height, 48, 0).reverse()
      const out = join(dir, `out-${channels}.${format}`)
      const bytes = await stitchToFile(out, img.width, img.height, channels, format, tiles, async (t) => sliceTile(img, t))
      const got = await readFile(out)
      expect(got.byteLength).toBe(bytes)
      expect(Buffer.compare(got, Buffer.from(await encodeImageToBuffer(img, format)))).toBe(0)
    })
  }

  it('a tile of the wrong size is refused, and no file is left', async () => {
    const img = noise(64, 64, 3, 1)
    const tiles = planTiles(64, 64, 32, 0)
    const sub = join(dir, 'bad')
    await import('node:fs/promises').then(async fs => { await fs.mkdir(sub) })
    const err = await stitchToFile(join(sub, 'out.png'), 64, 64, 3, 'png', tiles, async (t) => sliceTile(img, { ...t, halo: { ...t.halo, width: t.halo.width - 1 } })).catch((e: Error) => e)
    expect(err).toBeInstanceOf(InvalidTileError)
    expect((err as Error).message).toMatch(/tile 0: the result is 31x32x3, expected 32x32x3/)
    expect(await readdir(sub)).toEqual([])
  })

  it('tiles that leave a gap are refused before anything is read', async () => {
    const tiles = planTiles(64, 64, 32, 0)
    let reads = 0
    const err = await stitchToFile(join(dir, 'gap.png'), 64, 64, 3, 'png', tiles.slice(1), async () => { reads++; return createRaw(32, 32, 3) }).catch((e: Error) => e)
    expect(err).toBeInstanceOf(InvalidTileError)
    expect((err as Error).message).toMatch(/leaves a gap or overlaps/)
    expect(reads).toBe(0)
  })
})
