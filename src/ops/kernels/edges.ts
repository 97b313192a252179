// Gradient ops: Sobel edge magnitude, emboss, Canny and contours (Canny edges drawn over the image).
import { defineOp, sameChannels } from '../op.ts'
import type { RawImage } from '../raw.ts'
import { colourChannels, withAlphaOf } from '../raw.ts'
import { colour, colourRgb, integer, number } from '../params.ts'
import { InvalidParameterError } from '../errors.ts'
import { alphaOf, clampByte, join, luma, mapColourPlanes, pad } from './planes.ts'
import { gaussianPlane, gaussianRadius } from './gaussian.ts'

// Sobel components lie in [-1020, 1020]: Int16 halves the memory of a whole-image run.
interface Gradient { gx: Int16Array; gy: Int16Array }

function sobel (plane: Uint8Array, width: number, height: number): Gradient {
  const p = pad(plane, width, height, 1)
  const pw = width + 2
  const gx = new Int16Array(width * height)
  const gy = new Int16Array(width * height)
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const c = (y + 1) * pw + x + 1
      const nw = p[c - pw - 1]; const n = p[c - pw]; const ne = p[c - pw + 1]
      const w = p[c - 1]; const e = p[c + 1]
      const sw = p[c + pw - 1]; const s = p[c + pw]; const se = p[c + pw + 1]
      const i = y * width + x
      gx[i] = (ne + 2 * e + se) - (nw + 2 * w + sw)
      gy[i] = (sw + 2 * s + se) - (nw + 2 * n + ne)
    }
  }
  return { gx, gy }
}

export const edge = defineOp({
  name: 'edge',
  description: 'Sobel gradient magnitude of the luma; the output is one grey channel (+ alpha)',
  params: {
    scale: number({ min: 0.01, max: 10, default: 1, description: 'multiplies the magnitude before it is clamped to 255' })
  },
  halo: () => 1,
  channels: c => withAlphaOf(1, c),
  apply: (img, p) => {
    const { gx, gy } = sobel(luma(img), img.width, img.height)
    const out = new Uint8Array(gx.length)
    for (let i = 0; i < out.length; i++) out[i] = clampByte(p.scale * Math.sqrt(gx[i] * gx[i] + gy[i] * gy[i]))
    return join(img.width, img.height, [out], alphaOf(img))
  }
})

// Emboss = identity + strength * a diagonal derivative; strength 1 is the classic [-2 -1 0; -1 1 1; 0 1 2].
export const emboss = defineOp({
  name: 'emboss',
  description: 'Relief effect lit from the top left, per colour channel',
  params: {
    strength: number({ min: 0, max: 10, default: 1, description: 'depth of the relief (0 = unchanged)' })
  },
  halo: () => 1,
  channels: sameChannels,
  apply: (img, p) => mapColourPlanes(img, (pl, width, height) => {
    const q = pad(pl, width, height, 1)
    const pw = width + 2
    const out = new Uint8Array(width * height)
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const c = (y + 1) * pw + x + 1
        const d = -2 * q[c - pw - 1] - q[c - pw] - q[c - 1] + q[c + 1] + q[c + pw] + 2 * q[c + pw + 1]
        out[y * width + x] = clampByte(q[c] + p.strength * d)
      }
    }
    return out
  })
})

export interface CannyParams { low: number; high: number; sigma: number; reach: number }

export function cannyHalo (p: CannyParams): number {
  // smoothing + Sobel (1) + non-maximum suppression (1) + hysteresis reach
  return (p.sigma > 0 ? gaussianRadius(p.sigma) : 0) + 2 + p.reach
}

/**
 * Canny edge mask (1 = edge) of one plane.
 *
 * Hysteresis is BOUNDED: a weak pixel (low <= magnitude < high, after non-maximum suppression) is kept only
 * when a path of at most `reach` steps through weak pixels (8-connected) links it to a strong pixel. Classic
 * Canny follows weak chains without limit, which makes any pixel depend on the whole image; with the bound
 * a pixel depends on a (2 * halo + 1) square only, so tiles stay independent and exact. The BFS grows the
 * kept set one ring per step (all pixels of a step before the next), so the result does not depend on the
 * visiting order, hence not on tile position.
 */
export function cannyMask (plane: Uint8Array, width: number, height: number, p: CannyParams): Uint8Array {
  const src = p.sigma > 0 ? gaussianPlane(plane, width, height, p.sigma) : plane
  const { gx, gy } = sobel(src, width, height)
  const n = width * height
  const mag = new Int32Array(n) // squared magnitude: integer, so comparisons are exact
  for (let i = 0; i < n; i++) mag[i] = gx[i] * gx[i] + gy[i] * gy[i]
  const m = pad(mag, width, height, 1)
  const pw = width + 2
  const low2 = p.low * p.low
  const high2 = p.high * p.high
  // 0 = none, 1 = weak, 2 = strong, after non-maximum suppression along the gradient direction
  // (quantised to 4 directions with integer tangent tests: tan 22.5 = 0.41421, tan 67.5 = 2.41421).
  const cls = new Uint8Array(n)
  const strong: number[] = []
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x
      const v = mag[i]
      if (v < low2 || v === 0) continue
      const ax = Math.abs(gx[i])
      const ay = Math.abs(gy[i])
      const c = (y + 1) * pw + x + 1
      let a: number
      let b: number
      if (ay * 100000 <= ax * 41421) { a = m[c - 1]; b = m[c + 1] } else if (ay * 100000 >= ax * 241421) {
        a = m[c - pw]; b = m[c + pw]
      } else if ((gx[i] > 0) === (gy[i] > 0)) { a = m[c - pw - 1]; b = m[c + pw + 1] } else {
        a = m[c - pw + 1]; b = m[c + pw - 1]
      }
      if (!(v > a && v >= b)) continue
      if (v >= high2) { cls[i] = 2; strong.push(i) } else cls[i] = 1
    }
  }
  const out = new Uint8Array(n)
  let frontier = strong
  for (const i of frontier) out[i] = 1
  for (let step = 0; step < p.reach && frontier.length > 0; step++) {
    const next: number[] = []
    for (const i of frontier) {
      const x = i % width
      const y = (i - x) / width
      for (let dy = -1; dy <= 1; dy++) {
        const yy = y + dy
        if (yy < 0 || yy >= height) continue
        for (let dx = -1; dx <= 1; dx++) {
          const xx = x + dx
          if (xx < 0 || xx >= width) continue
          const j = yy * width + xx
          if (cls[j] === 1 && out[j] === 0) { out[j] = 1; next.push(j) }
        }
      }
    }
    frontier = next
  }
  return out
}

const cannyParams = {
  low: number({ min: 0, max: 1500, default: 40, description: 'weak-edge threshold on the Sobel gradient magnitude' }),
  high: number({ min: 0, max: 1500, default: 100, description: 'strong-edge threshold (>= low)' }),
  sigma: number({ min: 0, max: 10, default: 1.4, description: 'gaussian smoothing before the gradient (0 = none)' }),
  reach: integer({ min: 1, max: 64, default: 8, description: 'hysteresis: a weak pixel is kept if linked to a strong one within this many steps' })
}

function checkThresholds (op: string) {
  return (p: CannyParams): void => {
    if (p.low > p.high) throw new InvalidParameterError(op, 'low', p.low, `a number <= high (${p.high})`)
  }
}

export const canny = defineOp({
  name: 'canny',
  description: 'Canny edge detector on the luma (bounded hysteresis); the output is one channel, edges 255 (+ alpha)',
  params: cannyParams,
  halo: p => cannyHalo(p),
  channels: c => withAlphaOf(1, c),
  check: checkThresholds('canny'),
  apply: (img, p) => {
    const mask = cannyMask(luma(img), img.width, img.height, p)
    for (let i = 0; i < mask.length; i++) mask[i] *= 255
    return join(img.width, img.height, [mask], alphaOf(img))
  }
})

export const contours = defineOp({
  name: 'contours',
  description: 'Canny edges drawn in a colour over the image; the output is RGB (+ alpha)',
  params: {
    ...cannyParams,
    colour: colour({ default: '#ff0000', description: 'line colour' }),
    thickness: integer({ min: 1, max: 15, default: 1, description: 'line thickness in pixels (even values round up to the next odd)' })
  },
  halo: p => cannyHalo(p) + Math.floor(p.thickness / 2),
  channels: c => withAlphaOf(3, c),
  check: checkThresholds('contours'),
  apply: (img, p) => drawMask(img, thicken(cannyMask(luma(img), img.width, img.height, p), img.width, img.height, Math.floor(p.thickness / 2)), colourRgb(p.colour))
})

function thicken (mask: Uint8Array, width: number, height: number, r: number): Uint8Array {
  if (r === 0) return mask
  const p = pad(mask, width, height, r)
  const pw = width + 2 * r
  const out = new Uint8Array(width * height)
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let hit = 0
      for (let dy = 0; dy <= 2 * r && !hit; dy++) {
        const o = (y + dy) * pw + x
        for (let dx = 0; dx <= 2 * r; dx++) if (p[o + dx]) { hit = 1; break }
      }
      out[y * width + x] = hit
    }
  }
  return out
}

function drawMask (img: RawImage, mask: Uint8Array, rgb: [number, number, number]): RawImage {
  const { width, height, channels, data } = img
  const grey = colourChannels(channels) === 1
  const outCh = withAlphaOf(3, channels)
  const out = new Uint8Array(width * height * outCh)
  for (let i = 0, j = 0, k = 0; i < mask.length; i++, j += channels, k += outCh) {
    if (mask[i]) {
      out[k] = rgb[0]; out[k + 1] = rgb[1]; out[k + 2] = rgb[2]
    } else if (grey) {
      out[k] = out[k + 1] = out[k + 2] = data[j]
    } else {
      out[k] = data[j]; out[k + 1] = data[j + 1]; out[k + 2] = data[j + 2]
    }
    if (outCh === 4) out[k + 3] = data[j + channels - 1]
  }
  return { width, height, channels: outCh, data: out }
}
