// Photo-like inputs of any size: smooth colour gradients (sky, light falloff), a few hard-edged shapes
// (objects, so canny finds edges and PNG cannot compress it away), and per-pixel grain. Deterministic
// from a seed. Made once and cached in bench/tmp/inputs (git-ignored), since 100 MP takes a few seconds.
import { existsSync } from 'node:fs'
import { mkdir, rename, stat, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import sharp from 'sharp'
import { ROOT } from './proc.ts'

export const INPUT_DIR = join(ROOT, 'bench', 'tmp', 'inputs')
const GENERATOR_VERSION = 2

export interface Input { path: string, width: number, height: number, bytes: number, format: 'jpeg' | 'png' }

export async function photoLike (width: number, height: number, format: 'jpeg' | 'png' = 'jpeg', seed = 1): Promise<Input> {
  await mkdir(INPUT_DIR, { recursive: true })
  const path = join(INPUT_DIR, `photo-v${GENERATOR_VERSION}-${width}x${height}-s${seed}.${format === 'jpeg' ? 'jpg' : 'png'}`)
  if (!existsSync(path)) {
    const raw = photoPixels(width, height, seed)
    const tmp = `${path}.${process.pid}.tmp`
    try {
      let s = sharp(raw, { raw: { width, height, channels: 3 }, limitInputPixels: false })
      s = format === 'jpeg' ? s.jpeg({ quality: 90 }) : s.png({ compressionLevel: 6 })
      await s.toFile(tmp)
      await rename(tmp, path)
    } catch (err) {
      await unlink(tmp).catch(() => {})
      throw err
    }
  }
  return { path, width, height, bytes: (await stat(path)).size, format }
}

/** The raw RGB pixels of the photo-like image. */
export function photoPixels (width: number, height: number, seed = 1): Buffer {
  let s = (seed * 2654435761) >>> 0
  const rnd = (): number => { s = (s * 1664525 + 1013904223) >>> 0; return s / 2 ** 32 }
  // Separable smooth fields: a few low-frequency waves per channel along x and along y.
  const field = (n: number, scale: number): Float32Array[] => [0, 1, 2].map(() => {
    const a = Array.from({ length: 3 }, () => ({ f: (0.5 + rnd() * 3) * Math.PI * 2 / n, p: rnd() * 6.28, amp: scale * (0.3 + rnd()) }))
    const t = new Float32Array(n)
    for (let i = 0; i < n; i++) { let v = 0; for (const w of a) v += w.amp * Math.sin(i * w.f + w.p); t[i] = v }
    return t
  })
  const colF = field(width, 25)
  const rowF = field(height, 25)
  const base = [70 + rnd() * 60, 70 + rnd() * 60, 70 + rnd() * 60]
  // Shapes: discs and rectangles with their own colour offset.
  const minDim = Math.min(width, height)
  const shapes = Array.from({ length: 24 }, () => ({
    disc: rnd() < 0.6,
    cx: rnd() * width,
    cy: rnd() * height,
    r: minDim * (0.03 + rnd() * 0.15),
    hw: minDim * (0.02 + rnd() * 0.2),
    hh: minDim * (0.02 + rnd() * 0.2),
    d: [0, 1, 2].map(() => (rnd() < 0.5 ? -1 : 1) * (50 + rnd() * 90))
  }))
  const out = new Uint8ClampedArray(width * height * 3)
  const add = new Float32Array(width * 3)
  let g = (seed ^ 0x9e3779b9) >>> 0
  for (let y = 0; y < height; y++) {
    add.fill(0)
    for (const sh of shapes) {
      let x0: number, x1: number
      if (sh.disc) {
        const dy = y - sh.cy
        if (Math.abs(dy) >= sh.r) continue
        const dx = Math.sqrt(sh.r * sh.r - dy * dy)
        x0 = sh.cx - dx; x1 = sh.cx + dx
      } else {
        if (Math.abs(y - sh.cy) >= sh.hh) continue
        x0 = sh.cx - sh.hw; x1 = sh.cx + sh.hw
      }
      const a = Math.max(0, Math.ceil(x0))
      const b = Math.min(width, Math.floor(x1))
      for (let x = a; x < b; x++) { add[x * 3] += sh.d[0]; add[x * 3 + 1] += sh.d[1]; add[x * 3 + 2] += sh.d[2] }
    }
    const r0 = base[0] + rowF[0][y]
    const g0 = base[1] + rowF[1][y]
    const b0 = base[2] + rowF[2][y]
    const c0 = colF[0]; const c1 = colF[1]; const c2 = colF[2]
    let i = y * width * 3
    for (let x = 0; x < width; x++, i += 3) {
      g = (g * 1664525 + 1013904223) >>> 0
      const n = ((g >>> 24) & 15) - 8 // grain, +-8
      out[i] = r0 + c0[x] + add[x * 3] + n
      out[i + 1] = g0 + c1[x] + add[x * 3 + 1] + n
      out[i + 2] = b0 + c2[x] + add[x * 3 + 2] + ((g >>> 16) & 7) - 4
    }
  }
  return Buffer.from(out.buffer, out.byteOffset, out.byteLength)
}
