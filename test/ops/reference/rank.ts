// Scalar reference for the rank filters (median, erode, dilate): the JavaScript implementation the wasm
// kernels in src/ops/wasm/as/rank.ts replaced, kept readable. The wasm output must equal it byte for byte.
import type { RawImage } from '../../../src/ops/raw.ts'
import { mapColourPlanes, pad, padRow } from './planes.ts'

/**
 * Median with Huang's sliding histogram: moving one pixel right swaps one column of the window, and the
 * median is tracked by walking from the previous one, so the cost per pixel is O(radius), not O(radius^2).
 */
export function medianPlane (plane: Uint8Array, width: number, height: number, r: number): Uint8Array {
  const p = pad(plane, width, height, r)
  const pw = width + 2 * r
  const side = 2 * r + 1
  const k = (side * side - 1) / 2 // rank of the median in the (odd-sized) window
  const hist = new Int32Array(256)
  const out = new Uint8Array(width * height)
  for (let y = 0; y < height; y++) {
    hist.fill(0)
    for (let dy = 0; dy < side; dy++) {
      const o = (y + dy) * pw
      for (let dx = 0; dx < side; dx++) hist[p[o + dx]]++
    }
    // Invariant: lt = number of window values below m, and lt <= k < lt + hist[m].
    let m = 0
    let lt = 0
    while (lt + hist[m] <= k) { lt += hist[m]; m++ }
    out[y * width] = m
    for (let x = 1; x < width; x++) {
      const gone = x - 1
      const come = x + 2 * r
      for (let dy = 0; dy < side; dy++) {
        const o = (y + dy) * pw
        const a = p[o + gone]
        hist[a]--
        if (a < m) lt--
        const b = p[o + come]
        hist[b]++
        if (b < m) lt++
      }
      while (lt > k) { m--; lt -= hist[m] }
      while (lt + hist[m] <= k) { lt += hist[m]; m++ }
      out[y * width + x] = m
    }
  }
  return out
}

/** Minimum (erode) or maximum (dilate) over a square window; separable, so two 1-D passes. */
export function extremumPlane (plane: Uint8Array, width: number, height: number, r: number, max: boolean): Uint8Array {
  const tmp = new Uint8Array(width * height)
  const row = new Uint8Array(width + 2 * r)
  for (let y = 0; y < height; y++) {
    const off = y * width
    padRow(row, plane, y, width, r)
    for (let x = 0; x < width; x++) {
      let v = row[x]
      for (let i = 1; i <= 2 * r; i++) {
        const u = row[x + i]
        if (max ? u > v : u < v) v = u
      }
      tmp[off + x] = v
    }
  }
  const out = new Uint8Array(width * height)
  for (let y = 0; y < height; y++) {
    const dst = y * width
    out.set(tmp.subarray(Math.max(0, y - r) * width, Math.max(0, y - r) * width + width), dst)
    for (let k = -r; k <= r; k++) {
      const src = Math.min(height - 1, Math.max(0, y + k)) * width
      for (let x = 0; x < width; x++) {
        const u = tmp[src + x]
        if (max ? u > out[dst + x] : u < out[dst + x]) out[dst + x] = u
      }
    }
  }
  return out
}

export const medianRef = (img: RawImage, r: number): RawImage =>
  mapColourPlanes(img, (pl, w, h) => medianPlane(pl, w, h, r))

export const extremumRef = (img: RawImage, r: number, max: boolean): RawImage =>
  mapColourPlanes(img, (pl, w, h) => extremumPlane(pl, w, h, r, max))
