// The wasm rank kernels (median, erode, dilate) against the scalar reference, byte for byte, on awkward
// sizes (narrower than one 16-byte vector, not multiples of 16), every channel count and a spread of radii
// that covers each algorithm switch (3x3 network, 5x5 network, histogram; direct and van Herk extrema).
import { describe, it } from 'vitest'
import { dilate, erode, median } from '../../src/ops/kernels/rank.ts'
import type { Channels, RawImage } from '../../src/ops/raw.ts'
import { extremumRef, medianRef } from './reference/rank.ts'
import { expectSameImage as expectSame, kernelImages, photoLike } from './helpers.ts'

const LEVELS = [0, 7, 7, 200, 255]
const images = (): Array<[string, RawImage]> => kernelImages(LEVELS)


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
