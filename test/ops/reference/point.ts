// Scalar references for the point and histogram kernels (src/ops/wasm/as/point.ts): the plain definition
// of each op, one pixel at a time, that the SIMD code must equal byte for byte.
import type { Channels, RawImage, Rect } from '../../../src/ops/raw.ts'

const hasAlpha = (c: Channels): boolean => c === 2 || c === 4

function map (img: RawImage, outCh: Channels, fn: (px: number[], out: number[]) => void): RawImage {
  const { width, height, channels, data } = img
  const out = new Uint8Array(width * height * outCh)
  const px: number[] = []
  const o: number[] = []
  for (let i = 0; i < width * height; i++) {
    for (let c = 0; c < channels; c++) px[c] = data[i * channels + c]
    fn(px, o)
    for (let c = 0; c < outCh; c++) out[i * outCh + c] = o[c]
  }
  return { width, height, channels: outCh, data: out }
}

export function lumaOf (px: number[], channels: Channels): number {
  return channels <= 2 ? px[0] : (77 * px[0] + 150 * px[1] + 29 * px[2] + 128) >> 8
}

/** Grey (+ alpha) output of a per-pixel function of the luma. */
function onLuma (img: RawImage, fn: (y: number) => number): RawImage {
  const a = hasAlpha(img.channels)
  return map(img, a ? 2 : 1, (px, o) => { o[0] = fn(lumaOf(px, img.channels)); if (a) o[1] = px[img.channels - 1] })
}

export const grayscale = (img: RawImage): RawImage => onLuma(img, y => y)
export const threshold = (img: RawImage, level: number): RawImage => onLuma(img, y => y >= level ? 255 : 0)

/** Every colour channel through `table`, alpha kept. */
export function lut (img: RawImage, table: ArrayLike<number>): RawImage {
  const ch = img.channels
  return map(img, ch, (px, o) => { for (let c = 0; c < ch; c++) o[c] = hasAlpha(ch) && c === ch - 1 ? px[c] : table[px[c]] })
}

// Q14 sepia: min(255, (cr R + cg G + cb B + 8192) >> 14) per output channel.
const SEPIA = [[6439, 12599, 3097], [5718, 11239, 2753], [4456, 8749, 2146]]
export function sepia (img: RawImage): RawImage {
  const ch = img.channels
  const a = hasAlpha(ch)
  return map(img, a ? 4 : 3, (px, o) => {
    const [r, g, b] = ch >= 3 ? px : [px[0], px[0], px[0]]
    for (let k = 0; k < 3; k++) o[k] = Math.min(255, (SEPIA[k][0] * r + SEPIA[k][1] * g + SEPIA[k][2] * b + 8192) >> 14)
    if (a) o[3] = px[ch - 1]
  })
}

export function lumaHistogram (img: RawImage, core: Rect): number[] {
  const hist = new Array<number>(256).fill(0)
  const px: number[] = []
  for (let y = core.y; y < core.y + core.height; y++) {
    for (let x = core.x; x < core.x + core.width; x++) {
      for (let c = 0; c < img.channels; c++) px[c] = img.data[(y * img.width + x) * img.channels + c]
      hist[lumaOf(px, img.channels)]++
    }
  }
  return hist
}

/** Brightness and contrast in 1/256 fixed point: clamp(((v - 128) * C + B) >> 8). */
export function adjust (img: RawImage, contrast: number, brightness: number): RawImage {
  const c = Math.round(contrast * 256)
  const b = Math.round((128 + brightness) * 256) + 128
  const table = Array.from({ length: 256 }, (_, v) => Math.min(255, Math.max(0, Math.floor(((v - 128) * c + b) / 256))))
  return lut(img, table)
}
