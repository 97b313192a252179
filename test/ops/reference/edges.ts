// Scalar reference for edge, canny and contours: the JavaScript implementation the wasm kernels in
// src/ops/wasm/as/edges.ts replaced, kept readable. The wasm output must equal it byte for byte.
import type { RawImage } from '../../../src/ops/raw.ts'
import { colourChannels, withAlphaOf } from '../../../src/ops/raw.ts'
import { colourRgb } from '../../../src/ops/params.ts'
import type { CannyParams } from '../../../src/ops/kernels/edges.ts'
import { alphaOf, join, luma, pad } from './planes.ts'
import { blurPlaneRef } from './gaussian.ts'

interface Gradient { gx: Int16Array; gy: Int16Array }

function sobel (plane: Uint8Array, width: number, height: number): Gradient {
  const p = pad(plane, width, height, 1)
  const pw = width + 2
  const gx = new Int16Array(width * height)
  const gy = new Int16Array(width * height)
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const c = (y + 1) * pw + x + 1
      const nw = p[c - pw - 1]; const n = p[c - pw]; const ne = p[c - pw + 1]
      const w = p[c - 1]; const e = p[c + 1]
      const sw = p[c + pw - 1]; const s = p[c + pw]; const se = p[c + pw + 1]
      const i = y * width + x
      gx[i] = (ne + 2 * e + se) - (nw + 2 * w + sw)
      gy[i] = (sw + 2 * s + se) - (nw + 2 * n + ne)
    }
  }
  return { gx, gy }
}

/**
 * Edge byte of a squared magnitude, in f32 one correctly rounded step at a time:
 * min(255, trunc(f32(f32(f32(scale) * f32(sqrt(m2))) + 0.5))). (sqrt, * and + computed in doubles and
 * then rounded to f32 give the f32 results: doubles carry more than twice the f32 precision.)
 */
export function edgeByte (m2: number, scale: number): number {
  const s = Math.fround(Math.fround(Math.fround(scale) * Math.fround(Math.sqrt(m2))) + 0.5)
  return Math.min(255, Math.trunc(s))
}

export function edgeRef (img: RawImage, scale: number): RawImage {
  const { gx, gy } = sobel(luma(img), img.width, img.height)
  const out = new Uint8Array(gx.length)
  for (let i = 0; i < out.length; i++) out[i] = edgeByte(gx[i] * gx[i] + gy[i] * gy[i], scale)
  return join(img.width, img.height, [out], alphaOf(img))
}

/** Canny edge mask (1 = edge) of one plane; bounded hysteresis as src/ops/README.md describes. */
export function cannyMask (plane: Uint8Array, width: number, height: number, p: CannyParams): Uint8Array {
  const src = p.sigma > 0 ? blurPlaneRef(plane, width, height, p.sigma) : plane
  const { gx, gy } = sobel(src, width, height)
  const n = width * height
  const mag = new Int32Array(n) // squared magnitude: integer, so comparisons are exact
  for (let i = 0; i < n; i++) mag[i] = gx[i] * gx[i] + gy[i] * gy[i]
  const m = pad(mag, width, height, 1)
  const pw = width + 2
  const low2 = p.low * p.low
  const high2 = p.high * p.high
  // 0 = none, 1 = weak, 2 = strong, after non-maximum suppression along the gradient direction
  // (quantised to 4 directions with integer tangent tests: tan 22.5 = 0.41421, tan 67.5 = 2.41421).
  const cls = new Uint8Array(n)
  const strong: number[] = []
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x
      const v = mag[i]
      if (v < low2 || v === 0) continue
      const ax = Math.abs(gx[i])
      const ay = Math.abs(gy[i])
      const c = (y + 1) * pw + x + 1
      let a: number
      let b: number
      if (ay * 100000 <= ax * 41421) { a = m[c - 1]; b = m[c + 1] } else if (ay * 100000 >= ax * 241421) {
        a = m[c - pw]; b = m[c + pw]
      } else if ((gx[i] > 0) === (gy[i] > 0)) { a = m[c - pw - 1]; b = m[c + pw + 1] } else {
        a = m[c - pw + 1]; b = m[c + pw - 1]
      }
      if (!(v > a && v >= b)) continue
      if (v >= high2) { cls[i] = 2; strong.push(i) } else cls[i] = 1
    }
  }
  const out = new Uint8Array(n)
  let frontier = strong
  for (const i of frontier) out[i] = 1
  for (let step = 0; step < p.reach && frontier.length > 0; step++) {
    const next: number[] = []
    for (const i of frontier) {
      const x = i % width
      const y = (i - x) / width
      for (let dy = -1; dy <= 1; dy++) {
        const yy = y + dy
        if (yy < 0 || yy >= height) continue
        for (let dx = -1; dx <= 1; dx++) {
          const xx = x + dx
          if (xx < 0 || xx >= width) continue
          const j = yy * width + xx
          if (cls[j] === 1 && out[j] === 0) { out[j] = 1; next.push(j) }
        }
      }
    }
    frontier = next
  }
  return out
}

export function cannyRef (img: RawImage, p: CannyParams): RawImage {
  const mask = cannyMask(luma(img), img.width, img.height, p)
  for (let i = 0; i < mask.length; i++) mask[i] *= 255
  return join(img.width, img.height, [mask], alphaOf(img))
}

export function contoursRef (img: RawImage, p: CannyParams & { colour: string, thickness: number }): RawImage {
  const mask = cannyMask(luma(img), img.width, img.height, p)
  return drawMask(img, thicken(mask, img.width, img.height, Math.floor(p.thickness / 2)), colourRgb(p.colour))
}

function thicken (mask: Uint8Array, width: number, height: number, r: number): Uint8Array {
  if (r === 0) return mask
  const p = pad(mask, width, height, r)
  const pw = width + 2 * r
  const out = new Uint8Array(width * height)
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let hit = 0
      for (let dy = 0; dy <= 2 * r && !hit; dy++) {
        const o = (y + dy) * pw + x
        for (let dx = 0; dx <= 2 * r; dx++) if (p[o + dx]) { hit = 1; break }
      }
      out[y * width + x] = hit
    }
  }
  return out
}

function drawMask (img: RawImage, mask: Uint8Array, rgb: [number, number, number]): RawImage {
  const { width, height, channels, data } = img
  const grey = colourChannels(channels) === 1
  const outCh = withAlphaOf(3, channels)
  const out = new Uint8Array(width * height * outCh)
  for (let i = 0, j = 0, k = 0; i < mask.length; i++, j += channels, k += outCh) {
    if (mask[i]) {
      out[k] = rgb[0]; out[k + 1] = rgb[1]; out[k + 2] = rgb[2]
    } else if (grey) {
      out[k] = out[k + 1] = out[k + 2] = data[j]
    } else {
      out[k] = data[j]; out[k + 1] = data[j + 1]; out[k + 2] = data[j + 2]
    }
    if (outCh === 4) out[k + 3] = data[j + channels - 1]
  }
  return { width, height, channels: outCh, data: out }
}
