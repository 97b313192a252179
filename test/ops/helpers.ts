// Test images generated in code: deterministic "photo-like" content (smooth gradients, hard-edged shapes,
// texture and noise) so that every kernel sees flat areas, edges and detail.
import { expect } from 'vitest'
import type { Channels, RawImage } from '../../src/ops/raw.ts'

/** mulberry32: a tiny seeded PRNG, so the images are the same on every run. */
export function rng (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export function photoLike (width: number, height: number, channels: Channels = 3, seed = 1): RawImage {
  const rand = rng(seed)
  const data = new Uint8Array(width * height * channels)
  const shapes = Array.from({ length: 12 }, () => ({
    cx: rand() * width, cy: rand() * height, r: (0.05 + rand() * 0.3) * Math.max(8, Math.min(width, height)),
    rgb: [rand() * 255, rand() * 255, rand() * 255], square: rand() < 0.4
  }))
  const fx = 0.5 + rand() * 3
  const fy = 0.5 + rand() * 3
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const u = x / Math.max(1, width - 1)
      const v = y / Math.max(1, height - 1)
      let rgb = [
        110 + 90 * Math.sin(6.28 * fx * u + 1.3 * v),
        120 + 80 * Math.cos(6.28 * fy * v - u),
        100 + 70 * Math.sin(3.1 * (u + v) * fx)
      ]
      for (const s of shapes) {
        const dx = x - s.cx
        const dy = y - s.cy
        const inside = s.square ? Math.max(Math.abs(dx), Math.abs(dy)) < s.r : dx * dx + dy * dy < s.r * s.r
        if (inside) rgb = s.rgb.map((c, i) => 0.7 * c + 0.3 * rgb[i])
      }
      const texture = 12 * Math.sin(x * 0.9) * Math.cos(y * 1.1)
      const i = (y * width + x) * channels
      const noise = () => (rand() - 0.5) * 30
      if (channels <= 2) {
        data[i] = clamp(0.3 * rgb[0] + 0.59 * rgb[1] + 0.11 * rgb[2] + texture + noise())
      } else {
        for (let c = 0; c < 3; c++) data[i + c] = clamp(rgb[c] + texture + noise())
      }
      if (channels === 2 || channels === 4) data[i + channels - 1] = clamp(255 * (0.5 + 0.5 * Math.sin(u * 5 + v * 3)))
    }
  }
  return { width, height, channels, data }
}

function clamp (v: number): number {
  return v < 0 ? 0 : v > 255 ? 255 : Math.round(v)
}

/** Index and values of the first differing byte, for readable failures; undefined when equal. */
export function firstDifference (a: RawImage, b: RawImage): string | undefined {
  if (a.width !== b.width || a.height !== b.height || a.channels !== b.channels) {
    return `shape ${a.width}x${a.height}x${a.channels} vs ${b.width}x${b.height}x${b.channels}`
  }
  for (let i = 0; i < a.data.length; i++) {
    if (a.data[i] !== b.data[i]) {
      const px = Math.floor(i / a.channels)
      return `byte ${i} (x=${px % a.width}, y=${Math.floor(px / a.width)}, c=${i % a.channels}): ${a.data[i]} vs ${b.data[i]}`
    }
  }
  return undefined
}

/** Uniform random bytes. */
export function noise (width: number, height: number, channels: Channels, seed: number): RawImage {
  const r = rng(seed)
  const data = new Uint8Array(width * height * channels)
  for (let i = 0; i < data.length; i++) data[i] = Math.floor(r() * 256)
  return { width, height, channels, data }
}

/** Few distinct values: ties everywhere (equal magnitudes, windows full of equal values). */
export function levels (width: number, height: number, channels: Channels, seed: number, values: readonly number[]): RawImage {
  const img = noise(width, height, channels, seed)
  for (let i = 0; i < img.data.length; i++) img.data[i] = values[img.data[i] % values.length]
  return img
}

/** Sizes that leave SIMD tails and one-pixel edges. */
export const AWKWARD_SIZES: ReadonlyArray<[number, number]> = [[1, 1], [1, 9], [9, 1], [5, 3], [17, 13], [33, 64], [70, 21]]

/** Photo-like, noise and few-level images of every awkward size and channel count: what kernels are compared on. */
export function kernelImages (levelValues: readonly number[]): Array<[string, RawImage]> {
  const out: Array<[string, RawImage]> = []
  let seed = 1
  for (const [w, h] of AWKWARD_SIZES) {
    for (const ch of [1, 2, 3, 4] as const) {
      out.push([`photo ${w}x${h}x${ch}`, photoLike(w, h, ch, seed++)])
      out.push([`noise ${w}x${h}x${ch}`, noise(w, h, ch, seed++)])
      out.push([`levels ${w}x${h}x${ch}`, levels(w, h, ch, seed++, levelValues)])
    }
  }
  return out
}

/** Byte-for-byte equality, with the first differing pixel in the message. */
export function expectSameImage (name: string, got: RawImage, want: RawImage): void {
  const diff = firstDifference(got, want)
  if (diff) throw new Error(`${name}: ${diff}`)
  expect(got.data.length).toBe(want.data.length)
}
