// The central guarantee of the ops layer: the tiled algorithm (what the swarm does) produces exactly the
// bytes of the whole-image run (what `swarm run` does), for every op and for mixed pipelines.
import { describe, expect, it } from 'vitest'
import { opNames } from '../../src/ops/catalogue.ts'
import { runTiledInProcess, runWholeInProcess } from '../../src/ops/local.ts'
import { parsePipeline, pipelineHalo } from '../../src/ops/pipeline.ts'
import { runTile } from '../../src/ops/run-tile.ts'
import { coreInTile, placeTile, planTiles, sliceTile } from '../../src/ops/tiling.ts'
import { createRaw } from '../../src/ops/raw.ts'
import type { RawImage } from '../../src/ops/raw.ts'
import { firstDifference, photoLike } from './helpers.ts'

function expectSame (a: RawImage, b: RawImage): void {
  expect(firstDifference(a, b)).toBeUndefined()
}

// Each op with its defaults, plus variants whose parameters change the halo or the code path.
const variants: string[][] = [
  ...opNames.map(n => [n]),
  ['blur:sigma=0.3'], ['blur:sigma=5.5'], ['sharpen:sigma=2,amount=3'], ['median:radius=4'],
  ['erode:radius=3'], ['dilate:radius=2'], ['threshold:level=90'], ['threshold:method=otsu'],
  ['normalise:lower=0,upper=100'], ['normalise:lower=10,upper=60'], ['adjust:brightness=-40,contrast=1.7'],
  ['gamma:gamma=0.5'], ['edge:scale=0.5'], ['emboss:strength=3'],
  ['canny:sigma=0,low=20,high=60'], ['canny:low=10,high=200,reach=3'],
  ['contours:colour=#00ff00,thickness=4'], ['contours:sigma=2,low=30,high=80,reach=16']
]

const pipelines: string[][] = [
  ['grayscale', 'blur:sigma=2', 'threshold:method=otsu', 'dilate'],
  ['blur:sigma=1', 'equalise', 'median:radius=2', 'normalise', 'sharpen'],
  ['normalise:lower=5,upper=95', 'canny:low=30,high=90', 'dilate:radius=2', 'threshold:method=otsu'],
  ['sepia', 'emboss', 'equalise', 'contours:thickness=3'],
  ['invert', 'gamma:gamma=1.8', 'erode:radius=2', 'edge', 'threshold:method=otsu', 'blur:sigma=1.5']
]

describe('tiled run equals the whole-image run', () => {
  const rgb = photoLike(257, 131, 3, 7)
  for (const specs of variants) {
    it(`${specs.join(' ')} on 257x131 RGB, tiles of 16, 37 and 100`, () => {
      const p = parsePipeline(specs)
      const whole = runWholeInProcess(rgb, p)
      for (const size of [16, 37, 100]) expectSame(runTiledInProcess(rgb, p, size), whole)
    })
  }

  // Grey and alpha inputs take other code paths (channel rules, luma of a grey image, alpha copy).
  const grey = photoLike(73, 41, 1, 3)
  const greyAlpha = photoLike(73, 41, 2, 4)
  const rgba = photoLike(73, 41, 4, 5)
  for (const name of opNames) {
    it(`${name} on 73x41 grey, grey+alpha and RGBA, tiles of 16 and 29`, () => {
      const p = parsePipeline([name])
      for (const img of [grey, greyAlpha, rgba]) {
        const whole = runWholeInProcess(img, p)
        for (const size of [16, 29]) expectSame(runTiledInProcess(img, p, size), whole)
      }
    })
  }

  it('every op and a global pipeline on a 1x1 image', () => {
    const one = photoLike(1, 1, 3, 9)
    for (const specs of [...opNames.map(n => [n]), pipelines[0], pipelines[1]]) {
      const p = parsePipeline(specs)
      const whole = runWholeInProcess(one, p)
      expect(whole.width * whole.height).toBe(1)
      expectSame(runTiledInProcess(one, p, 16), whole)
    }
  })

  it('thin images: 1 pixel wide and 1 pixel high', () => {
    for (const img of [photoLike(1, 97, 3, 2), photoLike(97, 1, 4, 2)]) {
      for (const specs of [['median:radius=3'], ['canny:low=5,high=20'], pipelines[0]]) {
        const p = parsePipeline(specs)
        expectSame(runTiledInProcess(img, p, 16), runWholeInProcess(img, p))
      }
    }
  })

  for (const specs of pipelines) {
    it(`pipeline ${specs.join(' ')} on 257x131 RGBA, tiles of 16, 50 and 128`, () => {
      const img = photoLike(257, 131, 4, 11)
      const p = parsePipeline(specs)
      const whole = runWholeInProcess(img, p)
      for (const size of [16, 50, 128]) expectSame(runTiledInProcess(img, p, size), whole)
    })
  }

  describe('1001x997', () => {
    const big = photoLike(1001, 997, 3, 21)
    const cases: Array<[string[], number[]]> = [
      [pipelines[0], [256, 333]],
      [['blur:sigma=3', 'canny:low=30,high=90', 'contours'], [200]],
      [['equalise', 'median:radius=2', 'normalise:lower=2,upper=98', 'sharpen'], [256]]
    ]
    for (const [specs, sizes] of cases) {
      it(`${specs.join(' ')}, tiles of ${sizes.join(' and ')}`, () => {
        const p = parsePipeline(specs)
        const whole = runWholeInProcess(big, p)
        for (const size of sizes) expectSame(runTiledInProcess(big, p, size), whole)
      })
    }
  })

  // A control: the comparison above can fail. Without the halo, interior tile borders come out wrong.
  it('without the halo, a tiled blur differs from the whole-image blur', () => {
    const p = parsePipeline(['blur:sigma=2'])
    expect(pipelineHalo(p)).toBe(6)
    const whole = runWholeInProcess(rgb, p)
    const out = createRaw(rgb.width, rgb.height, 3)
    for (const t of planTiles(rgb.width, rgb.height, 32, 0)) {
      const r = runTile(sliceTile(rgb, t), p, { phase: 0, stats: [], core: coreInTile(t) })
      if ('image' in r) placeTile(out, t, r.image)
    }
    expect(firstDifference(out, whole)).toBeDefined()
  })
})
