// Point ops: each output pixel depends on the same input pixel only (halo 0).
import { defineOp, sameChannels } from '../op.ts'
import { number } from '../params.ts'
import { withAlphaOf, colourChannels } from '../raw.ts'
import type { RawImage } from '../raw.ts'
import { alphaOf, applyLut, join, lut, luma } from './planes.ts'
import { wasmModule } from '../wasm/engine.ts'
import { allocImage, residentBytes } from '../wasm/resident.ts'

interface PointWasm {
  invert: (src: number, dst: number, n: number, ch: number) => void
}
const wasm = (): PointWasm => wasmModule<PointWasm>('point')

export const grayscale = defineOp({
  name: 'grayscale',
  description: 'Converts to one grey channel (BT.601 luma); alpha is kept',
  params: {},
  halo: () => 0,
  channels: c => withAlphaOf(1, c),
  apply: img => join(img.width, img.height, [luma(img)], alphaOf(img))
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
  description: 'Brightness and contrast: (value - 128) * contrast + 128 + brightness, per colour channel',
  params: {
    brightness: number({ min: -255, max: 255, default: 0, description: 'added to every colour channel' }),
    contrast: number({ min: 0, max: 10, default: 1, description: 'factor around mid-grey (1 = unchanged, 0 = flat grey)' })
  },
  halo: () => 0,
  channels: sameChannels,
  apply: (img, p) => applyLut(img, lut(v => (v - 128) * p.contrast + 128 + p.brightness))
})

export const gamma = defineOp({
  name: 'gamma',
  description: 'Gamma curve 255 * (value / 255) ^ (1 / gamma), per colour channel',
  params: {
    gamma: number({ min: 0.1, max: 10, default: 2.2, description: 'above 1 brightens mid-tones, below 1 darkens them' })
  },
  halo: () => 0,
  channels: sameChannels,
  apply: (img, p) => applyLut(img, lut(v => 255 * Math.pow(v / 255, 1 / p.gamma)))
})

// The classic sepia matrix in integer thousandths. A grey input is treated as R = G = B and becomes RGB.
export const sepia = defineOp({
  name: 'sepia',
  description: 'Sepia tone; the output is RGB (a grey input gains colour channels), alpha kept',
  params: {},
  halo: () => 0,
  channels: c => withAlphaOf(3, c),
  apply: img => sepiaTone(img)
})

function sepiaTone (img: RawImage): RawImage {
  const { width, height, channels, data } = img
  const grey = colourChannels(channels) === 1
  const outCh = withAlphaOf(3, channels)
  const n = width * height
  const out = new Uint8Array(n * outCh)
  for (let i = 0, j = 0, k = 0; i < n; i++, j += channels, k += outCh) {
    const r = data[j]
    const g = grey ? r : data[j + 1]
    const b = grey ? r : data[j + 2]
    out[k] = Math.min(255, Math.floor((393 * r + 769 * g + 189 * b + 500) / 1000))
    out[k + 1] = Math.min(255, Math.floor((349 * r + 686 * g + 168 * b + 500) / 1000))
    out[k + 2] = Math.min(255, Math.floor((272 * r + 534 * g + 131 * b + 500) / 1000))
    if (outCh === 4) out[k + 3] = data[j + channels - 1]
  }
  return { width, height, channels: outCh, data: out }
}
