// The wasm rank kernels (median, erode, dilate) against the scalar reference, byte for byte, on awkward
// sizes (narrower than one 16-byte vector, not multiples of 16), every channel count and a spread of radii
// that covers each algorithm switch (3x3 network, 5x5 network, histogram; direct and van Herk extrema).
import { describe, expect, it } from 'vitest'
import { dilate, erode, median } from '../../src/ops/kernels/rank.ts'
import type { Channels, RawImage } from '../../src/ops/raw.ts'
import { extremumRef, medianRef } from './reference/rank.ts'
import { firstDifference, photoLike, rng } from './helpers.ts'

function noise (width: number, height: number, channels: Channels, seed: number): RawImage {
  const r = rng(seed)
  const data = new Uint8Array(width * height * channels)
  for (let i = 0; i < data.length; i++) data[i] = Math.floor(r() * 256)
  return { width, height, channels, data }
}

/** Few distinct values, so windows are full of ties (where a selection network could go wrong). */
function levels (width: number, height: number, channels: Channels, seed: number): RawImage {
  const img = noise(width, height, channels, seed)
  for (let i = 0; i < img.data.length; i++) img.data[i] = [0, 7, 7, 200, 255][img.data[i] % 5]
  return img
}

const sizes: Array<[number, number]> = [[1, 1], [1, 9], [9, 1], [5, 3], [17, 13], [33, 64], [70, 21]]
const channelCounts: Channels[] = [1, 2, 3, 4]

function images (): Array<[string, RawImage]> {
  const out: Array<[string, RawImage]> = []
  let seed = 1
  for (const [w, h] of sizes) {
    for (const ch of channelCounts) {
      out.push([`photo ${w}x${h}x${ch}`, photoLike(w, h, ch, seed++)])
      out.push([`noise ${w}x${h}x${ch}`, noise(w, h, ch, seed++)])
      out.push([`levels ${w}x${h}x${ch}`, levels(w, h, ch, seed++)])
    }
  }
  return out
}

function expectSame (name: string, got: RawImage, want: RawImage): void {
  const diff = firstDifference(got, want)
  if (diff) throw new Error(`${name}: ${diff}`)
  expect(got.data.length).toBe(want.data.length)
}

describe('rank kernels in wasm equal the scalar reference', () => {
  const all = images()

  it('median, radius 1..6 and 25', () => {
    for (const r of [1, 2, 3, 4, 5, 6, 25]) {
      for (const [name, img] of all) expectSame(`${name} median r=${r}`, median.apply(img, { radius: r }, undefined), medianRef(img, r))
    }
  })

  it('erode and dilate, radius 1..5, 10, 17 and 50', () => {
    for (const r of [1, 2, 3, 4, 5, 10, 17, 50]) {
      for (const [name, img] of all) {
        expectSame(`${name} erode r=${r}`, erode.apply(img, { radius: r }, undefined), extremumRef(img, r, false))
        expectSame(`${name} dilate r=${r}`, dilate.apply(img, { radius: r }, undefined), extremumRef(img, r, true))
      }
    }
  })

  it('rows wider than one 1024-byte chunk of the 5x5 median, and edges of a wide image', () => {
    for (const [w, ch] of [[1400, 3], [1030, 4], [4100, 1], [2049, 2]] as Array<[number, Channels]>) {
      const img = photoLike(w, 6, ch, w)
      for (const r of [1, 2]) expectSame(`${w}x6x${ch} median r=${r}`, median.apply(img, { radius: r }, undefined), medianRef(img, r))
      expectSame(`${w}x6x${ch} erode r=4`, erode.apply(img, { radius: 4 }, undefined), extremumRef(img, 4, false))
    }
  })

  it('a larger photo at the radii the benchmarks use', () => {
    const img = photoLike(203, 117, 3, 99)
    for (const r of [1, 2, 3, 5]) expectSame(`median r=${r}`, median.apply(img, { radius: r }, undefined), medianRef(img, r))
    for (const r of [1, 3, 10]) {
      expectSame(`erode r=${r}`, erode.apply(img, { radius: r }, undefined), extremumRef(img, r, false))
      expectSame(`dilate r=${r}`, dilate.apply(img, { radius: r }, undefined), extremumRef(img, r, true))
    }
  })
})
