// Ops driven by the luma histogram. Otsu threshold, normalise and equalise need it over the WHOLE image,
// so they declare a global-statistics part: each tile measures the histogram of its core, the master
// sums them, and the apply step maps pixels through a lookup table built from the merged histogram.
// Statistics format (JSON): { "hist": [256 non-negative integers] } -- counts of luma values 0..255.
import * as z from 'zod'
import { defineOp, sameChannels } from '../op.ts'
import type { GlobalStats } from '../op.ts'
import { integer, number, oneOf } from '../params.ts'
import type { RawImage, Rect } from '../raw.ts'
import { withAlphaOf } from '../raw.ts'
import { InvalidParameterError, InvalidTileError } from '../errors.ts'
import { lumaHistogramKernel, lutKernel, thresholdKernel } from './point.ts'

export interface LumaHistogram { hist: number[] }

export function lumaHistogram (img: RawImage, core: Rect): LumaHistogram {
  return { hist: lumaHistogramKernel(img, core) }
}

const histogramStats: GlobalStats<LumaHistogram> = {
  schema: z.object({ hist: z.array(z.number().int().nonnegative()).length(256) }),
  measure: lumaHistogram,
  merge: list => {
    const hist = new Array<number>(256).fill(0)
    for (const s of list) for (let v = 0; v < 256; v++) hist[v] += s.hist[v]
    return { hist }
  }
}

function histOf (stats: unknown, op: string): number[] {
  const h = (stats as LumaHistogram | undefined)?.hist
  if (!Array.isArray(h) || h.length !== 256) throw new InvalidTileError(`${op}: the merged histogram is missing`)
  return h
}

/** Otsu's threshold: the level that maximises the between-class variance. Pixels > it are foreground. */
export function otsuLevel (hist: readonly number[]): number {
  let total = 0
  let sum = 0
  for (let v = 0; v < 256; v++) { total += hist[v]; sum += v * hist[v] }
  let wB = 0
  let sumB = 0
  let best = -1
  let level = 255 // a single-valued image has nothing to separate: everything stays background
  for (let v = 0; v < 256; v++) {
    wB += hist[v]
    sumB += v * hist[v]
    if (wB === 0) continue
    const wF = total - wB
    if (wF === 0) break
    const d = sumB / wB - (sum - sumB) / wF
    const between = wB * wF * d * d
    if (between > best) { best = between; level = v }
  }
  return level
}

export const threshold = defineOp({
  name: 'threshold',
  description: 'Binary image from the luma: 255 where luma >= level, else 0; method=otsu picks the level from the whole image. One channel (+ alpha)',
  params: {
    method: oneOf(['fixed', 'otsu'], { default: 'fixed', description: 'fixed uses level; otsu computes it from the whole-image histogram' }),
    level: integer({ min: 0, max: 255, default: 128, description: 'luma threshold for method=fixed' })
  },
  halo: () => 0,
  channels: c => withAlphaOf(1, c),
  global: p => p.method === 'otsu' ? histogramStats as GlobalStats : undefined,
  kernel: (img, p, stats) => thresholdKernel(img, p.method === 'otsu' ? otsuLevel(histOf(stats, 'threshold')) + 1 : p.level)
})

/** Smallest value whose cumulative count exceeds `fraction` of the total (fraction 0 -> the minimum). */
function lowerPercentile (hist: readonly number[], total: number, fraction: number): number {
  let cum = 0
  for (let v = 0; v < 256; v++) { cum += hist[v]; if (cum > total * fraction) return v }
  return 255
}

/** Smallest value whose cumulative count reaches `fraction` of the total (fraction 1 -> the maximum). */
function upperPercentile (hist: readonly number[], total: number, fraction: number): number {
  let cum = 0
  for (let v = 0; v < 256; v++) { cum += hist[v]; if (cum > 0 && cum >= total * fraction) return v }
  return 255
}

export const normalise = defineOp({
  name: 'normalise',
  description: 'Contrast stretch: the luma percentiles lower..upper of the whole image are mapped to 0..255 (same mapping on every colour channel)',
  params: {
    lower: number({ min: 0, max: 100, default: 1, description: 'percentile mapped to black (0 = the minimum)' }),
    upper: number({ min: 0, max: 100, default: 99, description: 'percentile mapped to white (100 = the maximum)' })
  },
  halo: () => 0,
  channels: sameChannels,
  global: () => histogramStats as GlobalStats,
  check: p => {
    if (p.lower >= p.upper) throw new InvalidParameterError('normalise', 'lower', p.lower, `a number below upper (${p.upper})`)
  },
  kernel: (img, p, stats) => {
    const hist = histOf(stats, 'normalise')
    let total = 0
    for (const c of hist) total += c
    const lo = lowerPercentile(hist, total, p.lower / 100)
    const hi = upperPercentile(hist, total, p.upper / 100)
    if (hi <= lo) return lutKernel(img, identity())
    const t = new Uint8Array(256)
    for (let v = 0; v < 256; v++) t[v] = v <= lo ? 0 : v >= hi ? 255 : Math.round((v - lo) * 255 / (hi - lo))
    return lutKernel(img, t)
  }
})

export const equalise = defineOp({
  name: 'equalise',
  description: 'Histogram equalisation of the whole-image luma; the same mapping is applied to every colour channel',
  params: {},
  halo: () => 0,
  channels: sameChannels,
  global: () => histogramStats as GlobalStats,
  kernel: (img, _p, stats) => {
    const hist = histOf(stats, 'equalise')
    const cdf = new Array<number>(256)
    let cum = 0
    for (let v = 0; v < 256; v++) { cum += hist[v]; cdf[v] = cum }
    const total = cum
    const min = cdf.find(c => c > 0) ?? 0
    if (total === min) return lutKernel(img, identity())
    const t = new Uint8Array(256)
    for (let v = 0; v < 256; v++) t[v] = Math.max(0, Math.round((cdf[v] - min) * 255 / (total - min)))
    return lutKernel(img, t)
  }
})

function identity (): Uint8Array {
  const t = new Uint8Array(256)
  for (let v = 0; v < 256; v++) t[v] = v
  return t
}
