// The wasm kernels of blur, sharpen and emboss against their scalar reference (test/ops/reference/
// gaussian.ts), byte for byte, on awkward sizes (SIMD blocks of 16 bytes, rows shorter than a block,
// single rows and columns) and every channel count.
import { describe, expect, it } from 'vitest'
import type { Channels, RawImage } from '../../src/ops/raw.ts'
import { blur, blurKernel, blurPlan, quantisedWeights, sharpen } from '../../src/ops/kernels/gaussian.ts'
import { emboss } from '../../src/ops/kernels/emboss.ts'
import { scope } from '../../src/ops/wasm/engine.ts'
import { toRaw, toResident } from '../../src/ops/wasm/resident.ts'
import { blurRef, blurSums, embossRef, sharpenRef } from './reference/gaussian.ts'
import { mapColourPlanes } from './reference/planes.ts'
import { firstDifference, photoLike, rng } from './helpers.ts'

const sizes: [number, number][] = [[1, 1], [1, 9], [9, 1], [5, 3], [17, 13], [23, 2], [40, 7], [33, 64]]
const channels: Channels[] = [1, 2, 3, 4]

function random (width: number, height: number, ch: Channels, seed: number): RawImage {
  const r = rng(seed)
  return { width, height, channels: ch, data: Uint8Array.from({ length: width * height * ch }, () => Math.floor(r() * 256)) }
}

function images (): [string, RawImage][] {
  const out: [string, RawImage][] = []
  for (const [w, h] of sizes) {
    for (const c of channels) {
      out.push([`photo ${w}x${h}x${c}`, photoLike(w, h, c, w * 31 + h)])
      out.push([`random ${w}x${h}x${c}`, random(w, h, c, w * 17 + h * 5 + c)])
    }
  }
  return out
}

describe('gaussian weights', () => {
  it('sum exactly to the total, are symmetric and never negative, for sigma 0.3..100', () => {
    for (const sigma of [0.3, 0.5, 1, 1.4, 2, 3.7, 4, 4.5, 10, 33.3, 100]) {
      const { w1, w2, shift1 } = blurPlan(sigma)
      for (const [w, total] of [[w1, 1 << (8 + shift1)], [w2, 1 << 15]] as const) {
        expect(w.reduce((s, v) => s + v, 0)).toBe(total)
        expect([...w].reverse()).toEqual([...w])
        expect(Math.min(...w)).toBeGreaterThanOrEqual(0)
        expect(Math.max(...w)).toBeLessThan(32768)
      }
    }
  })

  it('keep a gaussian shape at sigma 100 (15-bit first-pass weights; 8 bits would give a box)', () => {
    const { w1, shift1 } = blurPlan(100)
    expect(shift1).toBe(7)
    const r = (w1.length - 1) / 2
    for (let k = 1; k <= r; k++) expect(w1[r + k]).toBeLessThanOrEqual(w1[r + k - 1])
    expect(w1[r] / w1[r + 100]).toBeCloseTo(Math.exp(0.5), 1)
    const coarse = quantisedWeights(100, 256)
    expect(new Set(coarse.subarray(r - 100, r + 100))).toEqual(new Set([1, 2]))
  })
})

describe('blur, sharpen and emboss wasm kernels equal the scalar reference', () => {
  const all = images()
  it('blur, sigma 0.3..7.5 (both first-pass weight widths)', () => {
    for (const [name, img] of all) {
      for (const sigma of [0.3, 0.8, 2, 4, 4.2, 7.5]) {
        expect(firstDifference(blur.apply(img, { sigma }, undefined), blurRef(img, sigma)), `${name} sigma ${sigma}`).toBeUndefined()
      }
    }
  })

  it('blur with a radius larger than the image (sigma 25) and sigma 100 on a strip', () => {
    for (const [name, img] of all.filter(([, i]) => i.width * i.height <= 300)) {
      expect(firstDifference(blur.apply(img, { sigma: 25 }, undefined), blurRef(img, 25)), name).toBeUndefined()
    }
    const strip = photoLike(70, 3, 3, 9)
    expect(firstDifference(blur.apply(strip, { sigma: 100 }, undefined), blurRef(strip, 100))).toBeUndefined()
  })

  it('blurKernel on a resident one-channel image (what canny smooths with)', () => {
    const img = photoLike(45, 29, 1, 3)
    const out = scope(() => toRaw(blurKernel(toResident(img), 1.4)))
    expect(firstDifference(out, blurRef(img, 1.4))).toBeUndefined()
  })

  it('sharpen, sigma 0.3..6, amount 0..10', () => {
    for (const [name, img] of all) {
      for (const [sigma, amount] of [[0.3, 1], [1, 0], [1, 1], [2, 3], [4.5, 0.7], [6, 10]]) {
        expect(firstDifference(sharpen.apply(img, { sigma, amount }, undefined), sharpenRef(img, sigma, amount)), `${name} sigma ${sigma} amount ${amount}`).toBeUndefined()
      }
    }
  })

  it('emboss, strength 0..10', () => {
    for (const [name, img] of all) {
      for (const strength of [0, 0.25, 1, 2.7, 10]) {
        expect(firstDifference(emboss.apply(img, { strength }, undefined), embossRef(img, strength)), `${name} strength ${strength}`).toBeUndefined()
      }
    }
  })

  it('strength and amount 0 are the identity', () => {
    const img = photoLike(37, 11, 4, 2)
    expect(emboss.apply(img, { strength: 0 }, undefined).data).toEqual(img.data)
    expect(sharpen.apply(img, { sigma: 2, amount: 0 }, undefined).data).toEqual(img.data)
  })
})

describe('sharpen rounds once', () => {
  // Exact value + amount * (value - S / 2^22) in float64 from the same fixed-point blur sums.
  const exact = (img: RawImage, sigma: number, amount: number, round: (pl: Uint8Array, s: Int32Array, i: number) => number): RawImage =>
    mapColourPlanes(img, (pl, w, h) => {
      const s = blurSums(pl, w, h, sigma)
      return Uint8Array.from(pl, (_, i) => Math.min(255, Math.max(0, round(pl, s, i))))
    })

  it('matches the float64 result except within 1e-3 of a rounding boundary; rounding the blur first was 2+ levels off', () => {
    const img = photoLike(97, 61, 3, 11)
    const sigma = 1.5
    const amount = 6
    const got = sharpen.apply(img, { sigma, amount }, undefined)
    const f64 = (pl: Uint8Array, s: Int32Array, i: number): number => pl[i] + amount * (pl[i] - s[i] / 4194304)
    const want = exact(img, sigma, amount, (pl, s, i) => Math.round(f64(pl, s, i)))
    const near = exact(img, sigma, amount, (pl, s, i) => { const v = f64(pl, s, i) + 0.5; return Math.abs(v - Math.round(v)) < 1e-3 ? 1 : 0 })
    let unequal = 0
    for (let i = 0; i < got.data.length; i++) {
      if (got.data[i] !== want.data[i]) { unequal++; expect(near.data[i], `byte ${i}`).toBe(1) }
    }
    expect(unequal).toBeLessThan(got.data.length / 1000)
    // The old kernel: blur rounded to a byte, then value + amount * (value - blur).
    const old = exact(img, sigma, amount, (pl, s, i) => Math.round(pl[i] + amount * (pl[i] - ((s[i] + (1 << 21)) >>> 22))))
    let worst = 0
    for (let i = 0; i < old.data.length; i++) worst = Math.max(worst, Math.abs(old.data[i] - want.data[i]))
    expect(worst).toBeGreaterThanOrEqual(2)
  })
})
