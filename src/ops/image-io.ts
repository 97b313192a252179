// Decoding and encoding with sharp (libvips). The only place that touches image file formats; the kernels
// see RawImage only. libvips does the pixel work on its own threads, so these calls do not block the
// event loop for long.
import { availableParallelism } from 'node:os'
import { rename, stat, unlink, writeFile } from 'node:fs/promises'
import { extname } from 'node:path'
import sharp from 'sharp'
import type { Metadata } from 'sharp'
import { ImageInputError, ImageOutputError } from './errors.ts'
import type { Channels, RawImage } from './raw.ts'

// sharp defaults to one libvips thread on glibc Linux (memory fragmentation worries); we want the cores.
sharp.concurrency(availableParallelism())
// A long-running peer decodes many different files; libvips' operation cache would only hold memory.
sharp.cache(false)

/** sharp's own default limit (0x3FFF x 0x3FFF). */
export const DEFAULT_MAX_PIXELS = 268_402_689

export type InputFormat = 'jpeg' | 'png' | 'webp' | 'tiff' | 'gif' | 'avif'
export const INPUT_FORMATS: readonly InputFormat[] = ['jpeg', 'png', 'webp', 'tiff', 'gif', 'avif']
const ACCEPTED = 'JPEG, PNG, WebP, TIFF, GIF or AVIF'

export interface DecodeOptions {
  /** Refuse images with more pixels than this (default DEFAULT_MAX_PIXELS). */
  maxPixels?: number
  /** Name used in error messages when the input is a buffer (default "<buffer>"). */
  name?: string
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
 * Decodes to 8-bit interleaved pixels: EXIF orientation applied, 16-bit reduced to 8-bit, CMYK and other
 * colour spaces converted to sRGB, grey kept as grey (1 or 2 channels), alpha kept. Multi-page inputs
 * (GIF, TIFF) give their first page. A truncated or corrupt file is refused (sharp failOn: 'error').
 */
export async function decodeImage (input: Input, options: DecodeOptions = {}): Promise<RawImage> {
  const label = labelOf(input, options)
  const info = await probeImage(input, options)
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS
  const open = () => sharp(input, { failOn: 'error', limitInputPixels: maxPixels, autoOrient: true })
  try {
    let data: Uint8Array
    let got: { width: number; height: number; channels: number }
    if (info.channels === 2) {
      // sharp converts to sRGB unless told 'b-w', and 'b-w' drops alpha: decode RGBA once, then split
      // the grey and alpha bands out of the raw pixels (still inside libvips, not in a JS loop).
      const rgba = await open().toColourspace('srgb').ensureAlpha().raw().toUint8Array()
      const raw = { raw: { width: rgba.info.width, height: rgba.info.height, channels: 4 as const } }
      const grey = await sharp(rgba.data, raw).extractChannel(0).raw().toUint8Array()
      const alpha = await sharp(rgba.data, raw).extractChannel(3).raw().toUint8Array()
      const r = await sharp(grey.data, { raw: { ...raw.raw, channels: 1 } })
        .joinChannel(Buffer.from(alpha.data.buffer, alpha.data.byteOffset, alpha.data.byteLength), { raw: { ...raw.raw, channels: 1 } }).raw().toUint8Array()
      data = r.data
      got = r.info
    } else {
      const r = await open().toColourspace(info.channels === 1 ? 'b-w' : 'srgb').raw({ depth: 'uchar' }).toUint8Array()
      data = r.data
      got = r.info
    }
    if (got.channels !== info.channels || got.width !== info.width || got.height !== info.height) {
      throw new Error(`decoded ${got.width}x${got.height}x${got.channels}, expected ${info.width}x${info.height}x${info.channels}`)
    }
    // sharp hands back a Buffer; a plain Uint8Array view of the same memory avoids Buffer's aliasing slice().
    return { width: got.width, height: got.height, channels: info.channels, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) }
  } catch (err) {
    const msg = messageOf(err)
    if (/pixel limit/i.test(msg)) throw new ImageInputError(label, `over the pixel limit of ${maxPixels}`)
    throw new ImageInputError(label, `truncated or corrupt image data: ${msg}`)
  }
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
  let s = sharp(raw.data, { raw: { width: raw.width, height: raw.height, channels: raw.channels } })
  // Without 'b-w' sharp would write grey images as RGB.
  if (raw.channels <= 2) s = s.toColourspace('b-w')
  switch (format) {
    case 'png': s = s.png(); break
    case 'jpeg': s = s.flatten({ background: '#ffffff' }).jpeg({ quality: 90 }); break
    case 'webp': s = s.webp({ quality: 90 }); break
    case 'tiff': s = s.tiff({ compression: 'lzw' }); break
    case 'avif': s = s.avif({ quality: 60 }); break
    case 'gif': s = s.gif(); break
  }
  return (await s.toUint8Array()).data
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
