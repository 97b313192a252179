// Gaussian family: blur and unsharp-mask sharpen. The gaussian is separable and computed in integer fixed
// point (weights scaled to ~2^16, sums kept exact in doubles), so every peer gets the same bytes.
import { defineOp, sameChannels } from '../op.ts'
import { number } from '../params.ts'
import { mapColourPlanes, padRow } from './planes.ts'

/** Kernel radius for a sigma: 3 sigma covers 99.7% of the weight. */
export function gaussianRadius (sigma: number): number {
  return Math.max(1, Math.ceil(3 * sigma))
}

function gaussianWeights (sigma: number): Int32Array {
  const r = gaussianRadius(sigma)
  const g: number[] = []
  let total = 0
  for (let k = -r; k <= r; k++) { const v = Math.exp(-(k * k) / (2 * sigma * sigma)); g.push(v); total += v }
  return Int32Array.from(g, v => Math.round(v / total * 65536))
}

/** Gaussian blur of one 8-bit plane, edges replicated. */
export function gaussianPlane (plane: Uint8Array, width: number, height: number, sigma: number): Uint8Array {
  const w = gaussianWeights(sigma)
  const r = (w.length - 1) / 2
  let s = 0
  for (const v of w) s += v
  // Horizontal pass into exact integer sums (<= 255 * 2^16, fits an Int32).
  const h = new Int32Array(width * height)
  const row = new Uint8Array(width + 2 * r)
  for (let y = 0; y < height; y++) {
    const off = y * width
    padRow(row, plane, y, width, r)
    for (let x = 0; x < width; x++) {
      let acc = 0
      for (let k = 0; k < w.length; k++) acc += w[k] * row[x + k]
      h[off + x] = acc
    }
  }
  // Vertical pass, row by row for locality; sums stay below 2^53 so doubles hold them exactly.
  const out = new Uint8Array(width * height)
  const acc = new Float64Array(width)
  const div = s * s
  const half = Math.floor(div / 2)
  for (let y = 0; y < height; y++) {
    acc.fill(0)
    for (let k = -r; k <= r; k++) {
      const sy = Math.min(height - 1, Math.max(0, y + k))
      const wk = w[k + r]
      const src = sy * width
      for (let x = 0; x < width; x++) acc[x] += wk * h[src + x]
    }
    const dst = y * width
    for (let x = 0; x < width; x++) out[dst + x] = Math.min(255, Math.floor((acc[x] + half) / div))
  }
  return out
}

export const blur = defineOp({
  name: 'blur',
  description: 'Gaussian blur, per colour channel',
  params: {
    sigma: number({ min: 0.3, max: 100, default: 2, description: 'standard deviation in pixels (the halo is ceil(3 * sigma))' })
  },
  halo: p => gaussianRadius(p.sigma),
  channels: sameChannels,
  apply: (img, p) => mapColourPlanes(img, (pl, w, h) => gaussianPlane(pl, w, h, p.sigma))
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
  apply: (img, p) => mapColourPlanes(img, (pl, w, h) => {
    const b = gaussianPlane(pl, w, h, p.sigma)
    const out = new Uint8Array(pl.length)
    for (let i = 0; i < pl.length; i++) {
      const v = Math.round(pl[i] + p.amount * (pl[i] - b[i]))
      out[i] = v < 0 ? 0 : v > 255 ? 255 : v
    }
    return out
  })
})
