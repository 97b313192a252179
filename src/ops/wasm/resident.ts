// Images that live in wasm memory: what kernels take and return inside a pipeline (see ./engine.ts).
// Same layout as RawImage (8-bit, interleaved, row-major, no padding); `ptr` instead of `data`.
import type { Channels, RawImage, Rect } from '../raw.ts'
import { alloc, u8 } from './engine.ts'

export interface Resident {
  width: number
  height: number
  channels: Channels
  ptr: number
}

export const residentBytes = (img: { width: number, height: number, channels: number }): number => img.width * img.height * img.channels

export function allocImage (width: number, height: number, channels: Channels): Resident {
  return { width, height, channels, ptr: alloc(width * height * channels) }
}

/** Copies a RawImage into the arena. */
export function toResident (img: RawImage): Resident {
  const r = allocImage(img.width, img.height, img.channels)
  u8(r.ptr, img.data.length).set(img.data)
  return r
}

/** A RawImage copy of a resident image (or of `rect` of it), in ordinary memory. */
export function toRaw (img: Resident, rect?: Rect): RawImage {
  const { width, height, channels } = img
  if (!rect || (rect.x === 0 && rect.y === 0 && rect.width === width && rect.height === height)) {
    const data = new Uint8Array(residentBytes(img))
    data.set(u8(img.ptr, data.length))
    return { width, height, channels, data }
  }
  const rowBytes = rect.width * channels
  const data = new Uint8Array(rowBytes * rect.height)
  const src = u8(img.ptr, residentBytes(img))
  for (let y = 0; y < rect.height; y++) {
    const o = ((rect.y + y) * width + rect.x) * channels
    data.set(src.subarray(o, o + rowBytes), y * rowBytes)
  }
  return { width: rect.width, height: rect.height, channels, data }
}

/** A RawImage whose data is a view of the arena: valid only until the next allocation. */
export function view (img: Resident): RawImage {
  return { width: img.width, height: img.height, channels: img.channels, data: u8(img.ptr, residentBytes(img)) }
}
