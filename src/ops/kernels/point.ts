// Point ops: each output pixel depends on the same input pixel only (halo 0).
import { defineOp, sameChannels } from '../op.ts'
import { number } from '../params.ts'
import { withAlphaOf, hasAlpha } from '../raw.ts'
import type { RawImage, Rect } from '../raw.ts'
import { alloc, i32, memory, put, scope, wasmModule } from '../wasm/engine.ts'
import { allocImage, residentBytes } from '../wasm/resident.ts'
import type { Resident } from '../wasm/resident.ts'

interface PointWasm {
  invert: (src: number, dst: number, n: number, ch: number) => void
  luma: (src: number, dst: number, pixels: number, ch: number) => void
  greyWithAlpha: (grey: number, src: number, dst: number, pixels: number, ch: number) => void
  lut: (src: number, dst: number, n: number, ch: number, table: number, pairs: number) => void
  lutPairs: (table: number, pairs: number) => void
  sepia: (src: number, dst: number, pixels: number, ch: number) => void
  adjust: (src: number, dst: number, n: number, ch: number, c: number, b: number) => void
  thresholdGrey: (grey: number, pixels: number, level: number) => void
  lumaHistogram: (src: number, width: number, ch: number, x: number, y: number, w: number, h: number, row: number, parts: number, hist: number) => void
}
const wasm = (): PointWasm => wasmModule<PointWasm>('point')

/** One grey channel (no alpha): BT.601 luma of a colour image, the grey channel of a grey one. */
export function lumaKernel (img: Resident): Resident {
  const out = allocImage(img.width, img.height, 1)
  wasm().luma(img.ptr, out.ptr, img.width * img.height, img.channels)
  return out
}

/** A grey plane (1 channel) with the alpha of `like` added back when it has one. */
export function withAlphaKernel (grey: Resident, like: Resident): Resident {
  if (!hasAlpha(like.channels)) return grey
  const out = allocImage(grey.width, grey.height, 2)
  wasm().greyWithAlpha(grey.ptr, like.ptr, out.ptr, grey.width * grey.height, like.channels)
  return out
}

/** Every colour byte through a 256-entry table; alpha copied. */
export function lutKernel (img: Resident, table: Uint8Array): Resident {
  const t = put(table)
  const pairs = alloc(65536 * 2)
  const out = allocImage(img.width, img.height, img.channels)
  wasm().lutPairs(t, pairs)
  wasm().lut(img.ptr, out.ptr, residentBytes(img), img.channels, t, pairs)
  return out
}

/** The grey plane thresholded: 255 where luma >= level, else 0; alpha kept. */
export function thresholdKernel (img: Resident, level: number): Resident {
  const grey = lumaKernel(img)
  wasm().thresholdGrey(grey.ptr, grey.width * grey.height, level)
  return withAlphaKernel(grey, img)
}

/** Luma histogram (256 counts) of `core` of an image in ordinary memory or in the arena. */
export function lumaHistogramKernel (img: RawImage, core: Rect): number[] {
  return scope(() => {
    const inArena = img.data.buffer === memory.buffer
    const src = inArena ? img.data.byteOffset : put(img.data)
    const row = alloc(core.width)
    const parts = alloc(4 * 256 * 4)
    const hist = alloc(256 * 4)
    wasm().lumaHistogram(src, img.width, img.channels, core.x, core.y, core.width, core.height, row, parts, hist)
    return Array.from(i32(hist, 256))
  })
}

export const grayscale = defineOp({
  name: 'grayscale',
  description: 'Converts to one grey channel (BT.601 luma); alpha is kept',
  params: {},
  halo: () => 0,
  channels: c => withAlphaOf(1, c),
  kernel: img => withAlphaKernel(lumaKernel(img), img)
})

export const invert = defineOp({
  name: 'invert',
  description: 'Negative: every colour channel becomes 255 - value',
  params: {},
  halo: () => 0,
  channels: sameChannels,
  kernel: img => {
    const out = allocImage(img.width, img.height, img.channels)
    wasm().invert(img.ptr, out.ptr, residentBytes(img), img.channels)
    return out
  }
})

export const adjust = defineOp({
  name: 'adjust',
  description: 'Brightness and contrast: (value - 128) * contrast + 128 + brightness, per colour channel (contrast and brightness in 1/256 steps)',
  params: {
    brightness: number({ min: -255, max: 255, default: 0, description: 'added to every colour channel' }),
    contrast: number({ min: 0, max: 10, default: 1, description: 'factor around mid-grey (1 = unchanged, 0 = flat grey)' })
  },
  halo: () => 0,
  channels: sameChannels,
  // Fixed point rather than a table: the SIMD arithmetic (8 i16 lanes) runs at OpenCV's convertScaleAbs
  // speed or better, a table lookup at half of it.
  kernel: (img, p) => {
    const out = allocImage(img.width, img.height, img.channels)
    wasm().adjust(img.ptr, out.ptr, residentBytes(img), img.channels, Math.round(p.contrast * 256), Math.round((128 + p.brightness) * 256) + 128)
    return out
  }
})

export const gamma = defineOp({
  name: 'gamma',
  description: 'Gamma curve 255 * (value / 255) ^ (1 / gamma), per colour channel',
  params: {
    gamma: number({ min: 0.1, max: 10, default: 2.2, description: 'above 1 brightens mid-tones, below 1 darkens them' })
  },
  halo: () => 0,
  channels: sameChannels,
  kernel: (img, p) => lutKernel(img, lut(v => 255 * Math.pow(v / 255, 1 / p.gamma)))
})

// The classic sepia matrix in Q14 fixed point (see src/ops/wasm/as/point.ts). A grey input is treated as
// R = G = B and becomes RGB.
export const sepia = defineOp({
  name: 'sepia',
  description: 'Sepia tone; the output is RGB (a grey input gains colour channels), alpha kept',
  params: {},
  halo: () => 0,
  channels: c => withAlphaOf(3, c),
  kernel: img => {
    const out = allocImage(img.width, img.height, withAlphaOf(3, img.channels))
    wasm().sepia(img.ptr, out.ptr, img.width * img.height, img.channels)
    return out
  }
})

/** A 256-entry table of fn(v), rounded half up and clamped to 0..255. */
export function lut (fn: (v: number) => number): Uint8Array {
  const t = new Uint8Array(256)
  for (let v = 0; v < 256; v++) {
    const x = fn(v)
    t[v] = x <= 0 ? 0 : x >= 255 ? 255 : Math.round(x)
  }
  return t
}
