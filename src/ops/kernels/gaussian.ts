// Gaussian family: blur and unsharp-mask sharpen, separable, in integer fixed point so every peer gets
// the same bytes (the arithmetic is spelled out in blurPlan; test/ops/reference/gaussian.ts is its
// scalar reference).
import { defineOp, sameChannels } from '../op.ts'
import { number } from '../params.ts'
import type { Resident } from '../wasm/resident.ts'
import { allocImage } from '../wasm/resident.ts'
import { alloc, put, scope, wasmModule } from '../wasm/engine.ts'

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

/** Sigmas up to this use 8-bit first-pass weights; larger ones get 15-bit weights (see blurPlan). */
export const SIGMA_8BIT = 4

export interface BlurPlan {
  r: number
  /** First-pass (vertical) weights, summing to 2^(8 + shift1). */
  w1: Int32Array
  shift1: number
  /** Second-pass (horizontal) weights, summing to 2^15. */
  w2: Int32Array
}

/**
 * The blur arithmetic. Vertical pass first: H = sum w1[k] p[y + k] (exact), rounded once to 7 fraction
 * bits: h = (H + 2^shift1) >> (shift1 + 1), 0..32640. Horizontal pass: S = sum w2[k] h[x + k] (exact,
 * < 2^30); the blurred byte is (S + 2^21) >> 22. Seven fraction bits (not 8) let two lanes of h add in
 * 16 bits, so the second pass takes the symmetric taps x - k, x + k together. With 8-bit first-pass
 * weights (OpenCV's bit-exact scheme, u16 sums) a sigma above ~4 degrades into a box (at sigma 100 every
 * weight is 0 or 1), so larger sigmas use 15-bit weights there (shift1 = 7, i32 sums). Vertical first
 * because its rows come straight from the image and the horizontal pass then reads one row of h.
 */
export function blurPlan (sigma: number): BlurPlan {
  const shift1 = sigma <= SIGMA_8BIT ? 0 : 7
  const w1 = quantisedWeights(sigma, 1 << (8 + shift1))
  return { r: (w1.length - 1) / 2, w1, shift1, w2: quantisedWeights(sigma, 1 << 15) }
}

interface GaussianWasm {
  gauss: (src: number, dst: number, width: number, height: number, ch: number, r: number, shift1: number,
    w1: number, w2: number, amount: number, hrow: number, rows: number, tmp: number) => void
}
const wasm = (): GaussianWasm => wasmModule<GaussianWasm>('gaussian')

/** Neighbouring weights packed two to an i32 (low half first), as the signed dot products take them. */
function pairs (w: ArrayLike<number>): number[] {
  const out: number[] = []
  for (let k = 0; k < w.length; k += 2) out.push((w[k] & 0xffff) | ((k + 1 < w.length ? w[k + 1] : 0) << 16))
  return out
}

/** Each i32 repeated four times: one v128 splat per value, loaded whole by the kernel. */
const splats = (v: number[]): number[] => v.flatMap(x => [x, x, x, x])

/** Blur (amount < 0) or unsharp mask of a resident image; alpha copied through. */
function gauss (img: Resident, sigma: number, amount: number): Resident {
  const { width, height, channels: ch } = img
  const out = allocImage(width, height, ch)
  const { r, w1, w2, shift1 } = blurPlan(sigma)
  const n = width * ch
  scope(() => {
    const half1 = Array.from(w1.subarray(r))
    const w1v = put(splats(shift1 === 0 ? half1.map(w => w | (w << 16)) : pairs(half1)), 'i32')
    const w2v = put(splats(pairs(w2.subarray(r))), 'i32')
    const hrow = alloc(2 * (2 * r * ch + Math.ceil(n / 16) * 16 + 16))
    const rows = alloc(8 * (r + 1))
    // The vertical pass reads up to 15 bytes past the image's last row: `out` and this scratch come after
    // the image, so that stays inside the memory, and those lanes are never used.
    const tmp = alloc(32)
    wasm().gauss(img.ptr, out.ptr, width, height, ch, r, shift1, w1v, w2v, amount, hrow, rows, tmp)
  })
  return out
}

/** Gaussian blur of a resident image, every colour channel; alpha copied through. */
export const blurKernel = (img: Resident, sigma: number): Resident => gauss(img, sigma, -1)

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
  kernel: (img, p) => gauss(img, p.sigma, p.amount)
})
