// Decoding and encoding. Every input file is generated here with sharp; nothing binary is committed.
import { mkdtemp, readdir, rm, writeFile, readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { isMarkedAsUntransferable } from 'node:worker_threads'
import { join } from 'node:path'
import sharp from 'sharp'
import type { Sharp } from 'sharp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ImageInputError, ImageOutputError } from '../../src/ops/errors.ts'
import { checkImage, decodeImage, encodeImage, outputFormatFor, probeImage } from '../../src/ops/image-io.ts'
import type { Channels, RawImage } from '../../src/ops/raw.ts'
import { runWholeInProcess } from '../../src/ops/local.ts'
import { parsePipeline } from '../../src/ops/pipeline.ts'
import { photoLike } from './helpers.ts'

let dir: string
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'swarm-ops-io-')) })
afterAll(async () => { await rm(dir, { recursive: true, force: true }) })

const rawInput = (img: RawImage) => sharp(img.data, { raw: { width: img.width, height: img.height, channels: img.channels } })

async function write (name: string, s: Sharp | Uint8Array): Promise<string> {
  const path = join(dir, name)
  await writeFile(path, s instanceof Uint8Array ? s : await s.toBuffer())
  return path
}

async function rejection (p: Promise<unknown>): Promise<Error> {
  try { await p } catch (e) { return e as Error }
  throw new Error('expected a rejection')
}

function meanDiff (a: Uint8Array, b: Uint8Array): number {
  let m = 0
  for (let i = 0; i < a.length; i++) m += Math.abs(a[i] - b[i])
  return m / a.length
}

describe('decodeImage', () => {
  it('PNG 8-bit RGB, RGBA, grey and grey+alpha keep their channels and exact pixels', async () => {
    for (const ch of [1, 2, 3, 4] as Channels[]) {
      const img = photoLike(33, 21, ch, ch)
      let s = rawInput(img)
      if (ch <= 2) s = s.toColourspace('b-w')
      const out = await decodeImage(await write(`c${ch}.png`, s.png()))
      expect([out.width, out.height, out.channels]).toEqual([33, 21, ch])
      expect(out.data).toEqual(img.data)
    }
  })

  it('PNG 16-bit (RGB, RGBA, grey) is reduced to 8-bit', async () => {
    for (const [ch, space] of [[3, 'rgb16'], [4, 'rgb16'], [1, 'grey16'], [2, 'grey16']] as const) {
      const img = photoLike(30, 20, ch, 5)
      const path = await write(`deep${ch}.png`, rawInput(img).toColourspace(space).png())
      expect((await sharp(path).metadata()).depth).toBe('ushort')
      const out = await decodeImage(path)
      expect(out.channels).toBe(ch)
      expect(out.data).toEqual(img.data)
    }
  })

  it('PNG 16-bit grey, grey+alpha, RGB and RGBA: each of the 65,536 codes v becomes v >> 8, alpha too', async () => {
    // 256x256 pixels; channel c of pixel i is a different bijection of i, so every channel holds every code
    // once and a swapped or dropped band shows.
    const mul = [1, 40503, 52429, 65535]
    const add = [0, 12345, 777, 65535]
    for (const ch of [1, 2, 3, 4] as Channels[]) {
      const space = ch <= 2 ? 'grey16' : 'rgb16'
      const deep = new Uint16Array(65536 * ch)
      for (let i = 0; i < 65536; i++) for (let c = 0; c < ch; c++) deep[i * ch + c] = (i * mul[c] + add[c]) & 0xffff
      // sharp takes the raw depth from the array type (a Uint16Array is 'ushort'), not from an option.
      const png = await sharp(deep, { raw: { width: 256, height: 256, channels: ch } }).toColourspace(space).png().toBuffer()
      const meta = await sharp(png).metadata()
      expect([meta.depth, meta.channels, png[24]]).toEqual(['ushort', ch, 16]) // png[24]: IHDR bit depth
      // The file really holds the 16-bit codes, not 8-bit ones scaled up.
      const back = await sharp(png).toColourspace(space).raw({ depth: 'ushort' }).toBuffer()
      const held = new Uint16Array(back.buffer, back.byteOffset, back.byteLength / 2)
      expect(held.length === deep.length && held.every((v, k) => v === deep[k])).toBe(true)
      const out = await decodeImage(png)
      expect([out.width, out.height, out.channels]).toEqual([256, 256, ch])
      const wrong: string[] = []
      for (let k = 0; k < deep.length; k++) if (out.data[k] !== deep[k] >> 8) wrong.push(`channel ${k % ch}: ${deep[k]} -> ${out.data[k]}`)
      expect(wrong.length, `${ch} channels, e.g. ${wrong.slice(0, 3).join(', ')}`).toBe(0)
    }
  })

  it('a CMYK JPEG becomes RGB', async () => {
    const img = photoLike(30, 20, 3, 5)
    const path = await write('cmyk.jpg', rawInput(img).toColourspace('cmyk').jpeg({ quality: 95 }))
    expect((await sharp(path).metadata()).space).toBe('cmyk')
    const out = await decodeImage(path)
    expect([out.width, out.height, out.channels]).toEqual([30, 20, 3])
    expect(meanDiff(out.data, img.data)).toBeLessThan(25)
  })

  it('JPEG with an EXIF orientation tag is turned upright', async () => {
    // 40x20: left half red, right half blue; orientation 6 means "rotate 90 degrees clockwise to view".
    const img: RawImage = { width: 40, height: 20, channels: 3, data: new Uint8Array(40 * 20 * 3) }
    for (let i = 0; i < 800; i++) img.data.set(i % 40 < 20 ? [230, 20, 20] : [20, 20, 230], i * 3)
    const path = await write('oriented.jpg', rawInput(img).jpeg({ quality: 95 }).withMetadata({ orientation: 6 }))
    expect((await sharp(path).metadata()).orientation).toBe(6)
    const out = await decodeImage(path)
    expect([out.width, out.height, out.channels]).toEqual([20, 40, 3])
    const at = (x: number, y: number) => [...out.data.subarray((y * 20 + x) * 3, (y * 20 + x) * 3 + 3)]
    expect(at(10, 5)[0]).toBeGreaterThan(180) // top is the old left: red
    expect(at(10, 5)[2]).toBeLessThan(70)
    expect(at(10, 34)[2]).toBeGreaterThan(180) // bottom is the old right: blue
    expect(at(10, 34)[0]).toBeLessThan(70)
    expect((await probeImage(path))).toEqual({ format: 'jpeg', width: 20, height: 40, channels: 3 })
  })

  it('a region decodes to exactly that rectangle of the whole decode: formats, channel counts, 16-bit, EXIF orientation', async () => {
    const cases: Array<{ name: string, s: Sharp }> = [
      { name: 'r.jpg', s: rawInput(photoLike(97, 61, 3, 2)).jpeg({ quality: 90 }) },
      { name: 'r-rot.jpg', s: rawInput(photoLike(61, 97, 3, 3)).jpeg({ quality: 90 }).withMetadata({ orientation: 6 }) },
      { name: 'r.png', s: rawInput(photoLike(97, 61, 4, 4)).png() },
      { name: 'r-grey.png', s: rawInput(photoLike(97, 61, 1, 5)).png() },
      { name: 'r-ga.png', s: rawInput(photoLike(97, 61, 2, 6)).png() },
      { name: 'r-16.png', s: rawInput(photoLike(97, 61, 3, 7)).png().toColourspace('rgb16') },
      { name: 'r.webp', s: rawInput(photoLike(97, 61, 3, 8)).webp({ lossless: true }) }
    ]
    for (const c of cases) {
      const path = await write(c.name, c.s)
      const whole = await decodeImage(path)
      for (const r of [{ x: 0, y: 0, width: whole.width, height: whole.height }, { x: 13, y: 7, width: 30, height: 21 }, { x: whole.width - 5, y: whole.height - 9, width: 5, height: 9 }]) {
        const part = await decodeImage(path, { region: r })
        expect([part.width, part.height, part.channels], c.name).toEqual([r.width, r.height, whole.channels])
        const want = Buffer.alloc(r.width * r.height * whole.channels)
        for (let y = 0; y < r.height; y++) {
          const from = ((r.y + y) * whole.width + r.x) * whole.channels
          want.set(whole.data.subarray(from, from + r.width * whole.channels), y * r.width * whole.channels)
        }
        expect(Buffer.from(part.data).equals(want), `${c.name} ${JSON.stringify(r)}`).toBe(true)
      }
    }
    const path = join(dir, 'r.png')
    await expect(decodeImage(path, { region: { x: 90, y: 0, width: 10, height: 10 } })).rejects.toThrow(/region.*inside the 97x61 image/)
  })

  it('WebP (lossless and lossy), TIFF, GIF and AVIF', async () => {
    const img = photoLike(48, 32, 4, 8)
    const lossless = await decodeImage(await write('a.webp', rawInput(img).webp({ lossless: true, exact: true })))
    expect(lossless.channels).toBe(4)
    expect(lossless.data).toEqual(img.data)
    const lossy = await decodeImage(await write('b.webp', rawInput(photoLike(48, 32, 3, 8)).webp({ quality: 95 })))
    expect([lossy.width, lossy.height, lossy.channels]).toEqual([48, 32, 3])
    const tiff = await decodeImage(await write('c.tif', rawInput(img).tiff({ compression: 'lzw' })))
    expect(tiff.data).toEqual(img.data)
    // GIF is palette-based: use an image with few colours so it survives exactly.
    const flat: RawImage = { width: 16, height: 8, channels: 3, data: new Uint8Array(16 * 8 * 3) }
    for (let i = 0; i < 128; i++) flat.data.set(i % 16 < 8 ? [255, 0, 0] : [0, 0, 255], i * 3)
    const gif = await decodeImage(await write('d.gif', rawInput(flat).gif()))
    expect([gif.width, gif.height]).toEqual([16, 8])
    expect([...gif.data.subarray(0, 3)]).toEqual([255, 0, 0])
    expect([...gif.data.subarray(gif.channels * 15, gif.channels * 15 + 3)]).toEqual([0, 0, 255])
    const rgb = photoLike(48, 32, 3, 9)
    const avif = await decodeImage(await write('e.avif', rawInput(rgb).avif({ quality: 90 })))
    expect([avif.width, avif.height, avif.channels]).toEqual([48, 32, 3])
    expect((await probeImage(join(dir, 'e.avif'))).format).toBe('avif')
  })

  it('a truncated PNG or JPEG is refused with ImageInputError naming the file', async () => {
    const img = photoLike(200, 150, 3, 4)
    for (const [name, s] of [['cut.png', rawInput(img).png()], ['cut.jpg', rawInput(img).jpeg()]] as const) {
      const full = await s.toBuffer()
      const path = await write(name, full.subarray(0, Math.floor(full.length * 0.6)))
      const e = await rejection(decodeImage(path))
      expect(e).toBeInstanceOf(ImageInputError)
      expect(e.name).toBe('ImageInputError')
      expect(e.message).toMatch(new RegExp(`^${path.replace(/[.\\]/g, '\\$&')}: truncated or corrupt`))
    }
  })

  it('checkImage decodes the whole file without keeping it: what decodeImage refuses it refuses, what it reads it sizes', async () => {
    const img = photoLike(200, 150, 3, 4)
    for (const [name, s] of [['check.png', rawInput(img).png()], ['check.jpg', rawInput(img).jpeg()]] as const) {
      const full = await s.toBuffer()
      const good = await write(name, full)
      expect(await checkImage(good)).toMatchObject({ width: 200, height: 150, channels: 3 })
      const cut = await write(`cut-${name}`, full.subarray(0, Math.floor(full.length * 0.6)))
      const e = await rejection(checkImage(cut))
      expect(e).toBeInstanceOf(ImageInputError)
      expect(e.message).toMatch(new RegExp(`^${cut.replace(/[.\\]/g, '\\$&')}: truncated or corrupt`))
    }
    for (const ch of [1, 2, 4] as Channels[]) {
      let grey = rawInput(photoLike(31, 17, ch, 5))
      if (ch <= 2) grey = grey.toColourspace('b-w')
      const path = await write(`check-${ch}.png`, grey.png())
      expect(await checkImage(path)).toMatchObject({ width: 31, height: 17, channels: ch })
    }
    const big = await write('check-big.png', rawInput(photoLike(100, 80, 3)).png())
    expect((await rejection(checkImage(big, { maxPixels: 7999 }))).message).toBe(`${big}: 100x80 is 8000 pixels, over the pixel limit of 7999`)
    expect((await rejection(checkImage(await write('check.txt.png', new TextEncoder().encode('not an image'))))).message).toMatch(/not an image/)
  })

  it('a text file, an SVG, an empty file and a missing file are refused', async () => {
    const text = await write('notes.png', new TextEncoder().encode('hello, this is not an image\n'))
    const e1 = await rejection(decodeImage(text))
    expect(e1).toBeInstanceOf(ImageInputError)
    expect(e1.message).toMatch(/notes\.png: not an image/)
    const svg = await write('v.svg', new TextEncoder().encode('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>'))
    expect((await rejection(decodeImage(svg))).message).toMatch(/v\.svg: unsupported format svg/)
    const empty = await write('empty.jpg', new Uint8Array(0))
    expect((await rejection(decodeImage(empty))).message).toMatch(/empty\.jpg: empty file/)
    const missing = await rejection(decodeImage(join(dir, 'nope.png')))
    expect(missing).toBeInstanceOf(ImageInputError)
    expect(missing.message).toMatch(/nope\.png: no such file/)
    expect(await rejection(decodeImage(dir))).toBeInstanceOf(ImageInputError)
    const buf = await rejection(decodeImage(new TextEncoder().encode('plain text'), { name: 'upload.jpg' }))
    expect(buf.message).toMatch(/^upload\.jpg: not an image/)
  })

  it('an image over the pixel limit is refused before decoding', async () => {
    const path = await write('big.png', rawInput(photoLike(100, 80, 3)).png())
    const e = await rejection(decodeImage(path, { maxPixels: 7999 }))
    expect(e).toBeInstanceOf(ImageInputError)
    expect(e.message).toBe(`${path}: 100x80 is 8000 pixels, over the pixel limit of 7999`)
    expect((await decodeImage(path, { maxPixels: 8000 })).width).toBe(100)
  })

  it('decoded pixels can be transferred to a worker (a plain, owned buffer), for every channel count', async () => {
    for (const ch of [1, 2, 3, 4] as Channels[]) {
      const img = photoLike(20, 20, ch)
      let s = rawInput(img)
      if (ch <= 2) s = s.toColourspace('b-w')
      const out = await decodeImage(await write(`t${ch}.png`, s.png()))
      expect(out.data.constructor).toBe(Uint8Array)
      expect(out.data.byteLength).toBe(out.data.buffer.byteLength)
      expect(isMarkedAsUntransferable(out.data.buffer)).toBe(false)
      const moved = new Uint8Array(structuredClone(out.data.buffer, { transfer: [out.data.buffer as ArrayBuffer] }))
      expect(moved).toEqual(img.data)
    }
  })
})

describe('encodeImage', () => {
  it('chooses the format from the extension and round-trips the pixels', async () => {
    const rgb = photoLike(40, 30, 3, 6)
    const rgba = photoLike(40, 30, 4, 6)
    const grey = photoLike(40, 30, 1, 6)
    const greyA = photoLike(40, 30, 2, 6)
    for (const img of [rgb, rgba, grey, greyA]) {
      for (const ext of ['png', 'tif', 'tiff']) {
        const path = join(dir, `out${img.channels}.${ext}`)
        await encodeImage(img, path)
        const back = await decodeImage(path)
        expect(back.channels).toBe(img.channels)
        expect(back.data).toEqual(img.data)
      }
    }
    const formats: Record<string, string> = { jpg: 'jpeg', jpeg: 'jpeg', webp: 'webp', avif: 'heif', gif: 'gif', png: 'png', TIFF: 'tiff' }
    for (const [ext, format] of Object.entries(formats)) {
      const path = join(dir, `fmt.${ext}`)
      await encodeImage(rgb, path)
      expect((await sharp(path).metadata()).format).toBe(format)
    }
    // Lossy formats: close on a smooth image (noise would mostly measure chroma subsampling).
    const smooth = runWholeInProcess(rgb, parsePipeline(['blur:sigma=1.5']))
    for (const ext of ['jpg', 'webp', 'avif']) {
      await encodeImage(smooth, join(dir, `q.${ext}`))
      expect(meanDiff((await decodeImage(join(dir, `q.${ext}`))).data, smooth.data), ext).toBeLessThan(6)
    }
    await encodeImage(grey, join(dir, 'g.jpg'))
    expect((await decodeImage(join(dir, 'g.jpg'))).channels).toBe(1)
  })

  it('JPEG has no alpha: transparent pixels are flattened onto white', async () => {
    const img: RawImage = { width: 2, height: 1, channels: 4, data: new Uint8Array([0, 0, 0, 0, 0, 0, 0, 255]) }
    await encodeImage(img, join(dir, 'flat.jpg'))
    const back = await decodeImage(join(dir, 'flat.jpg'))
    expect(back.channels).toBe(3)
    expect(back.data[0]).toBeGreaterThan(200)
    expect(back.data[3]).toBeLessThan(50)
  })

  it('an unknown extension is a clear error, and nothing is written', async () => {
    const e = await rejection(encodeImage(photoLike(4, 4, 3), join(dir, 'out.bmp')))
    expect(e).toBeInstanceOf(ImageOutputError)
    expect(e.message).toMatch(/out\.bmp: unknown output format "\.bmp": use \.png, \.jpg\/\.jpeg/)
    expect(() => outputFormatFor('noext')).toThrow(/no file extension/)
    expect((await readdir(dir)).some(f => f.includes('bmp') || f.includes('partial'))).toBe(false)
    const bad = await rejection(encodeImage(photoLike(4, 4, 3), join(dir, 'missing-dir', 'x.png')))
    expect(bad).toBeInstanceOf(ImageOutputError)
    expect((await readFile(join(dir, 'c3.png'))).length).toBeGreaterThan(0)
  })
})
