// Scalar reference of the gaussian family (blur, sharpen) and emboss: the arithmetic the wasm kernels
// (src/ops/wasm/as/gaussian.ts) must reproduce byte for byte, written plainly, one colour plane at a time.
import type { RawImage } from '../../../src/ops/raw.ts'
import { blurPlan } from '../../../src/ops/kernels/gaussian.ts'
import { mapColourPlanes } from './planes.ts'

const clampIndex = (i: number, n: number): number => i < 0 ? 0 : i >= n ? n - 1 : i

/**
 * The exact fixed-point sums of the blur of one plane: S = sum_k w2[k] * h[x + k], where h is the
 * vertical pass rounded to 7 fraction bits, h = (sum_k w1[k] * p[y + k] + 2^shift1) >> (shift1 + 1)
 * (0..32640). The blurred byte is (S + 2^21) >> 22; sharpen uses S itself.
 */
export function blurSums (plane: Uint8Array, width: number, height: number, sigma: number): Int32Array {
  const { r, w1, w2, shift1 } = blurPlan(sigma)
  const h = new Int32Array(width * height)
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let acc = 0
      for (let k = -r; k <= r; k++) acc += w1[k + r] * plane[clampIndex(y + k, height) * width + x]
      h[y * width + x] = (acc + (1 << shift1)) >> (shift1 + 1)
    }
  }
  const s = new Int32Array(width * height)
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let acc = 0
      for (let k = -r; k <= r; k++) acc += w2[k + r] * h[y * width + clampIndex(x + k, width)]
      s[y * width + x] = acc
    }
  }
  return s
}

export function blurPlaneRef (plane: Uint8Array, width: number, height: number, sigma: number): Uint8Array {
  const s = blurSums(plane, width, height, sigma)
  return Uint8Array.from(s, v => (v + (1 << 21)) >>> 22)
}

export const blurRef = (img: RawImage, sigma: number): RawImage =>
  mapColourPlanes(img, (pl, w, h) => blurPlaneRef(pl, w, h, sigma))

/** f32 round-half-up as the kernels do it: trunc(f32(f32(v + 0.5) + t)), clamped to 0..255. */
function roundF32 (vPlusHalf: number, t: number): number {
  const y = Math.trunc(Math.fround(vPlusHalf + t))
  return y < 0 ? 0 : y > 255 ? 255 : y
}

/**
 * Sharpen: value + amount * (value - blur) with blur = S / 2^22 unrounded. In f32, in this order:
 * D = v * 2^22 - S (an exact integer), t = f32(f32(amount * 2^-22) * f32(D)), out = trunc(f32(v + 0.5 + t)).
 */
export function sharpenRef (img: RawImage, sigma: number, amount: number): RawImage {
  const a = Math.fround(amount / 4194304)
  return mapColourPlanes(img, (pl, w, h) => {
    const s = blurSums(pl, w, h, sigma)
    const out = new Uint8Array(pl.length)
    for (let i = 0; i < pl.length; i++) {
      const d = Math.fround(pl[i] * 4194304 - s[i])
      out[i] = roundF32(pl[i] + 0.5, Math.fround(a * d))
    }
    return out
  })
}

/**
 * Emboss: centre + strength * d, d = -2 nw - n - w + e + s + 2 se (edges replicated), in f32:
 * out = trunc(f32(f32(c + 0.5) + f32(f32(strength) * d))), clamped (round half up, up to f32 rounding).
 */
export function embossRef (img: RawImage, strength: number): RawImage {
  const st = Math.fround(strength)
  return mapColourPlanes(img, (pl, width, height) => {
    const at = (x: number, y: number): number => pl[clampIndex(y, height) * width + clampIndex(x, width)]
    const out = new Uint8Array(width * height)
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const d = -2 * at(x - 1, y - 1) - at(x, y - 1) - at(x - 1, y) + at(x + 1, y) + at(x, y + 1) + 2 * at(x + 1, y + 1)
        out[y * width + x] = roundF32(at(x, y) + 0.5, Math.fround(st * d))
      }
    }
    return out
  })
}
