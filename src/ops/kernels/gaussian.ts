// Gaussian family: blur and unsharp-mask sharpen, separable, in integer fixed point so every peer gets
// the same bytes (the arithmetic is spelled out in blurPlan; test/ops/reference/gaussian.ts is its
// scalar reference).
import { defineOp, sameChannels } from '../op.ts'
import { number } from '../params.ts'
import type { Resident } from '../wasm/resident.ts'
import { allocImage, residentBytes } from '../wasm/resident.ts'
import { scope, u8 } from '../wasm/engine.ts'
import { hasAlpha } from '../raw.ts'

/** Kernel radius for a sigma: 3 sigma covers 99.7% of the weight. */
export function gaussianRadius (sigma: number): number {
  return Math.max(1, Math.ceil(3 * sigma))
}

/**
 * Gaussian weights k = -r..r as integers summing to exactly `total`, symmetric (w[-k] = w[k]). Each is
 * floor(g * total); the units left over go, in pairs, to the taps with the largest fractions (ties to the
 * smaller |k|), and an odd one to the centre, so the rounding never depends on anything but sigma.
 */
export function quantisedWeights (sigma: number, total: number): Int32Array {
  const r = gaussianRadius(sigma)
  const g: number[] = []
  let sum = 0
  for (let k = 0; k <= r; k++) { const v = Math.exp(-(k * k) / (2 * sigma * sigma)); g.push(v); sum += k === 0 ? v : 2 * v }
  const f = g.map(v => v / sum * total)
  const q = f.map(Math.floor)
  let rem = total - q.reduce((s, v, k) => s + (k === 0 ? v : 2 * v), 0)
  if (rem % 2 === 1) { q[0]++; rem-- }
  const order = Array.from({ length: r }, (_, i) => i + 1).sort((a, b) => (f[b] - q[b]) - (f[a] - q[a]) || a - b)
  for (let i = 0; rem > 0; i++, rem -= 2) q[order[i]]++
  const w = new Int32Array(2 * r + 1)
  for (let k = -r; k <= r; k++) w[k + r] = q[Math.abs(k)]
  return w
}

/** Sigmas up to this use 8-bit horizontal weights; larger ones get 15-bit weights (see blurPlan). */
export const SIGMA_8BIT = 4

export interface BlurPlan {
  r: number
  /** Horizontal weights, summing to 2^(8 + shift1). */
  w1: Int32Array
  shift1: number
  /** Vertical weights, summing to 2^15. */
  w2: Int32Array
}

/**
 * The blur arithmetic. Horizontal pass: h = (sum w1[k] p[x + k] + round) >> shift1, an 8.8 fixed-point
 * value (0..65280, exact when shift1 = 0). Vertical pass: S = sum w2[k] h[y + k] (exact, < 2^31), and
 * the blurred byte is (S + 2^22) >> 23. With 8-bit horizontal weights (OpenCV's bit-exact scheme) a sigma
 * above ~4 degrades into a box (at sigma 100 every weight is 0 or 1), so larger sigmas use 15-bit
 * weights and round h once to 8.8 (shift1 = 7).
 */
export function blurPlan (sigma: number): BlurPlan {
  const shift1 = sigma <= SIGMA_8BIT ? 0 : 7
  const w1 = quantisedWeights(sigma, 1 << (8 + shift1))
  return { r: (w1.length - 1) / 2, w1, shift1, w2: quantisedWeights(sigma, 1 << 15) }
}

const clampIndex = (i: number, n: number): number => i < 0 ? 0 : i >= n ? n - 1 : i

/** Gaussian blur of a resident image, every colour channel; alpha copied through. */
export function blurKernel (img: Resident, sigma: number): Resident {
  const { width, height, channels: ch } = img
  const out = allocImage(width, height, ch)
  const { r, w1, w2, shift1 } = blurPlan(sigma)
  const round1 = shift1 > 0 ? 1 << (shift1 - 1) : 0
  const n = residentBytes(img)
  const colour = hasAlpha(ch) ? ch - 1 : ch
  scope(() => {
    const h = new Int32Array(n)
    const src = u8(img.ptr, n)
    const dst = u8(out.ptr, n)
    const rowBytes = width * ch
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        for (let c = 0; c < colour; c++) {
          let acc = 0
          for (let k = -r; k <= r; k++) acc += w1[k + r] * src[y * rowBytes + clampIndex(x + k, width) * ch + c]
          h[y * rowBytes + x * ch + c] = (acc + round1) >> shift1
        }
      }
    }
    for (let y = 0; y < height; y++) {
      for (let i = 0; i < rowBytes; i++) {
        const o = y * rowBytes + i
        if (colour < ch && i % ch === colour) { dst[o] = src[o]; continue }
        let acc = 0
        for (let k = -r; k <= r; k++) acc += w2[k + r] * h[clampIndex(y + k, height) * rowBytes + i]
        dst[o] = (acc + (1 << 22)) >>> 23
      }
    }
  })
  return out
}

/** Blur of one 8-bit plane (ordinary memory), for callers that hold planes. */
export function gaussianPlane (plane: Uint8Array, width: number, height: number, sigma: number): Uint8Array {
  return scope(() => {
    const img: Resident = allocImage(width, height, 1)
    u8(img.ptr, plane.length).set(plane)
    const out = blurKernel(img, sigma)
    return u8(out.ptr, plane.length).slice()
  })
}

export const blur = defineOp({
  name: 'blur',
  description: 'Gaussian blur, per colour channel',
  params: {
    sigma: number({ min: 0.3, max: 100, default: 2, description: 'standard deviation in pixels (the halo is ceil(3 * sigma))' })
  },
  halo: p => gaussianRadius(p.sigma),
  channels: sameChannels,
  kernel: (img, p) => blurKernel(img, p.sigma)
})

export const sharpen = defineOp({
  name: 'sharpen',
  description: 'Unsharp mask: value + amount * (value - gaussian blur), per colour channel',
  params: {
    sigma: number({ min: 0.3, max: 20, default: 1, description: 'blur radius of the mask (standard deviation in pixels)' }),
    amount: number({ min: 0, max: 10, default: 1, description: 'strength (0 = unchanged)' })
  },
  halo: p => gaussianRadius(p.sigma),
  channels: sameChannels,
  kernel: (img, p) => {
    const { width, height, channels: ch } = img
    const n = residentBytes(img)
    const b = blurKernel(img, p.sigma)
    const out = allocImage(width, height, ch)
    const src = u8(img.ptr, n)
    const bl = u8(b.ptr, n)
    const dst = u8(out.ptr, n)
    for (let i = 0; i < n; i++) {
      const v = Math.round(src[i] + p.amount * (src[i] - bl[i]))
      dst[i] = v < 0 ? 0 : v > 255 ? 255 : v
    }
    return out
  }
})
