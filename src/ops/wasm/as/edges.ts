// Gradient kernels (AssemblyScript, compiled by scripts/build-wasm.ts): Sobel edge magnitude, Canny
// (Sobel + non-maximum suppression + bounded hysteresis) and the pieces of contours (square max filter,
// drawing). Planes are 8-bit, one byte a pixel, row-major. No allocation here: the caller passes every
// buffer, scratch included, sized by the *Scratch functions below (the layout lives in this file only).
//
// The dense work runs row by row on a few row buffers, so no whole-image int16/int32 plane exists. SIMD
// loads may read up to 15 bytes past the end of an input plane (their lanes are discarded): the caller
// allocates the scratch after the inputs, so those bytes are always inside memory.

// Vertical half of Sobel for one row: V = a + 2b + c and D = c - a per column, into i16 rows whose
// element 0 is column -1. Replicating the edge columns of V and D equals replicating the edge pixels.
function verticalPass (a: usize, b: usize, c: usize, w: i32, V: usize, D: usize): void {
  for (let x = 0; x < w; x += 8) {
    const la = v128.load8x8_u(a + x)
    const lb = v128.load8x8_u(b + x)
    const lc = v128.load8x8_u(c + x)
    v128.store(V + 2 + 2 * x, i16x8.add(i16x8.add(la, lc), i16x8.shl(lb, 1)))
    v128.store(D + 2 + 2 * x, i16x8.sub(lc, la))
  }
  store<i16>(V, load<i16>(V + 2))
  store<i16>(D, load<i16>(D + 2))
  store<i16>(V + 2 + 2 * w, load<i16>(V + 2 * w))
  store<i16>(D + 2 + 2 * w, load<i16>(D + 2 * w))
}

// Horizontal half: gx = V[x+1] - V[x-1], gy = D[x-1] + 2 D[x] + D[x+1], for 8 pixels from x.
// @ts-ignore: decorator
@inline function gradX (V: usize, x: i32): v128 {
  return i16x8.sub(v128.load(V + 2 * x + 4), v128.load(V + 2 * x))
}
// @ts-ignore: decorator
@inline function gradY (D: usize, x: i32): v128 {
  return i16x8.add(i16x8.add(v128.load(D + 2 * x), v128.load(D + 2 * x + 4)), i16x8.shl(v128.load(D + 2 * x + 2), 1))
}

// gx^2 + gy^2 of 8 pixels as two i32x4 (pixels 0-3, 4-7): dot products of interleaved (gx, gy) pairs.
// @ts-ignore: decorator
@inline function magLow (gx: v128, gy: v128): v128 {
  const p = i8x16.shuffle(gx, gy, 0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23)
  return i32x4.dot_i16x8_s(p, p)
}
// @ts-ignore: decorator
@inline function magHigh (gx: v128, gy: v128): v128 {
  const p = i8x16.shuffle(gx, gy, 8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31)
  return i32x4.dot_i16x8_s(p, p)
}

// clamp(floor(f32(f32(scale * f32 sqrt(m2)) + 0.5)), 0..255): every step is one correctly rounded f32
// operation (m2 <= 2080800 < 2^24 is exact in f32), so every CPU gives the same bytes.
// @ts-ignore: decorator
@inline function edgeLanes (m2: v128, scale: v128): v128 {
  const s = f32x4.mul(f32x4.sqrt(f32x4.convert_i32x4_s(m2)), scale)
  return i32x4.trunc_sat_f32x4_s(f32x4.add(s, f32x4.splat(0.5)))
}

// @ts-ignore: decorator
@inline function edgeBlock (V: usize, D: usize, x: i32, scale: v128): v128 {
  const gx0 = gradX(V, x); const gy0 = gradY(D, x)
  const gx1 = gradX(V, x + 8); const gy1 = gradY(D, x + 8)
  const lo = i16x8.narrow_i32x4_s(edgeLanes(magLow(gx0, gy0), scale), edgeLanes(magHigh(gx0, gy0), scale))
  const hi = i16x8.narrow_i32x4_s(edgeLanes(magLow(gx1, gy1), scale), edgeLanes(magHigh(gx1, gy1), scale))
  return i8x16.narrow_i16x8_u(lo, hi)
}

const rowI16 = (w: i32): i32 => ((w + 2 + 16) * 2 + 15) & ~15
const rowI32 = (w: i32): i32 => ((w + 2 + 16) * 4 + 15) & ~15

export function edgeScratch (w: i32): i32 {
  return 2 * rowI16(w) + 16
}

/** dst (w x h) = Sobel magnitude of src, scaled and rounded as edgeLanes says. */
export function edge (src: usize, w: i32, h: i32, scale: f32, dst: usize, scratch: usize): void {
  const V = scratch
  const D = V + rowI16(w)
  const tmp = D + rowI16(w)
  const k = f32x4.splat(scale)
  for (let y = 0; y < h; y++) {
    const b = src + <usize>(y * w)
    const a = y > 0 ? b - w : b
    const c = y + 1 < h ? b + w : b
    verticalPass(a, b, c, w, V, D)
    const out = dst + <usize>(y * w)
    let x = 0
    for (; x + 16 <= w; x += 16) v128.store(out + x, edgeBlock(V, D, x, k))
    if (x < w) {
      v128.store(tmp, edgeBlock(V, D, x, k))
      memory.copy(out + x, tmp, w - x)
    }
  }
}

// Canny rows: three slots (row r lives in slot r % 3) of gx, gy (i16, from column 0) and the squared
// magnitude (i32, element 0 = column -1, replicated like the pixels).
// @ts-ignore: decorator
@inline function slotBytes (w: i32): i32 { return 2 * rowI16(w) + rowI32(w) }

export function classifyScratch (w: i32): i32 {
  return 2 * rowI16(w) + 3 * slotBytes(w)
}

function sobelRow (src: usize, w: i32, h: i32, r: i32, V: usize, D: usize, slot: usize): void {
  const b = src + <usize>(r * w)
  verticalPass(r > 0 ? b - w : b, b, r + 1 < h ? b + w : b, w, V, D)
  const gxRow = slot
  const gyRow = slot + rowI16(w)
  const mag = gyRow + rowI16(w)
  for (let x = 0; x < w; x += 8) {
    const gx = gradX(V, x)
    const gy = gradY(D, x)
    v128.store(gxRow + 2 * x, gx)
    v128.store(gyRow + 2 * x, gy)
    v128.store(mag + 4 + 4 * x, magLow(gx, gy))
    v128.store(mag + 20 + 4 * x, magHigh(gx, gy))
  }
  store<i32>(mag, load<i32>(mag + 4))
  store<i32>(mag + 4 + 4 * w, load<i32>(mag + 4 * w))
}

// Class of 4 pixels from x (i32 lanes: 0 none, 1 weak, 2 strong) after non-maximum suppression along the
// gradient direction, quantised to 4 directions by the integer tangent tests of the reference
// (tan 22.5 = 0.41421, tan 67.5 = 2.41421). p, c, n: magnitude rows above, at and below (element 0 =
// column -1).
// @ts-ignore: decorator
@inline function classify4 (p: usize, c: usize, n: usize, gxRow: usize, gyRow: usize, x: i32, low: v128, high: v128): v128 {
  const o = 4 * x
  const v = v128.load(c + o + 4)
  const cand = i32x4.ge_s(v, low)
  if (!v128.any_true(cand)) return cand
  const gx = i32x4.extend_low_i16x8_s(v128.load64_zero(gxRow + 2 * x))
  const gy = i32x4.extend_low_i16x8_s(v128.load64_zero(gyRow + 2 * x))
  const ax = i32x4.abs(gx)
  const ay = i32x4.abs(gy)
  const ay1 = i32x4.mul(ay, i32x4.splat(100000))
  const horiz = i32x4.le_s(ay1, i32x4.mul(ax, i32x4.splat(41421)))
  const vert = i32x4.ge_s(ay1, i32x4.mul(ax, i32x4.splat(241421)))
  const zero = i32x4.splat(0)
  const same = v128.not(v128.xor(i32x4.gt_s(gx, zero), i32x4.gt_s(gy, zero)))
  const da = v128.bitselect(v128.load(p + o), v128.load(p + o + 8), same)
  const db = v128.bitselect(v128.load(n + o + 8), v128.load(n + o), same)
  const a = v128.bitselect(v128.load(c + o), v128.bitselect(v128.load(p + o + 4), da, vert), horiz)
  const b = v128.bitselect(v128.load(c + o + 8), v128.bitselect(v128.load(n + o + 4), db, vert), horiz)
  const keep = v128.and(cand, v128.and(i32x4.gt_s(v, a), i32x4.ge_s(v, b)))
  const strong = v128.and(keep, i32x4.ge_s(v, high))
  return i32x4.sub(i32x4.sub(zero, keep), strong)
}

/**
 * Classes of src's pixels (see classify4) into cls, a (w + 2) x (h + 2) plane whose one-pixel border is
 * zero (so hysteresis needs no bounds checks). Thresholds are squared magnitudes; low2 >= 1 (a zero
 * gradient is never an edge). Returns the number of weak and strong pixels (what hysteresis may queue).
 */
export function classify (src: usize, w: i32, h: i32, low2: i32, high2: i32, cls: usize, scratch: usize): i32 {
  const V = scratch
  const D = V + rowI16(w)
  const slots = D + rowI16(w)
  const sb = slotBytes(w)
  const gyOff = rowI16(w)
  const magOff = 2 * rowI16(w)
  const low = i32x4.splat(low2)
  const high = i32x4.splat(high2)
  const pw = w + 2
  let count = i32x4.splat(0)
  sobelRow(src, w, h, 0, V, D, slots)
  for (let y = 0; y < h; y++) {
    if (y + 1 < h) sobelRow(src, w, h, y + 1, V, D, slots + <usize>(((y + 1) % 3) * sb))
    const cur = slots + <usize>((y % 3) * sb)
    const p = (y > 0 ? slots + <usize>(((y - 1) % 3) * sb) : cur) + magOff
    const n = (y + 1 < h ? slots + <usize>(((y + 1) % 3) * sb) : cur) + magOff
    const c = cur + magOff
    const gxRow = cur
    const gyRow = cur + gyOff
    const out = cls + <usize>((y + 1) * pw + 1)
    // Blocks of 16 may run past the row: those bytes land on the next row (rewritten when its turn
    // comes) or on the border and the slack, cleared below.
    for (let x = 0; x < w; x += 16) {
      // most blocks of a photo hold no candidate at all: one test for 16 pixels
      const m = c + <usize>(4 * x + 4)
      const any = v128.or(v128.or(i32x4.ge_s(v128.load(m), low), i32x4.ge_s(v128.load(m, 16), low)),
        v128.or(i32x4.ge_s(v128.load(m, 32), low), i32x4.ge_s(v128.load(m, 48), low)))
      if (!v128.any_true(any)) { v128.store(out + x, i32x4.splat(0)); continue }
      const k0 = classify4(p, c, n, gxRow, gyRow, x, low, high)
      const k1 = classify4(p, c, n, gxRow, gyRow, x + 4, low, high)
      const k2 = classify4(p, c, n, gxRow, gyRow, x + 8, low, high)
      const k3 = classify4(p, c, n, gxRow, gyRow, x + 12, low, high)
      const b = i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_s(k0, k1), i16x8.narrow_i32x4_s(k2, k3))
      v128.store(out + x, b)
      if (x + 16 > w) {
        // only lanes inside the row count
        const inside = i8x16.gt_u(i8x16.splat(<i8>(w - x)), v128(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15))
        count = i32x4.add(count, i32x4.extadd_pairwise_i16x8_u(i16x8.extadd_pairwise_i8x16_u(i8x16.min_u(v128.and(b, inside), i8x16.splat(1)))))
      } else {
        count = i32x4.add(count, i32x4.extadd_pairwise_i16x8_u(i16x8.extadd_pairwise_i8x16_u(i8x16.min_u(b, i8x16.splat(1)))))
      }
    }
  }
  const size = pw * (h + 2)
  memory.fill(cls, 0, pw + 1)
  for (let y = 1; y <= h; y++) store<u16>(cls + <usize>(y * pw + w + 1), 0)
  memory.fill(cls + <usize>(size - pw), 0, pw + 16)
  return i32x4.extract_lane(count, 0) + i32x4.extract_lane(count, 1) + i32x4.extract_lane(count, 2) + i32x4.extract_lane(count, 3)
}

/**
 * Bounded hysteresis on cls (from classify): strong pixels (2) seed a breadth-first search that turns
 * weak pixels (1) into strong ones, one ring per step for `reach` steps, so a weak pixel is kept exactly
 * when some path of at most `reach` 8-connected steps through weak pixels joins it to a strong one
 * (whatever the visiting order). queue: room for classify's count of i32.
 */
export function hysteresis (cls: usize, w: i32, h: i32, reach: i32, queue: usize): void {
  const pw = w + 2
  const size = pw * (h + 2)
  const two = i8x16.splat(2)
  let tail = 0
  for (let i = 0; i < size; i += 16) {
    if (!v128.any_true(i8x16.eq(v128.load(cls + i), two))) continue
    const end = min(i + 16, size)
    for (let j = i; j < end; j++) if (load<u8>(cls + j) === 2) { store<i32>(queue + (<usize>tail << 2), j); tail++ }
  }
  let head = 0
  for (let step = 0; step < reach && head < tail; step++) {
    const end = tail
    for (; head < end; head++) {
      const i = cls + <usize>load<i32>(queue + (<usize>head << 2))
      tail = visit(i - pw - 1, cls, queue, tail)
      tail = visit(i - pw, cls, queue, tail)
      tail = visit(i - pw + 1, cls, queue, tail)
      tail = visit(i - 1, cls, queue, tail)
      tail = visit(i + 1, cls, queue, tail)
      tail = visit(i + pw - 1, cls, queue, tail)
      tail = visit(i + pw, cls, queue, tail)
      tail = visit(i + pw + 1, cls, queue, tail)
    }
  }
}

// @ts-ignore: decorator
@inline function visit (j: usize, cls: usize, queue: usize, tail: i32): i32 {
  if (load<u8>(j) !== 1) return tail
  store<u8>(j, 2)
  store<i32>(queue + (<usize>tail << 2), <i32>(j - cls))
  return tail + 1
}

/** dst (w x h) = 255 where cls is strong, else 0 (drops cls's border). */
export function maskOut (cls: usize, w: i32, h: i32, dst: usize): void {
  const pw = w + 2
  const two = i8x16.splat(2)
  for (let y = 0; y < h; y++) {
    const src = cls + <usize>((y + 1) * pw + 1)
    const out = dst + <usize>(y * w)
    let x = 0
    for (; x + 16 <= w; x += 16) v128.store(out + x, i8x16.eq(v128.load(src + x), two))
    for (; x < w; x++) store<u8>(out + x, load<u8>(src + x) === 2 ? 255 : 0)
  }
}

/** dst (2 channels) = plane as grey with the alpha (last channel) of img (ch channels); n = pixels. */
export function withAlpha (plane: usize, img: usize, ch: i32, dst: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    store<u8>(dst + 2 * i, load<u8>(plane + i))
    store<u8>(dst + 2 * i + 1, load<u8>(img + <usize>(i * ch + ch - 1)))
  }
}

export function maxFilterScratch (w: i32, h: i32, r: i32): i32 {
  return ((w + 2 * r + 32) & ~15) + w * h + 16
}

/** dst (w x h, 16 bytes of slack after it) = max of src over the (2r + 1)^2 square, edges replicated. */
export function maxFilter (src: usize, w: i32, h: i32, r: i32, dst: usize, scratch: usize): void {
  const row = scratch
  const H = row + <usize>((w + 2 * r + 32) & ~15)
  const span = 2 * r
  // Horizontal pass into H; blocks running past a row land on the next one, rewritten in turn.
  for (let y = 0; y < h; y++) {
    const s = src + <usize>(y * w)
    memory.fill(row, load<u8>(s), r)
    memory.copy(row + r, s, w)
    memory.fill(row + <usize>(r + w), load<u8>(s + w - 1), r)
    const out = H + <usize>(y * w)
    for (let x = 0; x < w; x += 16) {
      let m = v128.load(row + x)
      for (let k = 1; k <= span; k++) m = i8x16.max_u(m, v128.load(row + x + k))
      v128.store(out + x, m)
    }
  }
  for (let y = 0; y < h; y++) {
    const top = max(0, y - r)
    const bottom = min(h - 1, y + r)
    const out = dst + <usize>(y * w)
    for (let x = 0; x < w; x += 16) {
      let m = v128.load(H + <usize>(top * w + x))
      for (let yy = top + 1; yy <= bottom; yy++) m = i8x16.max_u(m, v128.load(H + <usize>(yy * w + x)))
      v128.store(out + x, m)
    }
  }
}

/**
 * dst = img as RGB (grey repeated; alpha copied, last), with (r, g, b) where mask is nonzero. img has ch
 * channels; dst has 3, or 4 when img has alpha; n = pixels.
 */
export function draw (img: usize, ch: i32, mask: usize, n: i32, dst: usize, r: u8, g: u8, b: u8): void {
  const outCh = ch === 2 || ch === 4 ? 4 : 3
  if (ch >= 3) {
    memory.copy(dst, img, n * ch)
  } else {
    for (let i = 0; i < n; i++) {
      const v = load<u8>(img + <usize>(i * ch))
      const o = dst + <usize>(i * outCh)
      store<u8>(o, v); store<u8>(o + 1, v); store<u8>(o + 2, v)
      if (outCh === 4) store<u8>(o + 3, load<u8>(img + <usize>(i * ch + 1)))
    }
  }
  const zero = i8x16.splat(0)
  for (let i = 0; i < n; i += 16) {
    if (!v128.any_true(i8x16.ne(v128.load(mask + i), zero))) continue
    const end = min(i + 16, n)
    for (let j = i; j < end; j++) {
      if (load<u8>(mask + j) === 0) continue
      const o = dst + <usize>(j * outCh)
      store<u8>(o, r); store<u8>(o + 1, g); store<u8>(o + 2, b)
    }
  }
}
