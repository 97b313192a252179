// Decoding and encoding with sharp (libvips). The only place that touches image file formats; the kernels
// see RawImage only. libvips does the pixel work on its own threads, so these calls do not block the
// event loop for long.
import { availableParallelism } from 'node:os'
import { rename, stat, unlink, writeFile } from 'node:fs/promises'
import { extname } from 'node:path'
import sharp from 'sharp'
import type { Metadata, Sharp } from 'sharp'
import { ImageInputError, ImageOutputError, InvalidParameterError } from './errors.ts'
import { rectInside, type Channels, type RawImage, type Rect } from './raw.ts'

// sharp defaults to one libvips thread on glibc Linux (memory fragmentation worries); we want the cores.
sharp.concurrency(availableParallelism())
// A long-running peer decodes many different files; libvips' operation cache would only hold memory.
sharp.cache(false)

/** sharp's own default input limit (0x3FFF x 0x3FFF), which swarm used to keep. */
export const SHARP_DEFAULT_MAX_PIXELS = 268_402_689

// DEFAULT_MAX_PIXELS (1 gigapixel; its reason is with it) is in limits.ts, which imports nothing: `swarm run --help` prints it.
import { DEFAULT_MAX_PIXELS } from './limits.ts'
export { DEFAULT_MAX_PIXELS } from './limits.ts'

export type InputFormat = 'jpeg' | 'png' | 'webp' | 'tiff' | 'gif' | 'avif'
export const INPUT_FORMATS: readonly InputFormat[] = ['jpeg', 'png', 'webp', 'tiff', 'gif', 'avif']
const ACCEPTED = 'JPEG, PNG, WebP, TIFF, GIF or AVIF'

export interface DecodeOptions {
  /** Refuse images with more pixels than this (default DEFAULT_MAX_PIXELS). */
  maxPixels?: number
  /** Name used in error messages when the input is a buffer (default "<buffer>"). */
  name?: string
  /**
   * Only this rectangle (after EXIF orientation), read in one sequential pass: a peer that needs part
   * of a large image never holds all of it decoded. Its pixels equal the same rectangle of the whole decode.
   */
  region?: Rect
}

export interface ImageInfo {
  format: InputFormat
  /** After EXIF orientation. */
  width: number
  height: number
  /** Channels decodeImage will return. */
  channels: Channels
}

type Input = string | Uint8Array

/**
 * Header-only check (cheap: no pixel decoding): is this a supported image within the pixel limit?
 * For refusing a bad file at submit time, before it enters the queue. decodeImage does the same checks.
 */
export async function probeImage (input: Input, options: DecodeOptions = {}): Promise<ImageInfo> {
  const label = labelOf(input, options)
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS
  if (typeof input === 'string') await checkFile(input)
  else if (input.length === 0) throw new ImageInputError(label, 'empty buffer, not an image')
  let meta: Metadata
  try {
    meta = await sharp(input, { failOn: 'error', limitInputPixels: false }).metadata()
  } catch (err) {
    throw new ImageInputError(label, `not an image, or not in a format swarm reads (${ACCEPTED}): ${messageOf(err)}`)
  }
  const format = formatOf(meta)
  if (!format) {
    const what = meta.format === 'heif' ? `HEIF with ${meta.compression ?? 'unknown'} compression` : String(meta.format)
    throw new ImageInputError(label, `unsupported format ${what} (accepted: ${ACCEPTED})`)
  }
  const width = meta.autoOrient?.width ?? meta.width
  const height = meta.autoOrient?.height ?? meta.height
  if (!width || !height) throw new ImageInputError(label, 'the image has no size')
  if (width * height > maxPixels) {
    throw new ImageInputError(label, `${width}x${height} is ${width * height} pixels, over the pixel limit of ${maxPixels}`)
  }
  const grey = meta.space === 'b-w' || meta.space === 'grey16'
  const channels = ((grey ? 1 : 3) + (meta.hasAlpha ? 1 : 0)) as Channels
  return { format, width, height, channels }
}

/**
 * Decodes to 8-bit interleaved pixels: EXIF orientation applied, CMYK and other colour spaces converted to
 * sRGB, grey kept as grey (1 or 2 channels), alpha kept. A 16-bit sample v becomes v >> 8 (its high byte),
 * in every channel, alpha included. Multi-page inputs (GIF, TIFF) give their first page. A truncated or
 * corrupt file is refused (sharp failOn: 'error').
 */
export async function decodeImage (input: Input, options: DecodeOptions = {}): Promise<RawImage> {
  const label = labelOf(input, options)
  const info = await probeImage(input, options)
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS
  // Every path goes through libvips' sRGB conversion, whose 16-bit step is v >> 8 (the tests check all
  // 65,536 codes). Grey takes band 0 of it (R = G = B): libvips' grey16 -> b-w conversion rounds through
  // float instead and misses v >> 8 for 18,965 of the 65,536 codes.
  const region = options.region
  if (region != null && !rectInside(region, info.width, info.height)) {
    throw new InvalidParameterError('decode', 'region', region, `a rectangle inside the ${info.width}x${info.height} image`)
  }
  let s = sharp(input, { failOn: 'error', limitInputPixels: maxPixels, autoOrient: true, sequentialRead: region != null }).toColourspace('srgb')
  if (region != null) s = s.extract({ left: region.x, top: region.y, width: region.width, height: region.height })
  if (info.channels === 1) s = s.extractChannel(0)
  if (info.channels === 2) s = s.ensureAlpha()
  const want = region ?? { width: info.width, height: info.height }
  try {
    // toBuffer hands over libvips' own memory, where toUint8Array would copy it (a 100 MP decode would peak
    // at twice its size); ownBytes then makes it transferable, without a copy where it can.
    const { data, info: got } = await s.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true })
    const expected = info.channels === 2 ? 4 : info.channels
    if (got.channels !== expected || got.width !== want.width || got.height !== want.height) {
      throw new Error(`decoded ${got.width}x${got.height}x${got.channels}, expected ${want.width}x${want.height}x${expected}`)
    }
    // sharp has no 2-band 8-bit output ('b-w' drops alpha): keep grey and alpha of each RGBA pixel.
    if (info.channels === 2) packGreyAlpha(data, got.width * got.height)
    return { width: got.width, height: got.height, channels: info.channels, data: ownBytes(data, got.width * got.height * info.channels) }
  } catch (err) {
    throw decodeError(label, maxPixels, err)
  }
}

/**
 * Checks that the whole image decodes, as decodeImage would decode it, without holding its pixels: libvips
 * decodes it in strips that are let go as they come, so a 100 MP file costs a few MiB here, not 286. What a
 * master needs at submit: a truncated or corrupt file is refused before it enters the queue, and the
 * workers decode what they need themselves.
 */
export async function checkImage (input: Input, options: DecodeOptions = {}): Promise<ImageInfo> {
  const label = labelOf(input, options)
  const info = await probeImage(input, options)
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS
  const bands = info.channels === 2 || info.channels === 4 ? 4 : 3
  let bytes = 0
  try {
    const s = sharp(input, { failOn: 'error', limitInputPixels: maxPixels, autoOrient: true, sequentialRead: true }).toColourspace('srgb').raw({ depth: 'uchar' })
    for await (const chunk of s) bytes += (chunk as Uint8Array).byteLength
  } catch (err) {
    throw decodeError(label, maxPixels, err)
  }
  const want = info.width * info.height * bands
  if (bytes !== want) throw new ImageInputError(label, `truncated or corrupt image data: decoded ${bytes} bytes, expected ${want}`)
  return info
}

/**
 * The refusal for a decode that failed part way, as every decode path words it (decodeImage, checkImage,
 * decodeToFile): over the pixel limit, or truncated or corrupt data.
 */
export function decodeError (label: string, maxPixels: number, err: unknown): ImageInputError {
  const msg = messageOf(err)
  if (/pixel limit/i.test(msg)) return new ImageInputError(label, `over the pixel limit of ${maxPixels}`)
  return new ImageInputError(label, `truncated or corrupt image data: ${msg}`)
}

/** In place, RGBA -> grey + alpha: pixel i's bytes 4i and 4i+3 go to 2i and 2i+1, never ahead of a read. */
export function packGreyAlpha (rgba: Uint8Array, pixels: number): void {
  for (let i = 0, s = 0; i < pixels; i++, s += 4) {
    rgba[2 * i] = rgba[s]
    rgba[2 * i + 1] = rgba[s + 3]
  }
}

/**
 * The first `length` bytes in an ArrayBuffer of exactly that size that a worker can be handed by transfer
 * (sharp's Buffer is marked untransferable). ArrayBuffer transfer() moves libvips' block without a copy when
 * the length is unchanged, and copies then frees it when shorter (2 channels: peak = RGBA + result).
 */
function ownBytes (data: Uint8Array, length: number): Uint8Array {
  const whole = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength && data.buffer instanceof ArrayBuffer
  // A view into a larger (e.g. pooled) buffer must not detach it: copy just its bytes.
  return whole ? new Uint8Array((data.buffer as ArrayBuffer).transfer(length)) : data.slice(0, length)
}

export type OutputFormat = 'png' | 'jpeg' | 'webp' | 'tiff' | 'avif' | 'gif'

const EXTENSIONS: Record<string, OutputFormat> = {
  '.png': 'png', '.jpg': 'jpeg', '.jpeg': 'jpeg', '.webp': 'webp', '.tif': 'tiff', '.tiff': 'tiff', '.avif': 'avif', '.gif': 'gif'
}

/** The output format for a file name, from its extension; throws ImageOutputError for anything else. */
export function outputFormatFor (path: string): OutputFormat {
  const ext = extname(path).toLowerCase()
  const f = EXTENSIONS[ext]
  if (!f) {
    throw new ImageOutputError(path, `${ext ? `unknown output format "${ext}"` : 'no file extension'}: use .png, .jpg/.jpeg, .webp, .tif/.tiff, .avif or .gif`)
  }
  return f
}

/**
 * Encodes raw pixels. Lossless for PNG and TIFF (LZW); JPEG has no alpha, so a transparent image is
 * flattened onto white there; GIF is palette-quantised by libvips.
 */
export async function encodeImageToBuffer (raw: RawImage, format: OutputFormat): Promise<Uint8Array> {
  // Pixels already in memory are no decompression bomb: sharp's input limit would only refuse a large output.
  const s = sharp(raw.data, { raw: { width: raw.width, height: raw.height, channels: raw.channels }, limitInputPixels: false })
  return (await withFormat(s, raw.channels, format, raw.width * raw.height).toUint8Array()).data
}

/**
 * JPEG's optimised Huffman tables need a second pass over every coefficient of the image, which libjpeg
 * keeps in memory (measured, 100 MP: 958 MiB peak, 387 MiB without). Up to a 25 MP photo they are worth
 * their few percent of size; above, the output is written in one pass and the memory stays a few strips.
 */
export const JPEG_OPTIMISE_MAX_PIXELS = 25_000_000

/** The encoder settings of every output (one place, so a stitched output equals `swarm run`'s). */
export function withFormat (input: Sharp, channels: number, format: OutputFormat, pixels: number): Sharp {
  let s = input
  // Without 'b-w' sharp would write grey images as RGB.
  if (channels <= 2) s = s.toColourspace('b-w')
  switch (format) {
    case 'png': s = s.png(); break
    case 'jpeg': s = s.flatten({ background: '#ffffff' }).jpeg({ quality: 90, optimiseCoding: pixels <= JPEG_OPTIMISE_MAX_PIXELS }); break
    case 'webp': s = s.webp({ quality: 90 }); break
    case 'tiff': s = s.tiff({ compression: 'lzw' }); break
    case 'avif': s = s.avif({ quality: 60 }); break
    case 'gif': s = s.gif(); break
  }
  return s
}

/** Writes `raw` to `outPath` in the format of its extension (via a temporary file, so no half-written output). */
export async function encodeImage (raw: RawImage, outPath: string): Promise<void> {
  const format = outputFormatFor(outPath)
  let bytes: Uint8Array
  try {
    bytes = await encodeImageToBuffer(raw, format)
  } catch (err) {
    throw new ImageOutputError(outPath, `cannot encode as ${format}: ${messageOf(err)}`)
  }
  const tmp = `${outPath}.${process.pid}.partial`
  try {
    await writeFile(tmp, bytes)
    await rename(tmp, outPath)
  } catch (err) {
    await unlink(tmp).catch(() => {})
    throw new ImageOutputError(outPath, `cannot write: ${messageOf(err)}`)
  }
}

function formatOf (meta: Metadata): InputFormat | undefined {
  switch (meta.format) {
    case 'jpeg': case 'png': case 'webp': case 'tiff': case 'gif': return meta.format
    case 'heif': return meta.compression === 'av1' ? 'avif' : undefined
    default: return undefined
  }
}

async function checkFile (path: string): Promise<void> {
  let st
  try {
    st = await stat(path)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    throw new ImageInputError(path, code === 'ENOENT' ? 'no such file' : `cannot read: ${messageOf(err)}`)
  }
  if (!st.isFile()) throw new ImageInputError(path, 'not a regular file')
  if (st.size === 0) throw new ImageInputError(path, 'empty file, not an image')
}

/** The name the user knows the image by: a peer decoding a received upload names it, not its temp path. */
function labelOf (input: Input, options: DecodeOptions): string {
  return options.name ?? (typeof input === 'string' ? input : '<buffer>')
}

function messageOf (err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).trim().split('\n')[0]
}
