// Parsing and validating pipelines, and the phase protocol of runTile / mergeStats.
import { describe, expect, it } from 'vitest'
import {
  InvalidParameterError, InvalidPipelineError, InvalidTileError, UnknownOpError, fromErrorData, toErrorData
} from '../../src/ops/errors.ts'
import {
  MAX_OPS, formatPipeline, globalOps, outputChannels, parseOpSpec, parsePipeline, phaseCount, pipelineHalo, validatePipeline
} from '../../src/ops/pipeline.ts'
import { describeOps, opNames } from '../../src/ops/catalogue.ts'
import { mergeStats, runTile } from '../../src/ops/run-tile.ts'
import { photoLike } from './helpers.ts'

function thrown (fn: () => unknown): Error {
  try { fn() } catch (e) { return e as Error }
  throw new Error('expected an error')
}

describe('parseOpSpec / parsePipeline', () => {
  it('parses names, key=value lists and fills every default', () => {
    expect(parseOpSpec('grayscale')).toEqual({ name: 'grayscale', params: {} })
    expect(parseOpSpec('blur:sigma=2.5')).toEqual({ name: 'blur', params: { sigma: 2.5 } })
    expect(parseOpSpec(' canny : low=40 , high=100 ')).toEqual({ name: 'canny', params: { low: 40, high: 100, sigma: 1.4, reach: 8 } })
    expect(parseOpSpec('threshold:method=otsu').params).toEqual({ method: 'otsu', level: 128 })
    expect(parseOpSpec('contours:colour=0F0').params.colour).toBe('#00ff00')
    expect(parseOpSpec('contours:colour=Blue').params.colour).toBe('#0000ff')
    expect(parseOpSpec('median:3')).toEqual({ name: 'median', params: { radius: 3 } })
    expect(parseOpSpec('blur:1e0').params.sigma).toBe(1)
  })

  it('builds a pipeline, in order', () => {
    const p = parsePipeline(['grayscale', 'blur:sigma=2', 'canny:low=40,high=100'])
    expect(p.ops.map(o => o.name)).toEqual(['grayscale', 'blur', 'canny'])
    expect(formatPipeline(p)).toBe('grayscale blur:sigma=2 canny:low=40,high=100,sigma=1.4,reach=8')
    expect(parsePipeline(formatPipeline(p).split(' '))).toEqual(p)
  })

  it('names the op, the parameter, the value and the accepted range', () => {
    const e = thrown(() => parseOpSpec('blur:sigma=-1'))
    expect(e).toBeInstanceOf(InvalidParameterError)
    expect(e.name).toBe('InvalidParameterError')
    expect(e.message).toBe('blur: parameter "sigma" is -1, expected a number between 0.3 and 100')
    expect(thrown(() => parseOpSpec('blur:sigma=abc')).message).toBe('blur: parameter "sigma" is "abc", expected a number between 0.3 and 100')
    expect(thrown(() => parseOpSpec('median:radius=2.5')).message).toBe('median: parameter "radius" is 2.5, expected an integer between 1 and 25')
    expect(thrown(() => parseOpSpec('threshold:method=mean')).message).toBe('threshold: parameter "method" is "mean", expected one of "fixed", "otsu"')
    expect(thrown(() => parseOpSpec('contours:colour=purplish')).message).toMatch(/^contours: parameter "colour" is "purplish", expected a colour/)
    const unknown = thrown(() => parseOpSpec('blur:sigmaa=2'))
    expect(unknown).toBeInstanceOf(InvalidParameterError)
    expect(unknown.message).toBe('blur: unknown parameter "sigmaa" (did you mean "sigma"?); blur takes sigma')
    expect(thrown(() => parseOpSpec('grayscale:x=1')).message).toBe('grayscale: unknown parameter "x"; grayscale takes no parameters')
    expect(thrown(() => parseOpSpec('blur:sigma=1,sigma=2')).message).toBe('blur: parameter "sigma" is given twice')
    const cross = thrown(() => parseOpSpec('canny:low=120,high=100'))
    expect(cross).toBeInstanceOf(InvalidParameterError)
    expect((cross as InvalidParameterError).param).toBe('low')
    expect(thrown(() => parseOpSpec('normalise:lower=60,upper=40')).message).toMatch(/normalise: parameter "lower" is 60/)
  })

  it('refuses unknown ops and malformed specs', () => {
    const e = thrown(() => parseOpSpec('blurr:sigma=2'))
    expect(e).toBeInstanceOf(UnknownOpError)
    expect(e.name).toBe('UnknownOpError')
    expect(e.message).toMatch(/^unknown op "blurr"; did you mean "blur"\?/)
    expect(thrown(() => parseOpSpec('frobnicate')).message).not.toMatch(/did you mean/)
    expect(thrown(() => parseOpSpec(''))).toBeInstanceOf(InvalidPipelineError)
    expect(thrown(() => parseOpSpec('blur:'))).toBeInstanceOf(InvalidPipelineError)
    expect(thrown(() => parseOpSpec('canny:40')).message).toMatch(/"40" is not key=value \(canny takes low, high, sigma, reach/)
    expect(thrown(() => parsePipeline([]))).toBeInstanceOf(InvalidPipelineError)
    expect(thrown(() => parsePipeline(Array(MAX_OPS + 1).fill('invert')))).toBeInstanceOf(InvalidPipelineError)
    expect(thrown(() => parsePipeline(['blur:sigma=100', 'blur:sigma=100', 'blur:sigma=100', 'blur:sigma=100'])).message).toMatch(/halo of 1200 pixels/)
  })
})

describe('validatePipeline (pipelines arriving over the network)', () => {
  it('accepts its own JSON and returns a canonical copy', () => {
    const p = parsePipeline(['grayscale', 'blur:sigma=2', 'threshold:method=otsu'])
    const back = validatePipeline(JSON.parse(JSON.stringify(p)))
    expect(back).toEqual(p)
    expect(validatePipeline({ ops: [{ name: 'blur' }] })).toEqual({ ops: [{ name: 'blur', params: { sigma: 2 } }] })
  })

  it('refuses anything else with a named error', () => {
    const cases: Array<[unknown, new (...a: never[]) => Error, RegExp]> = [
      [null, InvalidPipelineError, /must be an object/],
      [[], InvalidPipelineError, /must be an object/],
      [{ ops: 'blur' }, InvalidPipelineError, /ops must be an array/],
      [{ ops: [], extra: 1 }, InvalidPipelineError, /unexpected key "extra"/],
      [{ ops: [] }, InvalidPipelineError, /at least one op/],
      [{ ops: [7] }, InvalidPipelineError, /op 1 must be an object/],
      [{ ops: [{ name: 'blur', params: {}, x: 1 }] }, InvalidPipelineError, /unexpected key "x"/],
      [{ ops: [{ name: 42 }] }, InvalidPipelineError, /op name must be a non-empty string/],
      [{ ops: [{ name: 'nope' }] }, UnknownOpError, /unknown op "nope"/],
      [{ ops: [{ name: 'blur', params: { sigma: '2' } }] }, InvalidParameterError, /blur: parameter "sigma" is "2"/],
      [{ ops: [{ name: 'blur', params: { sigma: null } }] }, InvalidParameterError, /blur: parameter "sigma" is null/],
      [{ ops: [{ name: 'blur', params: [1] }] }, InvalidParameterError, /expected an object of parameters/],
      [{ ops: [{ name: 'median', params: { radius: 1e9 } }] }, InvalidParameterError, /median: parameter "radius" is 1000000000/],
      [{ ops: [{ name: '__proto__' }] }, UnknownOpError, /unknown op/]
    ]
    for (const [value, cls, msg] of cases) {
      const e = thrown(() => validatePipeline(value))
      expect(e, JSON.stringify(value)).toBeInstanceOf(cls)
      expect(e.message).toMatch(msg)
    }
  })

  it('errors survive a trip through plain data (worker threads, network)', () => {
    const e = thrown(() => parseOpSpec('blur:sigma=-1')) as InvalidParameterError
    const back = fromErrorData(JSON.parse(JSON.stringify(toErrorData(e))))
    expect(back).toBeInstanceOf(InvalidParameterError)
    expect(back.message).toBe(e.message)
    expect((back as InvalidParameterError).param).toBe('sigma')
    const u = fromErrorData(toErrorData(thrown(() => parseOpSpec('blurr'))))
    expect(u).toBeInstanceOf(UnknownOpError)
    expect(u.message).toMatch(/did you mean "blur"/)
  })
})

describe('halo, channels and phases', () => {
  it('the pipeline halo is the sum of the op halos', () => {
    expect(pipelineHalo(parsePipeline(['grayscale']))).toBe(0)
    expect(pipelineHalo(parsePipeline(['blur:sigma=2']))).toBe(6)
    expect(pipelineHalo(parsePipeline(['blur:sigma=2', 'median:radius=3', 'edge', 'dilate:radius=2']))).toBe(6 + 3 + 1 + 2)
    // canny: smoothing (ceil(3 * 1.4) = 5) + Sobel 1 + non-maximum suppression 1 + reach 8
    expect(pipelineHalo(parsePipeline(['canny']))).toBe(15)
    expect(pipelineHalo(parsePipeline(['canny:sigma=0,reach=3']))).toBe(5)
    expect(pipelineHalo(parsePipeline(['contours:thickness=5']))).toBe(17)
  })

  it('channel counts follow the documented rules', () => {
    const ch = (specs: string[], c: 1 | 2 | 3 | 4) => outputChannels(parsePipeline(specs), c)
    expect(ch(['grayscale'], 3)).toBe(1)
    expect(ch(['grayscale'], 4)).toBe(2)
    expect(ch(['grayscale', 'sepia'], 4)).toBe(4)
    expect(ch(['threshold'], 3)).toBe(1)
    expect(ch(['contours'], 1)).toBe(3)
    expect(ch(['blur', 'edge', 'blur'], 4)).toBe(2)
  })

  it('global ops are found from their parameters', () => {
    const p = parsePipeline(['grayscale', 'threshold:level=30', 'equalise', 'blur', 'threshold:method=otsu'])
    expect(globalOps(p)).toEqual([2, 4])
    expect(phaseCount(p)).toBe(3)
    expect(phaseCount(parsePipeline(['blur']))).toBe(1)
  })

  it('the catalogue has every required op, each with a description and declared parameters', () => {
    for (const name of ['grayscale', 'threshold', 'edge', 'canny', 'blur', 'sharpen', 'median', 'invert', 'adjust', 'gamma',
      'normalise', 'equalise', 'erode', 'dilate', 'emboss', 'sepia', 'contours']) expect(opNames).toContain(name)
    for (const op of describeOps()) {
      expect(op.description.length).toBeGreaterThan(10)
      for (const p of op.params) expect(p.accepts.length).toBeGreaterThan(5)
    }
    expect(describeOps().filter(o => o.global).map(o => o.name)).toEqual(['threshold', 'normalise', 'equalise'])
  })
})

describe('runTile and mergeStats', () => {
  const p = parsePipeline(['grayscale', 'blur:sigma=1', 'threshold:method=otsu', 'dilate'])
  const tile = photoLike(40, 30, 3)
  const core = { x: 5, y: 4, width: 20, height: 10 }

  it('a statistics phase measures the core only; merging sums the histograms', () => {
    const r = runTile(tile, p, { phase: 0, stats: [], core })
    expect('stats' in r).toBe(true)
    const s = (r as { stats: { hist: number[] } }).stats
    expect(s.hist).toHaveLength(256)
    expect(s.hist.reduce((a, b) => a + b, 0)).toBe(200)
    expect(JSON.parse(JSON.stringify(s))).toEqual(s)
    const merged = mergeStats(p, 0, [s, s]) as { hist: number[] }
    expect(merged.hist.reduce((a, b) => a + b, 0)).toBe(400)
    expect(merged.hist.map((v, i) => v - 2 * s.hist[i]).every(v => v === 0)).toBe(true)
  })

  it('the final phase returns the core, cropped, with the output channel count', () => {
    const stats = [(runTile(tile, p, { phase: 0, stats: [], core }) as { stats: unknown }).stats]
    const r = runTile(tile, p, { phase: 1, stats, core })
    if (!('image' in r)) throw new Error('expected an image')
    expect([r.image.width, r.image.height, r.image.channels]).toEqual([20, 10, 1])
    expect(new Set(r.image.data).size).toBeLessThanOrEqual(2)
  })

  it('refuses bad phases, missing or malformed stats, and cores outside the tile', () => {
    const ok = { hist: new Array(256).fill(1) }
    const cases: Array<[() => unknown, RegExp]> = [
      [() => runTile(tile, p, { phase: 2, stats: [ok, ok], core }), /phase 2 does not exist/],
      [() => runTile(tile, p, { phase: -1, stats: [], core }), /phase -1 does not exist/],
      [() => runTile(tile, p, { phase: 1, stats: [], core }), /needs the merged statistics/],
      [() => runTile(tile, p, { phase: 1, stats: [{ hist: [1, 2] }], core }), /threshold: malformed statistics/],
      [() => runTile(tile, p, { phase: 1, stats: [{ hist: new Array(256).fill(-1) }], core }), /malformed statistics/],
      [() => runTile(tile, p, { phase: 0, stats: [], core: { x: 30, y: 0, width: 20, height: 5 } }), /does not lie inside/],
      [() => runTile({ ...tile, data: tile.data.subarray(1) }, p, { phase: 0, stats: [], core }), /not a valid raw image/],
      [() => mergeStats(p, 1, [ok]), /phase 1 has no statistics/],
      [() => mergeStats(p, 0, []), /nothing to merge/],
      [() => mergeStats(p, 0, [{ hist: 'x' }]), /malformed statistics/]
    ]
    for (const [fn, msg] of cases) {
      const e = thrown(fn)
      expect(e).toBeInstanceOf(InvalidTileError)
      expect(e.message).toMatch(msg)
    }
  })
})
