// A decoded file (what a worker keeps of a large input) holds exactly decodeImage's bytes: every rectangle
// read from it equals the same region decoded from the image, for each format and channel count, 16-bit
// and EXIF orientation included; a corrupt image is refused as decodeImage refuses it and leaves no file.
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import sharp from 'sharp'
import type { Sharp } from 'sharp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { decodeToFile, openDecodedFile, readRect } from '../../src/ops/decoded-file.ts'
import { ImageInputError } from '../../src/ops/errors.ts'
import { decodeImage } from '../../src/ops/image-io.ts'
import type { RawImage } from '../../src/ops/raw.ts'
import { photoLike } from './helpers.ts'

let dir: string
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'swarm-decoded-')) })
afterAll(async () => { await rm(dir, { recursive: true, force: true }) })

const rawInput = (img: RawImage): Sharp => sharp(img.data, { raw: { width: img.width, height: img.height, channels: img.channels } })

describe('decoded file', () => {
  it('every rectangle equals the same region of decodeImage: formats, channel counts, 16-bit, EXIF orientation', async () => {
    const cases: Array<{ name: string, s: Sharp }> = [
      { name: 'r.jpg', s: rawInput(photoLike(301, 203, 3, 2)).jpeg({ quality: 90 }) },
      { name: 'r-rot.jpg', s: rawInput(photoLike(61, 97, 3, 3)).jpeg({ quality: 90 }).withMetadata({ orientation: 6 }) },
      { name: 'r.png', s: rawInput(photoLike(97, 61, 4, 4)).png() },
      { name: 'r-grey.png', s: rawInput(photoLike(97, 61, 1, 5)).png() },
      // grey + alpha: packed from RGBA strips whose chunks need not end on a pixel
      { name: 'r-ga.png', s: rawInput(photoLike(1013, 157, 2, 6)).png() },
      { name: 'r-16.png', s: rawInput(photoLike(97, 61, 3, 7)).png().toColourspace('rgb16') },
      { name: 'r.webp', s: rawInput(photoLike(97, 61, 3, 8)).webp({ lossless: true }) }
    ]
    for (const c of cases) {
      const path = join(dir, c.name)
      await writeFile(path, await c.s.toBuffer())
      const file = await decodeToFile(path, `${path}.decoded`)
      const whole = await decodeImage(path)
      expect([file.width, file.height, file.channels], c.name).toEqual([whole.width, whole.height, whole.channels])
      const rects = [
        { x: 0, y: 0, width: whole.width, height: whole.height },
        { x: 0, y: 5, width: whole.width, height: 9 },
        { x: 13, y: 7, width: 30, height: 21 },
        { x: whole.width - 5, y: whole.height - 9, width: 5, height: 9 }
      ]
      for (const r of rects) {
        const got = await readRect(file, r)
        const want = await decodeImage(path, { region: r })
        expect([got.width, got.height, got.channels], c.name).toEqual([want.width, want.height, want.channels])
        expect(Buffer.from(got.data).equals(Buffer.from(want.data)), `${c.name} ${JSON.stringify(r)}`).toBe(true)
      }
    }
    const file = await decodeToFile(join(dir, 'r.png'), join(dir, 'again.decoded'))
    await expect(readRect(file, { x: 90, y: 0, width: 10, height: 10 })).rejects.toThrow(/rect.*inside the 97x61 image/)
  })

  it('a truncated image is refused as decodeImage refuses it, and leaves no file', async () => {
    const good = await rawInput(photoLike(200, 150, 3, 9)).png().toBuffer()
    const path = join(dir, 'cut.png')
    await writeFile(path, good.subarray(0, Math.floor(good.byteLength / 2)))
    const err = await decodeToFile(path, join(dir, 'cut.decoded'), { name: 'cut.png' }).then(() => undefined, (e: Error) => e)
    expect(err).toBeInstanceOf(ImageInputError)
    expect(err?.message).toMatch(/cut\.png.*truncated or corrupt/)
    expect((await readdir(dir)).filter(n => n.startsWith('cut.decoded'))).toEqual([])
  })

  it('a decoded file left by an earlier decode is found again only when it is whole and of the same size', async () => {
    const path = join(dir, 'again.jpg')
    await writeFile(path, await rawInput(photoLike(120, 80, 3, 11)).jpeg().toBuffer())
    const made = await decodeToFile(path, `${path}.decoded`)
    const found = await openDecodedFile(`${path}.decoded`, { width: 120, height: 80, channels: 3 })
    expect(found).toEqual(made)
    expect(Buffer.from((await readRect(found!, { x: 3, y: 4, width: 50, height: 20 })).data).equals(Buffer.from((await decodeImage(path, { region: { x: 3, y: 4, width: 50, height: 20 } })).data))).toBe(true)
    expect(await openDecodedFile(`${path}.decoded`, { width: 80, height: 120, channels: 3 })).toBeUndefined()
    expect(await openDecodedFile(`${path}.decoded`, { width: 120, height: 80, channels: 4 })).toBeUndefined()
    expect(await openDecodedFile(join(dir, 'none.decoded'), { width: 120, height: 80, channels: 3 })).toBeUndefined()
    // A file cut short is not whole.
    const { truncate } = await import('node:fs/promises')
    await truncate(`${path}.decoded`, 64 + 120 * 80 * 3 - 1)
    expect(await openDecodedFile(`${path}.decoded`, { width: 120, height: 80, channels: 3 })).toBeUndefined()
  })
})
