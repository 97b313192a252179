// The point and histogram kernels (wasm SIMD) equal their scalar references byte for byte, on every
// channel count and on sizes that leave SIMD tails (not multiples of 16 or 4).
import { describe, expect, it } from 'vitest'
import { getOp } from '../../src/ops/catalogue.ts'
import { validateOp } from '../../src/ops/pipeline.ts'
import { lut as makeLut } from '../../src/ops/kernels/point.ts'
import type { Channels, RawImage } from '../../src/ops/raw.ts'
import * as ref from './reference/point.ts'
import { rng } from './helpers.ts'

const SIZES: Array<[number, number]> = [[1, 1], [1, 37], [37, 1], [17, 13], [33, 64], [5, 3], [100, 7]]
const CHANNELS: Channels[] = [1, 2, 3, 4]

function noise (width: number, height: number, channels: Channels, seed: number): RawImage {
  const r = rng(seed)
  const data = new Uint8Array(width * height * channels)
  // Mostly random bytes, with runs of 0 and 255 so the extremes and saturation are hit.
  for (let i = 0; i < data.length; i++) { const u = r(); data[i] = u < 0.05 ? 0 : u > 0.95 ? 255 : Math.floor(r() * 256) }
  return { width, height, channels, data }
}

function apply (spec: string, params: Record<string, unknown>, img: RawImage, stats?: unknown): RawImage {
  const call = validateOp(spec, params)
  return getOp(call.name).apply(img, call.params, stats)
}

const cases: Array<{ name: string, run: (img: RawImage) => RawImage, want: (img: RawImage) => RawImage }> = [
  { name: 'grayscale', run: i => apply('grayscale', {}, i), want: ref.grayscale },
  { name: 'invert', run: i => apply('invert', {}, i), want: i => ref.lut(i, makeLut(v => 255 - v)) },
  { name: 'adjust', run: i => apply('adjust', { brightness: 20, contrast: 1.7 }, i), want: i => ref.adjust(i, 1.7, 20) },
  { name: 'adjust dark', run: i => apply('adjust', { brightness: -200, contrast: 9.3 }, i), want: i => ref.adjust(i, 9.3, -200) },
  { name: 'adjust flat', run: i => apply('adjust', { brightness: 0.4, contrast: 0 }, i), want: i => ref.adjust(i, 0, 0.4) },
  { name: 'gamma', run: i => apply('gamma', { gamma: 0.45 }, i), want: i => ref.lut(i, makeLut(v => 255 * Math.pow(v / 255, 1 / 0.45))) },
  { name: 'sepia', run: i => apply('sepia', {}, i), want: ref.sepia },
  { name: 'threshold 1', run: i => apply('threshold', { level: 1 }, i), want: i => ref.threshold(i, 1) },
  { name: 'threshold 200', run: i => apply('threshold', { level: 200 }, i), want: i => ref.threshold(i, 200) },
  { name: 'threshold 0', run: i => apply('threshold', { level: 0 }, i), want: i => ref.threshold(i, 0) }
]

describe('point kernels equal their scalar references', () => {
  for (const c of cases) {
    it(c.name, () => {
      let seed = 1
      for (const [w, h] of SIZES) {
        for (const ch of CHANNELS) {
          const img = noise(w, h, ch, seed++)
          const got = c.run(img)
          const want = c.want(img)
          expect({ w: got.width, h: got.height, c: got.channels }).toEqual({ w: want.width, h: want.height, c: want.channels })
          expect(Buffer.from(got.data).equals(Buffer.from(want.data)), `${c.name} ${w}x${h}x${ch}`).toBe(true)
        }
      }
    })
  }

  it('adjust: every byte value across the whole parameter range (the i16 lanes must not overflow)', () => {
    // A 256-byte ramp, so each parameter pair is checked on every input value; contrast and brightness
    // from end to end of their ParamSpec limits, fractional steps included (odd fixed-point low bytes).
    const ramp: RawImage = { width: 256, height: 1, channels: 1, data: Uint8Array.from({ length: 256 }, (_, v) => v) }
    const contrasts = [0, 0.003, 0.5, 0.999, 1, 1.2, 1.7, 2.5, 3.3, 4.999, 7.77, 9.3, 9.99, 10]
    const brightnesses = [-255, -254.6, -200, -128, -127.5, -20, -0.4, 0, 0.4, 20, 127.3, 128, 200, 254.8, 255]
    for (const contrast of contrasts) {
      for (const brightness of brightnesses) {
        const got = apply('adjust', { brightness, contrast }, ramp)
        expect(Buffer.from(got.data).equals(Buffer.from(ref.adjust(ramp, contrast, brightness).data)), `contrast ${contrast} brightness ${brightness}`).toBe(true)
      }
    }
  })

  it('luma histogram of any core rectangle', () => {
    const measure = getOp('equalise').global!({})!.measure
    let seed = 100
    for (const [w, h] of SIZES) {
      for (const ch of CHANNELS) {
        const img = noise(w, h, ch, seed++)
        const cores = [{ x: 0, y: 0, width: w, height: h }, { x: Math.floor(w / 3), y: Math.floor(h / 2), width: Math.ceil(w / 2), height: Math.ceil(h / 3) }]
        for (const core of cores) expect((measure(img, core) as { hist: number[] }).hist).toEqual(ref.lumaHistogram(img, core))
      }
    }
  })

  it('equalise and normalise map colour channels through the table of the merged histogram', () => {
    const img = noise(33, 64, 4, 7)
    const whole = { x: 0, y: 0, width: 33, height: 64 }
    for (const name of ['equalise', 'normalise']) {
      const call = validateOp(name, {})
      const part = getOp(name).global!(call.params)!
      const stats = part.merge([part.measure(img, whole)])
      const got = getOp(name).apply(img, call.params, stats)
      // The table the op built, read back through a 1x256 grey ramp with the same statistics.
      const ramp: RawImage = { width: 256, height: 1, channels: 1, data: Uint8Array.from({ length: 256 }, (_, v) => v) }
      const table = getOp(name).apply(ramp, call.params, stats).data
      expect(Buffer.from(got.data).equals(Buffer.from(ref.lut(img, table).data))).toBe(true)
      expect(new Set(table).size).toBeGreaterThan(16)
    }
  })
})
