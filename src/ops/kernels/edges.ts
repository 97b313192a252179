// Gradient ops: Sobel edge magnitude, Canny and contours (Canny edges drawn over the image).
// Edge, canny and contours run as wasm SIMD kernels (src/ops/wasm/as/edges.ts); their scalar reference,
// the arithmetic they reproduce byte for byte, is test/ops/reference/edges.ts.
import { defineOp } from '../op.ts'
import { withAlphaOf } from '../raw.ts'
import { colour, colourRgb, integer, number } from '../params.ts'
import { InvalidParameterError } from '../errors.ts'
import { blurKernel, gaussianRadius } from './gaussian.ts'
import { lumaKernel, withAlphaKernel } from './point.ts'
import { alloc, scope, wasmModule } from '../wasm/engine.ts'
import type { Resident } from '../wasm/resident.ts'
import { allocImage } from '../wasm/resident.ts'

interface EdgesWasm {
  edgeScratch: (w: number) => number
  edge: (src: number, w: number, h: number, scale: number, dst: number, scratch: number) => void
  classifyScratch: (w: number) => number
  classify: (src: number, w: number, h: number, low2: number, high2: number, cls: number, scratch: number) => number
  hysteresis: (cls: number, w: number, h: number, reach: number, queue: number) => void
  maskOut: (cls: number, w: number, h: number, dst: number) => void
  maxFilterScratch: (w: number, h: number, r: number) => number
  maxFilter: (src: number, w: number, h: number, r: number, dst: number, scratch: number) => void
  draw: (img: number, ch: number, mask: number, n: number, dst: number, r: number, g: number, b: number) => void
}
const wasm = (): EdgesWasm => wasmModule<EdgesWasm>('edges')

export const edge = defineOp({
  name: 'edge',
  description: 'Sobel gradient magnitude of the luma; the output is one grey channel (+ alpha)',
  params: {
    scale: number({ min: 0.01, max: 10, default: 1, description: 'multiplies the magnitude before it is clamped to 255' })
  },
  halo: () => 1,
  channels: c => withAlphaOf(1, c),
  kernel: (img, p) => {
    const { width: w, height: h } = img
    const out = allocImage(w, h, 1)
    scope(() => {
      const grey = lumaKernel(img)
      // scale goes in as an f32: magnitude = f32 rounding of scale * f32 sqrt (see the kernel)
      wasm().edge(grey.ptr, w, h, p.scale, out.ptr, alloc(wasm().edgeScratch(w)))
    })
    return withAlphaKernel(out, img)
  }
})

export interface CannyParams { low: number; high: number; sigma: number; reach: number }

export function cannyHalo (p: CannyParams): number {
  // smoothing + Sobel (1) + non-maximum suppression (1) + hysteresis reach
  return (p.sigma > 0 ? gaussianRadius(p.sigma) : 0) + 2 + p.reach
}

/**
 * Writes the Canny edge mask of img's luma (255 = edge, else 0; w x h bytes) at dst.
 *
 * Hysteresis is BOUNDED: a weak pixel (low <= magnitude < high, after non-maximum suppression) is kept only
 * when a path of at most `reach` steps through weak pixels (8-connected) links it to a strong pixel. Classic
 * Canny follows weak chains without limit, which makes any pixel depend on the whole image; with the bound
 * a pixel depends on a (2 * halo + 1) square only, so tiles stay independent and exact. The search grows
 * the kept set one ring per step, so the result does not depend on the visiting order, hence not on tile
 * position. Thresholds compare squared magnitudes as integers: |g| >= t <=> |g|^2 >= ceil(t^2).
 */
function cannyInto (img: Resident, p: CannyParams, dst: number): void {
  const { width: w, height: h } = img
  scope(() => {
    const grey = lumaKernel(img)
    const src = p.sigma > 0 ? blurKernel(grey, p.sigma) : grey
    const cls = alloc((w + 2) * (h + 2) + 32)
    const count = wasm().classify(src.ptr, w, h, Math.max(1, Math.ceil(p.low * p.low)), Math.ceil(p.high * p.high), cls, alloc(wasm().classifyScratch(w)))
    wasm().hysteresis(cls, w, h, p.reach, alloc(4 * Math.max(1, count)))
    wasm().maskOut(cls, w, h, dst)
  })
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
  kernel: (img, p) => {
    const out = allocImage(img.width, img.height, 1)
    cannyInto(img, p, out.ptr)
    return withAlphaKernel(out, img)
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
  kernel: (img, p) => {
    const { width: w, height: h, channels } = img
    const out = allocImage(w, h, withAlphaOf(3, channels))
    scope(() => {
      // 16 bytes of slack after each mask: the SIMD passes read and write whole 16-byte blocks
      let mask = alloc(w * h + 16)
      cannyInto(img, p, mask)
      const r = Math.floor(p.thickness / 2)
      if (r > 0) {
        const thick = alloc(w * h + 16)
        wasm().maxFilter(mask, w, h, r, thick, alloc(wasm().maxFilterScratch(w, h, r)))
        mask = thick
      }
      const [cr, cg, cb] = colourRgb(p.colour)
      wasm().draw(img.ptr, channels, mask, w * h, out.ptr, cr, cg, cb)
    })
    return out
  }
})
