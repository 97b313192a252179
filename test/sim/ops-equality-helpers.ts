// Helpers for ops-equality.sim.test.ts: op cases from the catalogue, input files in every format the
// swarm reads, and byte-exact / approximate image comparison with a useful message on failure.
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import sharp from 'sharp'
import { describeOps, type RawImage } from '../../src/ops/index.ts'

export interface OpCase { label: string, specs: string[] }

/**
 * One case per op in the catalogue with its defaults, plus one per non-default value of every enum
 * parameter (threshold:method=otsu, ...), so a new op or a new method is covered without editing the test.
 */
export function catalogueCases (): OpCase[] {
  const cases: OpCase[] = []
  for (const op of describeOps()) {
    cases.push({ label: `${op.name} (defaults)`, specs: [op.name] })
    for (const p of op.params) {
      if (p.type !== 'enum' || p.values == null) continue
      for (const v of p.values) {
        if (v !== p.default) cases.push({ label: `${op.name}:${p.name}=${v}`, specs: [`${op.name}:${p.name}=${v}`] })
      }
    }
  }
  return cases
}

/** Where two images differ, or null when they are identical (size, channels and every byte). */
export function imageDifference (got: RawImage, want: RawImage): string | null {
  if (got.width !== want.width || got.height !== want.height || got.channels !== want.channels) {
    return `got ${got.width}x${got.height}x${got.channels}, want ${want.width}x${want.height}x${want.channels}`
  }
  if (got.data.byteLength !== want.data.byteLength) return `got ${got.data.byteLength} bytes, want ${want.data.byteLength}`
  let count = 0
  let first = -1
  for (let i = 0; i < want.data.length; i++) {
    if (got.data[i] !== want.data[i]) {
      count++
      if (first < 0) first = i
    }
  }
  if (count === 0) return null
  const px = Math.floor(first / want.channels)
  return `${count} of ${want.data.length} bytes differ; first at pixel (${px % want.width}, ${Math.floor(px / want.width)}) ` +
    `channel ${first % want.channels}: got ${got.data[first]}, want ${want.data[first]}`
}

/** Mean absolute difference per sample (same size and channels required). */
export function meanAbsDiff (a: RawImage, b: RawImage): number {
  if (a.data.length !== b.data.length) return Infinity
  let sum = 0
  for (let i = 0; i < a.data.length; i++) sum += Math.abs(a.data[i] - b.data[i])
  return sum / a.data.length
}

/** The largest mean absolute difference over the tileSize x tileSize blocks: a single wrong tile shows here. */
export function worstBlockMeanAbsDiff (a: RawImage, b: RawImage, tileSize: number): number {
  if (a.width !== b.width || a.height !== b.height || a.channels !== b.channels) return Infinity
  let worst = 0
  for (let y0 = 0; y0 < a.height; y0 += tileSize) {
    for (let x0 = 0; x0 < a.width; x0 += tileSize) {
      let sum = 0
      let n = 0
      for (let y = y0; y < Math.min(a.height, y0 + tileSize); y++) {
        for (let i = (y * a.width + x0) * a.channels; i < (y * a.width + Math.min(a.width, x0 + tileSize)) * a.channels; i++) {
          sum += Math.abs(a.data[i] - b.data[i])
          n++
        }
      }
      worst = Math.max(worst, sum / n)
    }
  }
  return worst
}

/** Deterministic textured pixels (LCG noise over gradients): `channels` interleaved samples in 0..max. */
function texture (width: number, height: number, channels: number, seed: number, max: number): number[] {
  const out: number[] = new Array(width * height * channels)
  let s = seed >>> 0
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < channels; c++) {
        s = (s * 1664525 + 1013904223) >>> 0
        const base = c % 3 === 0 ? x / width : c % 3 === 1 ? y / height : ((x + y) & 32) !== 0 ? 0.8 : 0.2
        const v = Math.round(base * max * 0.75 + (s >>> 8) % Math.round(max * 0.25))
        out[(y * width + x) * channels + c] = Math.min(max, v)
      }
    }
  }
  return out
}

export interface FormatFile {
  label: string
  path: string
  /** What the file must look like (checked by the test, so a broken fixture cannot pass silently). */
  expect: { format: string, depth?: string, hasAlpha?: boolean, channels?: number, orientation?: number }
  /** Size after EXIF orientation, i.e. what the output must have. */
  width: number
  height: number
}

/** Input files in the formats the swarm reads, `width`x`height` as stored. */
export async function makeFormatFiles (dir: string, width: number, height: number): Promise<FormatFile[]> {
  const rgb = Buffer.from(texture(width, height, 3, 11, 255))
  const rgba = Buffer.from(texture(width, height, 4, 12, 255))
  // Full transparency and full opacity both present.
  for (let i = 3; i < rgba.length; i += 4 * 7) rgba[i] = 0
  for (let i = 7; i < rgba.length; i += 4 * 5) rgba[i] = 255
  const greyAlpha = Buffer.from(texture(width, height, 2, 13, 255))
  const rgb16 = Uint16Array.from(texture(width, height, 3, 14, 65535))
  const raw = (channels: 1 | 2 | 3 | 4) => ({ raw: { width, height, channels } })

  const files: Array<{ label: string, name: string, bytes: Buffer, expect: FormatFile['expect'], swap?: boolean }> = [
    { label: 'JPEG', name: 'in.jpg', bytes: await sharp(rgb, raw(3)).jpeg({ quality: 85 }).toBuffer(), expect: { format: 'jpeg', channels: 3 } },
    { label: 'WebP (lossy)', name: 'in.webp', bytes: await sharp(rgb, raw(3)).webp({ quality: 80 }).toBuffer(), expect: { format: 'webp', channels: 3 } },
    { label: 'WebP with alpha (lossless)', name: 'in-alpha.webp', bytes: await sharp(rgba, raw(4)).webp({ lossless: true }).toBuffer(), expect: { format: 'webp', hasAlpha: true, channels: 4 } },
    { label: '16-bit PNG', name: 'in16.png', bytes: await sharp(rgb16, raw(3)).toColourspace('rgb16').png().toBuffer(), expect: { format: 'png', depth: 'ushort', channels: 3 } },
    { label: 'PNG with alpha (RGBA)', name: 'in-rgba.png', bytes: await sharp(rgba, raw(4)).png().toBuffer(), expect: { format: 'png', hasAlpha: true, channels: 4 } },
    { label: 'grey + alpha PNG', name: 'in-ga.png', bytes: await sharp(greyAlpha, raw(2)).toColourspace('b-w').png().toBuffer(), expect: { format: 'png', hasAlpha: true, channels: 2 } },
    { label: 'TIFF', name: 'in.tif', bytes: await sharp(rgb, raw(3)).tiff({ compression: 'lzw' }).toBuffer(), expect: { format: 'tiff', channels: 3 } }
  ]
  for (const orientation of [6, 3, 5]) {
    files.push({
      label: `JPEG with EXIF orientation ${orientation}`,
      name: `in-orient${orientation}.jpg`,
      bytes: await sharp(rgb, raw(3)).jpeg({ quality: 85 }).withMetadata({ orientation }).toBuffer(),
      expect: { format: 'jpeg', channels: 3, orientation },
      swap: orientation >= 5
    })
  }
  const out: FormatFile[] = []
  for (const f of files) {
    const path = join(dir, f.name)
    await writeFile(path, f.bytes)
    out.push({ label: f.label, path, expect: f.expect, width: f.swap === true ? height : width, height: f.swap === true ? width : height })
  }
  return out
}

/** A few leading bytes that identify an encoded format. */
export function sniffFormat (data: Uint8Array): string {
  const b = Buffer.from(data.buffer, data.byteOffset, data.byteLength)
  if (b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return 'png'
  if (b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg'
  if (b.subarray(0, 4).toString('latin1') === 'RIFF' && b.subarray(8, 12).toString('latin1') === 'WEBP') return 'webp'
  return 'unknown'
}
