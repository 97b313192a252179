// Plumbing shared by the scalar references (the kernels themselves are wasm, src/ops/wasm): planar
// views of interleaved images, luma, lookup tables and edge-replicating padding.
import type { Channels, RawImage } from '../../../src/ops/raw.ts'
import { colourChannels, hasAlpha } from '../../../src/ops/raw.ts'

export interface Planes {
  width: number
  height: number
  colour: Uint8Array[]
  alpha?: Uint8Array
}

export function split (img: RawImage): Planes {
  const { width, height, channels, data } = img
  const n = width * height
  const planes: Uint8Array[] = []
  for (let c = 0; c < channels; c++) {
    const p = new Uint8Array(n)
    for (let i = 0, j = c; i < n; i++, j += channels) p[i] = data[j]
    planes.push(p)
  }
  const alpha = hasAlpha(channels) ? planes.pop() : undefined
  return { width, height, colour: planes, alpha }
}

export function join (width: number, height: number, colour: Uint8Array[], alpha?: Uint8Array): RawImage {
  const planes = alpha ? [...colour, alpha] : colour
  const channels = planes.length as Channels
  const n = width * height
  const data = new Uint8Array(n * channels)
  for (let c = 0; c < channels; c++) {
    const p = planes[c]
    for (let i = 0, j = c; i < n; i++, j += channels) data[j] = p[i]
  }
  return { width, height, channels, data }
}

/** Runs a single-plane kernel on every colour channel; alpha is copied through. */
export function mapColourPlanes (img: RawImage, fn: (plane: Uint8Array, width: number, height: number) => Uint8Array): RawImage {
  const p = split(img)
  return join(p.width, p.height, p.colour.map(c => fn(c, p.width, p.height)), p.alpha)
}

/** Alpha plane of an image, or undefined. */
export function alphaOf (img: RawImage): Uint8Array | undefined {
  if (!hasAlpha(img.channels)) return undefined
  const n = img.width * img.height
  const a = new Uint8Array(n)
  for (let i = 0, j = img.channels - 1; i < n; i++, j += img.channels) a[i] = img.data[j]
  return a
}

/**
 * Luma, ITU-R BT.601 weights in 8-bit fixed point (77 + 150 + 29 = 256), so a grey pixel keeps its value.
 * Grey images return their grey channel.
 */
export function luma (img: RawImage): Uint8Array {
  const { width, height, channels, data } = img
  const n = width * height
  const y = new Uint8Array(n)
  if (colourChannels(channels) === 1) {
    for (let i = 0, j = 0; i < n; i++, j += channels) y[i] = data[j]
  } else {
    for (let i = 0, j = 0; i < n; i++, j += channels) y[i] = (77 * data[j] + 150 * data[j + 1] + 29 * data[j + 2] + 128) >> 8
  }
  return y
}

type TypedArray = Uint8Array | Int16Array | Int32Array | Float64Array

/**
 * Fills `row` (width + 2r long) with row y of `plane`, its ends replicating the edge pixels: the
 * one-row form of `pad`, for the horizontal pass of separable kernels.
 */
export function padRow (row: Uint8Array, plane: Uint8Array, y: number, width: number, r: number): void {
  const off = y * width
  row.set(plane.subarray(off, off + width), r)
  row.fill(plane[off], 0, r)
  row.fill(plane[off + width - 1], r + width)
}

/**
 * A copy of `plane` with `r` extra pixels on each side, replicating the nearest edge pixel. Kernels index
 * the padded plane without bounds checks; replication (rather than zeros or mirroring) is the border rule.
 */
export function pad<T extends TypedArray> (plane: T, width: number, height: number, r: number): T {
  const pw = width + 2 * r
  const ph = height + 2 * r
  const Ctor = plane.constructor as new (n: number) => T
  const out = new Ctor(pw * ph)
  for (let py = 0; py < ph; py++) {
    const sy = Math.min(height - 1, Math.max(0, py - r))
    const src = sy * width
    const dst = py * pw
    const left = plane[src]
    const right = plane[src + width - 1]
    for (let i = 0; i < r; i++) { out[dst + i] = left; out[dst + r + width + i] = right }
    out.set(plane.subarray(src, src + width) as never, dst + r)
  }
  return out
}
