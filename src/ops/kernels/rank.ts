// Rank filters over a square window: median, erode (minimum), dilate (maximum). Per colour channel, edges
// replicated, alpha copied. The pixel work is in wasm (src/ops/wasm/as/rank.ts); this file picks the
// algorithm for the radius and image width and allocates its buffers. Scalar reference: test/ops/reference/rank.ts.
import { defineOp, sameChannels } from '../op.ts'
import { integer } from '../params.ts'
import { alloc, wasmModule } from '../wasm/engine.ts'
import { allocImage } from '../wasm/resident.ts'
import type { Resident } from '../wasm/resident.ts'

type Extremum = (src: number, dst: number, w: number, h: number, ch: number, r: number, row: number, cols: number) => void
interface RankWasm {
  erode: Extremum
  dilate: Extremum
  extremumNarrow: (src: number, dst: number, w: number, h: number, ch: number, r: number, row: number, isMax: boolean) => void
  median3: (src: number, dst: number, w: number, h: number, ch: number, sorted: number) => void
  median5: (src: number, dst: number, w: number, h: number, ch: number, buf: number) => void
  padPlane: (src: number, w: number, h: number, ch: number, c: number, r: number, dst: number) => void
  medianHuang: (p: number, w: number, h: number, r: number, dst: number, ch: number, c: number, hist: number) => void
  copyAlpha: (src: number, dst: number, n: number, ch: number) => void
}
const wasm = (): RankWasm => wasmModule<RankWasm>('rank')

/** Radius above which erode / dilate switch to van Herk columns and a doubling window (src/ops/wasm/as/rank.ts). */
const DIRECT_R = 3
/** Stride of the 5x5 median's scratch rows (S5 in src/ops/wasm/as/rank.ts). */
const MEDIAN5_ROW = 1024 + 64
/** The SIMD paths work on whole 16-byte vectors of a row. */
const simdRow = (img: Resident): boolean => img.width * img.channels >= 16
const hasAlpha = (ch: number): boolean => ch === 2 || ch === 4

function extremum (img: Resident, r: number, isMax: boolean): Resident {
  const { width: w, height: h, channels: ch } = img
  const out = allocImage(w, h, ch)
  const row = alloc(2 * ((w + 2 * r) * ch + 16))
  if (!simdRow(img)) {
    wasm().extremumNarrow(img.ptr, out.ptr, w, h, ch, r, row, isMax)
    return out
  }
  const cols = alloc(r > DIRECT_R ? (2 * r + 2) * w * ch : 0)
  wasm()[isMax ? 'dilate' : 'erode'](img.ptr, out.ptr, w, h, ch, r, row, cols)
  return out
}

function medianKernel (img: Resident, r: number): Resident {
  const { width: w, height: h, channels: ch } = img
  const out = allocImage(w, h, ch)
  if (r === 1 && simdRow(img)) {
    wasm().median3(img.ptr, out.ptr, w, h, ch, alloc(3 * ((w * ch + 48) & ~15)))
    return out
  }
  if (r === 2 && simdRow(img)) {
    wasm().median5(img.ptr, out.ptr, w, h, ch, alloc(15 * MEDIAN5_ROW))
    return out
  }
  // Larger radii (and images narrower than a vector): Huang's sliding histogram, one padded plane at a time
  const plane = alloc((w + 2 * r) * (h + 2 * r))
  const hist = alloc(1024)
  const colour = hasAlpha(ch) ? ch - 1 : ch
  const k = wasm()
  for (let c = 0; c < colour; c++) {
    k.padPlane(img.ptr, w, h, ch, c, r, plane)
    k.medianHuang(plane, w, h, r, out.ptr, ch, c, hist)
  }
  if (hasAlpha(ch)) k.copyAlpha(img.ptr, out.ptr, w * h * ch, ch)
  return out
}

const radius = (max: number, what: string) => integer({ min: 1, max, default: 1, description: what })

export const median = defineOp({
  name: 'median',
  description: 'Median filter over a (2 * radius + 1) square window, per colour channel (removes speckle noise)',
  params: { radius: radius(25, 'window radius in pixels') },
  halo: p => p.radius,
  channels: sameChannels,
  kernel: (img, p) => medianKernel(img, p.radius)
})

export const erode = defineOp({
  name: 'erode',
  description: 'Minimum over a (2 * radius + 1) square window, per colour channel (shrinks bright areas)',
  params: { radius: radius(50, 'window radius in pixels') },
  halo: p => p.radius,
  channels: sameChannels,
  kernel: (img, p) => extremum(img, p.radius, false)
})

export const dilate = defineOp({
  name: 'dilate',
  description: 'Maximum over a (2 * radius + 1) square window, per colour channel (grows bright areas)',
  params: { radius: radius(50, 'window radius in pixels') },
  halo: p => p.radius,
  channels: sameChannels,
  kernel: (img, p) => extremum(img, p.radius, true)
})
