// A decoded image kept on disk, row-major, with exactly the bytes decodeImage gives. A worker whose job input
// is too large to keep decoded in memory decodes it once into such a file, in one sequential pass that lets
// each strip go, and reads every tile's rectangle from it: O(tile) per tile. Decoding a region of the file
// for each tile instead cost a decode per tile (a JPEG region is decoded from the top), measured: a 24 MP
// photo in 12 tiles took about six whole decodes, and a 1-peer job 1.76x `swarm run`.
import { open, rename, unlink } from 'node:fs/promises'
import sharp from 'sharp'
import { ImageInputError, InvalidParameterError } from './errors.ts'
import { decodeError, DEFAULT_MAX_PIXELS, packGreyAlpha, probeImage, type DecodeOptions } from './image-io.ts'
import { rectInside, type Channels, type RawImage, type Rect } from './raw.ts'

export interface DecodedFile {
  path: string
  /** where the pixels start in the file (after libvips' header) */
  offset: number
  width: number
  height: number
  channels: Channels
}

/** libvips' own image format (.v): a 64-byte header, then the pixels as they are in memory. */
const VIPS_HEADER_BYTES = 64
const VIPS_MAGIC = [0x08f2a6b6, 0xb6a6f208]

/** Bytes read at once when cutting a rectangle: whole rows, up to this many (then copied out). */
const READ_BYTES = 4 << 20

/** Bytes written per write call: strips come from libvips in small chunks; fewer, larger writes. */
const WRITE_BYTES = 4 << 20

/**
 * Decodes `input` into `out` (written beside as `out.part`, then renamed, so a file at `out` is whole),
 * with the same refusals as decodeImage. Memory: a few strips, whatever the image's size.
 */
export async function decodeToFile (input: string, out: string, options: Omit<DecodeOptions, 'region'> = {}): Promise<DecodedFile> {
  const label = options.name ?? input
  const info = await probeImage(input, options)
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS
  // The same libvips pipeline as decodeImage's (sRGB conversion, grey as band 0, grey + alpha through RGBA).
  let s = sharp(input, { failOn: 'error', limitInputPixels: maxPixels, autoOrient: true, sequentialRead: true }).toColourspace('srgb')
  if (info.channels === 1) s = s.extractChannel(0)
  if (info.channels === 2) s = s.ensureAlpha()
  const bands = info.channels === 2 ? 4 : info.channels
  const part = `${out}.part`
  if (info.channels !== 2) {
    // libvips writes its own format strip by strip (sequential, a few strips in memory), faster than
    // streaming the pixels through JavaScript; the header is checked, not assumed.
    try {
      // The sRGB conversion already gives 8-bit samples (16-bit ones as v >> 8); the header says so.
      await s.toFile(`${part}.v`)
      await rename(`${part}.v`, out)
    } catch (err) {
      await unlink(`${part}.v`).catch(() => {})
      throw decodeError(label, maxPixels, err)
    }
    await checkVipsHeader(out, info.width, info.height, bands, label)
    return { path: out, offset: VIPS_HEADER_BYTES, width: info.width, height: info.height, channels: info.channels }
  }
  const fh = await open(part, 'w')
  let decoded = 0
  let written = 0
  try {
    let pending: Uint8Array[] = []
    let pendingBytes = 0
    let carry = new Uint8Array(0) // the bytes of an RGBA pixel split across chunks
    const flush = async (): Promise<void> => {
      if (pendingBytes === 0) return
      const buf = Buffer.concat(pending, pendingBytes)
      await fh.write(buf, 0, buf.byteLength, written)
      written += buf.byteLength
      pending = []
      pendingBytes = 0
    }
    for await (const raw of s.raw({ depth: 'uchar' })) {
      // Only grey + alpha comes this way: RGBA strips, packed to grey + alpha in place.
      decoded += (raw as Uint8Array).byteLength
      const all = carry.byteLength > 0 ? Buffer.concat([carry, raw as Uint8Array]) : raw as Uint8Array
      const whole = all.byteLength - (all.byteLength % 4)
      carry = all.slice(whole)
      packGreyAlpha(all, whole / 4)
      const chunk = all.subarray(0, whole / 2)
      pending.push(chunk)
      pendingBytes += chunk.byteLength
      if (pendingBytes >= WRITE_BYTES) await flush()
    }
    await flush()
  } catch (err) {
    await fh.close()
    await unlink(part).catch(() => {})
    throw decodeError(label, maxPixels, err)
  }
  await fh.close()
  if (decoded !== info.width * info.height * bands) {
    await unlink(part).catch(() => {})
    throw new ImageInputError(label, `truncated or corrupt image data: decoded ${decoded} bytes, expected ${info.width * info.height * bands}`)
  }
  await rename(part, out)
  return { path: out, offset: 0, width: info.width, height: info.height, channels: info.channels }
}

/**
 * The decoded file at `path` when it is a whole one for an image of this size (as decodeToFile leaves it,
 * in libvips' format), else undefined: a peer that checked an upload by decoding it to a file reuses that
 * decode for its own tiles. Grey + alpha files carry no header to check and are never reused.
 */
export async function openDecodedFile (path: string, info: { width: number, height: number, channels: Channels }): Promise<DecodedFile | undefined> {
  if (info.channels === 2) return undefined
  const ok = await vipsHeaderMatches(path, info.width, info.height, info.channels).catch(() => false)
  return ok ? { path, offset: VIPS_HEADER_BYTES, width: info.width, height: info.height, channels: info.channels } : undefined
}

async function vipsHeaderMatches (path: string, width: number, height: number, bands: number): Promise<boolean> {
  const head = Buffer.alloc(VIPS_HEADER_BYTES)
  const fh = await open(path, 'r')
  let size: number
  try {
    await fh.read(head, 0, VIPS_HEADER_BYTES, 0)
    size = (await fh.stat()).size
  } finally { await fh.close() }
  const magic = head.readUInt32BE(0)
  const le = magic === VIPS_MAGIC[1]
  const int = (at: number): number => le ? head.readInt32LE(at) : head.readInt32BE(at)
  // Xsize, Ysize, Bands, then (after Bbits) BandFmt, where 0 is 8-bit unsigned.
  return VIPS_MAGIC.includes(magic) && int(4) === width && int(8) === height && int(12) === bands && int(20) === 0 && size >= VIPS_HEADER_BYTES + width * height * bands
}

/** The .v file holds 8-bit pixels of the expected size right after its header; else it is not used. */
async function checkVipsHeader (path: string, width: number, height: number, bands: number, label: string): Promise<void> {
  if (await vipsHeaderMatches(path, width, height, bands)) return
  await unlink(path).catch(() => {})
  throw new ImageInputError(label, `decoded file is not ${width}x${height}x${bands} 8-bit pixels`)
}

/** The rectangle `rect` of a decoded file: the same bytes as decodeImage with that region. */
export async function readRect (file: DecodedFile, rect: Rect): Promise<RawImage> {
  if (!rectInside(rect, file.width, file.height)) {
    throw new InvalidParameterError('read', 'rect', rect, `a rectangle inside the ${file.width}x${file.height} image`)
  }
  const ch = file.channels
  const row = rect.width * ch
  const data = new Uint8Array(rect.height * row)
  const full = file.width * ch
  const fh = await open(file.path, 'r')
  try {
    if (rect.x === 0 && rect.width === file.width) {
      // Whole rows: one read.
      await fh.read(data, 0, data.byteLength, file.offset + rect.y * row)
    } else {
      // Bands of whole rows, each read at once, the rectangle's part of each row copied out: one read per
      // row was a system call per row (a 24 MP photo's 12 tiles: 16,000 reads, 0.9 s).
      const rows = Math.max(1, Math.floor(READ_BYTES / full))
      const band = Buffer.alloc(Math.min(rows, rect.height) * full)
      for (let y = 0; y < rect.height; y += rows) {
        const n = Math.min(rows, rect.height - y)
        await fh.read(band, 0, n * full, file.offset + (rect.y + y) * full)
        for (let k = 0; k < n; k++) data.set(band.subarray(k * full + rect.x * ch, k * full + rect.x * ch + row), (y + k) * row)
      }
    }
  } finally {
    await fh.close()
  }
  return { width: rect.width, height: rect.height, channels: ch, data }
}
