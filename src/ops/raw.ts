// The pixel format every part of swarm exchanges: 8-bit samples, interleaved, row-major, no padding.
// `data` may be a Node Buffer (a Uint8Array subclass), so copies are made with new Uint8Array(data): Buffer's
// slice() returns a view, not a copy.
// Channel meaning follows sharp/libvips: 1 = grey, 2 = grey + alpha, 3 = RGB, 4 = RGBA (alpha is always last).

export type Channels = 1 | 2 | 3 | 4

export interface RawImage {
  width: number
  height: number
  channels: Channels
  data: Uint8Array
}

export interface Rect {
  x: number
  y: number
  width: number
  height: number
}

export function hasAlpha (channels: Channels): boolean {
  return channels === 2 || channels === 4
}

/** Colour channels, i.e. all channels but alpha. */
export function colourChannels (channels: Channels): 1 | 3 {
  return channels <= 2 ? 1 : 3
}

/** The channel count of an image with `colour` colour channels and the alpha of an image with `like` channels. */
export function withAlphaOf (colour: 1 | 3, like: Channels): Channels {
  return (hasAlpha(like) ? colour + 1 : colour) as Channels
}

export function createRaw (width: number, height: number, channels: Channels): RawImage {
  return { width, height, channels, data: new Uint8Array(width * height * channels) }
}

/** A cheap structural check, for data that crossed a thread or network boundary. */
export function isRawImage (v: unknown): v is RawImage {
  if (typeof v !== 'object' || v === null) return false
  const r = v as Record<string, unknown>
  const { width, height, channels, data } = r
  return Number.isSafeInteger(width) && Number.isSafeInteger(height) &&
    (width as number) >= 1 && (height as number) >= 1 &&
    (channels === 1 || channels === 2 || channels === 3 || channels === 4) &&
    data instanceof Uint8Array && data.length === (width as number) * (height as number) * channels
}

/** A copy of the pixels of `rect` (which must lie inside the image). */
export function copyRect (img: RawImage, rect: Rect): RawImage {
  const { channels } = img
  if (rect.x === 0 && rect.y === 0 && rect.width === img.width && rect.height === img.height) {
    return { width: img.width, height: img.height, channels, data: new Uint8Array(img.data) }
  }
  const rowBytes = rect.width * channels
  const data = new Uint8Array(rowBytes * rect.height)
  for (let y = 0; y < rect.height; y++) {
    const src = ((rect.y + y) * img.width + rect.x) * channels
    data.set(img.data.subarray(src, src + rowBytes), y * rowBytes)
  }
  return { width: rect.width, height: rect.height, channels, data }
}

export function rectInside (rect: Rect, width: number, height: number): boolean {
  return [rect.x, rect.y, rect.width, rect.height].every(Number.isSafeInteger) &&
    rect.x >= 0 && rect.y >= 0 && rect.width >= 1 && rect.height >= 1 &&
    rect.x + rect.width <= width && rect.y + rect.height <= height
}
