// What each op computes, checked on small images with known answers or against naive reference code.
import { describe, expect, it } from 'vitest'
import { opNames } from '../../src/ops/catalogue.ts'
import { runWholeInProcess } from '../../src/ops/local.ts'
import { outputChannels, parsePipeline } from '../../src/ops/pipeline.ts'
import type { Channels, RawImage } from '../../src/ops/raw.ts'
import { otsuLevel } from '../../src/ops/kernels/histogram.ts'
import { photoLike, rng } from './helpers.ts'

const run = (img: RawImage, ...specs: string[]) => runWholeInProcess(img, parsePipeline(specs))

function image (width: number, height: number, channels: Channels, fn: (x: number, y: number, c: number) => number): RawImage {
  const data = new Uint8Array(width * height * channels)
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) for (let c = 0; c < channels; c++) data[(y * width + x) * channels + c] = fn(x, y, c)
  return { width, height, channels, data }
}

const px = (img: RawImage, x: number, y: number, c = 0) => img.data[(y * img.width + x) * img.channels + c]
const values = (img: RawImage) => new Set(img.data)
const variance = (d: Uint8Array) => {
  let s = 0; let s2 = 0
  for (const v of d) { s += v; s2 += v * v }
  return s2 / d.length - (s / d.length) ** 2
}

/** Naive rank filter with clamped coordinates: the reference for median / erode / dilate. */
function naiveRank (img: RawImage, r: number, pick: (sorted: number[]) => number): RawImage {
  return image(img.width, img.height, img.channels, (x, y, c) => {
    const w: number[] = []
    for (let dy = -r; dy <= r; dy++) {
      for (let dx = -r; dx <= r; dx++) {
        const xx = Math.min(img.width - 1, Math.max(0, x + dx))
        const yy = Math.min(img.height - 1, Math.max(0, y + dy))
        w.push(px(img, xx, yy, c))
      }
    }
    return pick(w.sort((a, b) => a - b))
  })
}

const noise = (w: number, h: number, ch: Channels, seed: number) => { const r = rng(seed); return image(w, h, ch, () => Math.floor(r() * 256)) }

describe('point ops', () => {
  it('grayscale: BT.601 integer luma, grey stays grey, alpha kept', () => {
    const img = image(3, 1, 4, (x, _y, c) => c === 3 ? 10 + x : [[255, 0, 0], [0, 255, 0], [90, 90, 90]][x][c])
    const out = run(img, 'grayscale')
    expect(out.channels).toBe(2)
    expect([...out.data]).toEqual([77, 10, 149, 11, 90, 12])
  })

  it('invert: 255 - v, and twice is the identity', () => {
    const img = photoLike(20, 10, 3)
    expect(px(run(img, 'invert'), 3, 4, 1)).toBe(255 - px(img, 3, 4, 1))
    expect(run(img, 'invert', 'invert').data).toEqual(img.data)
  })

  it('adjust: brightness adds and clamps, contrast 0 gives flat mid-grey', () => {
    const img = image(4, 1, 1, x => [0, 100, 250, 255][x])
    expect([...run(img, 'adjust:brightness=10').data]).toEqual([10, 110, 255, 255])
    expect([...run(img, 'adjust:contrast=0').data]).toEqual([128, 128, 128, 128])
    expect([...run(img, 'adjust:contrast=2').data]).toEqual([0, 72, 255, 255])
  })

  it('gamma: 1 is the identity, 2 lifts mid-tones', () => {
    const img = image(3, 1, 1, x => [0, 64, 255][x])
    expect([...run(img, 'gamma:gamma=1').data]).toEqual([0, 64, 255])
    expect([...run(img, 'gamma:gamma=2').data]).toEqual([0, 128, 255])
  })

  it('sepia: the classic matrix; grey input becomes RGB', () => {
    // Q14 coefficients: 192.45, 171.4 and 133.5 exactly; the tie 133.5 lands on 133 (0.2718 x 16384 rounds down).
    const out = run(image(1, 1, 3, (_x, _y, c) => [100, 150, 200][c]), 'sepia')
    expect([...out.data]).toEqual([192, 171, 133])
    const g = run(image(1, 1, 2, (_x, _y, c) => [100, 7][c]), 'sepia')
    expect(g.channels).toBe(4)
    expect([...g.data]).toEqual([135, 120, 94, 7])
  })
})

describe('histogram ops (global statistics)', () => {
  it('threshold: fixed level is luma >= level, output one channel of 0/255', () => {
    const img = image(4, 1, 3, x => [10, 127, 128, 200][x])
    const out = run(img, 'threshold:level=128')
    expect(out.channels).toBe(1)
    expect([...out.data]).toEqual([0, 0, 255, 255])
  })

  it('threshold: otsu splits a noisy bimodal image between its modes', () => {
    const r = rng(3)
    const img = image(64, 32, 1, x => x < 32 ? 60 + Math.floor(r() * 30) : 170 + Math.floor(r() * 30))
    const out = run(img, 'threshold:method=otsu')
    for (let y = 0; y < 32; y++) for (let x = 0; x < 64; x++) expect(px(out, x, y)).toBe(x < 32 ? 0 : 255)
    const hist = new Array(256).fill(0)
    hist[10] = 5; hist[200] = 5
    const t = otsuLevel(hist)
    expect(t).toBeGreaterThanOrEqual(10)
    expect(t).toBeLessThan(200)
  })

  it('normalise: the min..max range is stretched to 0..255', () => {
    const img = image(101, 1, 1, x => 50 + x)
    const out = run(img, 'normalise:lower=0,upper=100')
    expect(px(out, 0, 0)).toBe(0)
    expect(px(out, 100, 0)).toBe(255)
    expect(px(out, 50, 0)).toBe(128)
    for (let x = 1; x < 101; x++) expect(px(out, x, 0)).toBeGreaterThanOrEqual(px(out, x - 1, 0))
  })

  it('normalise: percentiles clip the tails', () => {
    const img = image(100, 1, 1, x => x === 0 ? 0 : x === 99 ? 255 : 100 + x % 20)
    const out = run(img, 'normalise:lower=2,upper=98')
    expect(px(out, 0, 0)).toBe(0)
    expect(px(out, 99, 0)).toBe(255)
    expect(Math.max(...[...out.data].slice(1, 99))).toBe(255)
  })

  it('equalise: output spans the full range and keeps the order of values', () => {
    const img = image(64, 4, 1, x => 100 + (x % 16))
    const out = run(img, 'equalise')
    expect(Math.min(...out.data)).toBe(0)
    expect(Math.max(...out.data)).toBe(255)
    for (let x = 1; x < 16; x++) expect(px(out, x, 0)).toBeGreaterThan(px(out, x - 1, 0))
  })

  it('a single-valued image passes normalise and equalise unchanged', () => {
    const img = image(5, 5, 3, () => 77)
    expect(run(img, 'normalise').data).toEqual(img.data)
    expect(run(img, 'equalise').data).toEqual(img.data)
  })
})

describe('neighbourhood ops', () => {
  it('blur: a flat image stays flat; an impulse spreads symmetrically; detail is smoothed', () => {
    expect(new Set(run(image(30, 20, 3, () => 90), 'blur:sigma=3').data)).toEqual(new Set([90]))
    const imp = run(image(21, 21, 1, (x, y) => x === 10 && y === 10 ? 255 : 0), 'blur:sigma=1.5')
    expect(px(imp, 10, 10)).toBeGreaterThan(px(imp, 11, 10))
    expect(px(imp, 9, 10)).toBe(px(imp, 11, 10))
    expect(px(imp, 10, 7)).toBe(px(imp, 7, 10))
    expect(px(imp, 0, 0)).toBe(0)
    const img = noise(40, 40, 1, 5)
    expect(variance(run(img, 'blur:sigma=2').data)).toBeLessThan(variance(img.data) / 10)
  })

  it('sharpen: amount 0 is the identity, a positive amount adds contrast', () => {
    const img = photoLike(40, 30, 3)
    expect(run(img, 'sharpen:amount=0').data).toEqual(img.data)
    expect(variance(run(img, 'sharpen:amount=2').data)).toBeGreaterThan(variance(img.data))
  })

  it('median equals a naive median and removes salt noise', () => {
    const img = noise(23, 17, 3, 9)
    for (const r of [1, 2, 4]) {
      expect(run(img, `median:radius=${r}`).data).toEqual(naiveRank(img, r, w => w[(w.length - 1) / 2]).data)
    }
    const salted = image(30, 30, 1, (x, y) => (x * 7 + y * 13) % 29 === 0 ? 255 : 100)
    expect(values(run(salted, 'median'))).toEqual(new Set([100]))
  })

  it('erode and dilate equal naive minimum / maximum filters', () => {
    const img = noise(19, 23, 4, 2)
    const alpha = (i: RawImage) => [...i.data].filter((_, k) => k % 4 === 3)
    for (const r of [1, 3]) {
      const e = run(img, `erode:radius=${r}`)
      const d = run(img, `dilate:radius=${r}`)
      const ne = naiveRank(img, r, w => w[0])
      const nd = naiveRank(img, r, w => w[w.length - 1])
      expect([...e.data].filter((_, k) => k % 4 !== 3)).toEqual([...ne.data].filter((_, k) => k % 4 !== 3))
      expect([...d.data].filter((_, k) => k % 4 !== 3)).toEqual([...nd.data].filter((_, k) => k % 4 !== 3))
      expect(alpha(e)).toEqual(alpha(img))
    }
  })

  it('edge: Sobel magnitude of a vertical step, zero in flat areas', () => {
    const img = image(10, 6, 1, x => x < 5 ? 20 : 50)
    const out = run(img, 'edge')
    expect(px(out, 4, 3)).toBe(120) // 4 * 30
    expect(px(out, 5, 3)).toBe(120)
    expect(px(out, 1, 3)).toBe(0)
    expect(px(out, 8, 3)).toBe(0)
    expect(px(run(img, 'edge:scale=3'), 4, 3)).toBe(255)
  })

  it('emboss: strength 0 is the identity, flat areas are unchanged, edges are lit', () => {
    const img = image(10, 10, 3, x => x < 5 ? 40 : 160)
    expect(run(img, 'emboss:strength=0').data).toEqual(img.data)
    const out = run(img, 'emboss')
    expect(px(out, 1, 5)).toBe(40)
    expect(px(out, 8, 5)).toBe(160)
    expect(px(out, 4, 5)).toBe(255) // 40 + 4 * 120, clamped
    expect(px(out, 5, 5)).toBe(255)
  })
})

describe('canny and contours', () => {
  const square = image(60, 60, 1, (x, y) => x >= 20 && x < 40 && y >= 20 && y < 40 ? 200 : 30)

  it('canny finds the outline of a square and nothing else', () => {
    const out = run(square, 'canny')
    expect(values(out)).toEqual(new Set([0, 255]))
    let n = 0
    for (let y = 0; y < 60; y++) {
      for (let x = 0; x < 60; x++) {
        if (!px(out, x, y)) continue
        n++
        const d = Math.max(Math.abs(x - 29.5), Math.abs(y - 29.5))
        expect(d).toBeGreaterThan(7)
        expect(d).toBeLessThan(12)
      }
    }
    expect(n).toBeGreaterThan(60)
    expect(n).toBeLessThan(100)
  })

  it('hysteresis is bounded: a weak edge is kept only within `reach` steps of a strong one', () => {
    // A vertical edge whose contrast fades slowly downwards (no smoothing, so gradients are exact):
    // strong at the top, weak below, one connected chain in column 5.
    const w = 12
    const h = 70
    const img = image(w, h, 1, (x, y) => x >= 6 ? 100 : y < 10 ? 10 : y < 34 ? 10 + 3 * (y - 10) : 82)
    const rows = (spec: string) => {
      const out = run(img, spec)
      const r: number[] = []
      for (let y = 0; y < h; y++) if (out.data.subarray(y * w, (y + 1) * w).some(v => v > 0)) r.push(y)
      return r
    }
    const strong = rows('canny:sigma=0,low=300,high=300')
    const lastStrong = Math.max(...strong)
    expect(strong).toEqual(Array.from({ length: lastStrong + 1 }, (_, i) => i))
    expect(lastStrong).toBeGreaterThan(5)
    expect(lastStrong).toBeLessThan(30)
    for (const reach of [1, 5, 9]) {
      expect(rows(`canny:sigma=0,low=60,high=300,reach=${reach}`)).toEqual(Array.from({ length: lastStrong + reach + 1 }, (_, i) => i))
    }
    expect(rows('canny:sigma=0,low=60,high=300,reach=64')).toEqual(Array.from({ length: h }, (_, i) => i))
  })

  it('contours: edge pixels get the colour, the rest is the image; grey input becomes RGB', () => {
    const out = run(square, 'contours:colour=#00ff00')
    const edges = run(square, 'canny')
    expect(out.channels).toBe(3)
    for (let i = 0; i < 3600; i++) {
      const rgb = [out.data[3 * i], out.data[3 * i + 1], out.data[3 * i + 2]]
      expect(rgb).toEqual(edges.data[i] ? [0, 255, 0] : [square.data[i], square.data[i], square.data[i]])
    }
    const thick = run(square, 'contours:thickness=3')
    const count = (img: RawImage) => { let n = 0; for (let i = 0; i < 3600; i++) if (img.data[3 * i] === 255 && img.data[3 * i + 1] === 0) n++; return n }
    expect(count(thick)).toBeGreaterThan(2 * count(run(square, 'contours')))
  })
})

describe('channel rules', () => {
  for (const name of opNames) {
    it(`${name}: output channels as declared, alpha passed through unchanged`, () => {
      for (const ch of [1, 2, 3, 4] as const) {
        const img = photoLike(17, 13, ch, ch)
        const p = parsePipeline([name])
        const out = runWholeInProcess(img, p)
        expect(out.channels).toBe(outputChannels(p, ch))
        expect(out.data.length).toBe(17 * 13 * out.channels)
        expect(out.channels === 2 || out.channels === 4).toBe(ch === 2 || ch === 4)
        if (ch === 2 || ch === 4) {
          for (let i = 0; i < 17 * 13; i++) expect(out.data[i * out.channels + out.channels - 1]).toBe(img.data[i * ch + ch - 1])
        }
      }
    })
  }

  it('kernels do not modify their input', () => {
    const img = photoLike(31, 29, 4)
    const before = new Uint8Array(img.data)
    for (const name of opNames) run(img, name)
    expect(img.data).toEqual(before)
  })
})
