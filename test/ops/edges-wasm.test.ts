// The wasm gradient kernels (edge, canny, contours) against the scalar reference, byte for byte, on
// awkward sizes (narrower than one 16-byte vector, not multiples of 16), every channel count and a spread
// of parameters: scales, thresholds with fractions, no smoothing, long and short hysteresis reach, every
// line thickness parity.
import { describe, expect, it } from 'vitest'
import { canny, contours, edge } from '../../src/ops/kernels/edges.ts'
import type { RawImage } from '../../src/ops/raw.ts'
import { cannyRef, contoursRef, edgeRef } from './reference/edges.ts'
import { expectSameImage as expectSame, kernelImages, photoLike } from './helpers.ts'

const LEVELS = [0, 60, 60, 200, 255]
const images = (): Array<[string, RawImage]> => kernelImages(LEVELS)


const cannySets = [
  { low: 40, high: 100, sigma: 1.4, reach: 8 },
  { low: 20, high: 60, sigma: 0, reach: 8 },
  { low: 0, high: 0, sigma: 0.7, reach: 1 },
  { low: 10.5, high: 200.3, sigma: 2, reach: 3 },
  { low: 0, high: 30, sigma: 0, reach: 64 },
  { low: 5, high: 1500, sigma: 1, reach: 64 }
]

describe('gradient kernels in wasm equal the scalar reference', () => {
  const all = images()

  it('edge, scale 0.01 .. 10', () => {
    for (const scale of [0.01, 0.37, 1, 2.5, 10]) {
      for (const [name, img] of all) expectSame(`${name} edge scale=${scale}`, edge.apply(img, { scale }, undefined), edgeRef(img, scale))
    }
  })

  it('canny, with and without smoothing, thresholds and reach', () => {
    for (const p of cannySets) {
      for (const [name, img] of all) expectSame(`${name} canny ${JSON.stringify(p)}`, canny.apply(img, p, undefined), cannyRef(img, p))
    }
  })

  it('contours, thickness 1 .. 15', () => {
    const colours = ['#ff0000', '#00ff00', '#123456']
    for (const [k, thickness] of [1, 2, 3, 8, 15].entries()) {
      const p = { ...cannySets[k % cannySets.length], colour: colours[k % colours.length], thickness }
      for (const [name, img] of all) expectSame(`${name} contours ${JSON.stringify(p)}`, contours.apply(img, p, undefined), contoursRef(img, p))
    }
  })

  it('a larger photo at the default parameters', () => {
    const img = photoLike(203, 117, 3, 99)
    const p = cannySets[0]
    expectSame('edge', edge.apply(img, { scale: 1 }, undefined), edgeRef(img, 1))
    expectSame('canny', canny.apply(img, p, undefined), cannyRef(img, p))
    for (const thickness of [1, 3]) {
      expectSame(`contours ${thickness}`, contours.apply(img, { ...p, colour: '#ff0000', thickness }, undefined), contoursRef(img, { ...p, colour: '#ff0000', thickness }))
    }
    // the default photo has edges of both classes, so this compares real hysteresis, not two blanks
    const mask = canny.apply(img, p, undefined).data
    expect(mask.filter(v => v === 255).length).toBeGreaterThan(200)
  })
})
