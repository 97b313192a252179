// Gaussian blur, unsharp mask and emboss (AssemblyScript, compiled by scripts/build-wasm.ts). Images are
// 8-bit interleaved with `ch` channels, alpha last for 2 and 4; a row is n = width * ch bytes, and the
// same-channel neighbour of a byte is `ch` bytes away, so 16 consecutive bytes are 16 independent lanes
// whatever the channel count. Alpha lanes are computed like the others and replaced by the source bytes
// at the store. The arithmetic is spelled out in src/ops/kernels/gaussian.ts (blurPlan) and mirrored by
// test/ops/reference/gaussian.ts. No allocation here: the caller passes every buffer.

/** Byte mask with 0xff on the alpha lanes of 16 interleaved bytes (zero for 1 and 3 channels). */
// @ts-ignore: decorator
@inline function alphaLanes (ch: i32): v128 {
  if (ch === 4) return i32x4.splat(0xff000000)
  if (ch === 2) return i16x8.splat(<i16>0xff00)
  return i32x4.splat(0)
}

/**
 * Copies row `src` (n bytes) to `pad`, with `r` copies of its first pixel before and of its last after:
 * the edge-replicated row emboss reads.
 */
function padRow (src: usize, pad: usize, n: i32, ch: i32, r: i32): void {
  memory.copy(pad + r * ch, src, n)
  for (let k = 0; k < r; k++) {
    for (let c = 0; c < ch; c++) {
      store<u8>(pad + k * ch + c, load<u8>(src + c))
      store<u8>(pad + (r + n / ch + k) * ch + c, load<u8>(src + n - ch + c))
    }
  }
}

/**
 * Vertical pass, 8-bit weights (sum 256; w1 = one i16x8 splat per half weight k = 0..r) over n bytes of
 * the rows in `rows` (the centre row, then rows y - k, y + k at rows + 8k): the exact u16 sum H (<= 255 *
 * 256) becomes h = (H + 1) >> 1 (7 fraction bits), stored as h - 16384 so that two lanes of h add to a
 * signed i16 (see hsums). Writes roundup(n, 16) lanes to out.
 */
function vpass8 (rows: usize, out: usize, n: i32, r: i32, w1: usize): void {
  const bias = i16x8.splat(16384)
  const zero = i16x8.splat(0)
  const w0 = v128.load(w1)
  const c = load<u32>(rows)
  for (let i = 0; i < n; i += 16) {
    let lo = i16x8.mul(v128.load8x8_u(c + i), w0)
    let hi = i16x8.mul(v128.load8x8_u(c + i, 8), w0)
    for (let k = 1; k <= r; k++) {
      const wk = v128.load(w1 + 16 * k)
      const a = load<u32>(rows + 8 * k) + i
      const b = load<u32>(rows + 8 * k, 4) + i
      // Wrapping u16 arithmetic: a product may wrap, the exact sum (< 2^16) does not.
      lo = i16x8.add(lo, i16x8.mul(i16x8.add(v128.load8x8_u(a), v128.load8x8_u(b)), wk))
      hi = i16x8.add(hi, i16x8.mul(i16x8.add(v128.load8x8_u(a, 8), v128.load8x8_u(b, 8)), wk))
    }
    v128.store(out + 2 * i, i16x8.sub(i16x8.avgr_u(lo, zero), bias))
    v128.store(out + 2 * i + 16, i16x8.sub(i16x8.avgr_u(hi, zero), bias))
  }
}

/**
 * Vertical pass, 15-bit weights (sum 2^15; w1 = one i32x4 splat per pair (w[2j], w[2j+1]) of half
 * weights, packed low first): h = (H + 128) >> 8, stored as h - 16384. Pair sums of rows y - k, y + k
 * for neighbouring k are interleaved so one signed dot product applies two weights.
 */
function vpass15 (rows: usize, out: usize, n: i32, r: i32, w1: usize): void {
  const round = i32x4.splat(128 - (16384 << 8))
  const zero = i32x4.splat(0)
  for (let i = 0; i < n; i += 16) {
    let a0 = zero; let a1 = zero; let a2 = zero; let a3 = zero
    for (let k = 0; k <= r; k += 2) {
      const wv = v128.load(w1 + 8 * k)
      const p = load<u32>(rows + 8 * k) + i
      let plo = v128.load8x8_u(p)
      let phi = v128.load8x8_u(p, 8)
      if (k > 0) {
        const m = load<u32>(rows + 8 * k, 4) + i
        plo = i16x8.add(plo, v128.load8x8_u(m))
        phi = i16x8.add(phi, v128.load8x8_u(m, 8))
      }
      let qlo = zero
      let qhi = zero
      if (k < r) {
        const u = load<u32>(rows + 8 * (k + 1)) + i
        const m = load<u32>(rows + 8 * (k + 1), 4) + i
        qlo = i16x8.add(v128.load8x8_u(u), v128.load8x8_u(m))
        qhi = i16x8.add(v128.load8x8_u(u, 8), v128.load8x8_u(m, 8))
      }
      a0 = i32x4.add(a0, i32x4.dot_i16x8_s(i16x8.shuffle(plo, qlo, 0, 8, 1, 9, 2, 10, 3, 11), wv))
      a1 = i32x4.add(a1, i32x4.dot_i16x8_s(i16x8.shuffle(plo, qlo, 4, 12, 5, 13, 6, 14, 7, 15), wv))
      a2 = i32x4.add(a2, i32x4.dot_i16x8_s(i16x8.shuffle(phi, qhi, 0, 8, 1, 9, 2, 10, 3, 11), wv))
      a3 = i32x4.add(a3, i32x4.dot_i16x8_s(i16x8.shuffle(phi, qhi, 4, 12, 5, 13, 6, 14, 7, 15), wv))
    }
    const lo = i16x8.narrow_i32x4_s(i32x4.shr_s(i32x4.add(a0, round), 8), i32x4.shr_s(i32x4.add(a1, round), 8))
    const hi = i16x8.narrow_i32x4_s(i32x4.shr_s(i32x4.add(a2, round), 8), i32x4.shr_s(i32x4.add(a3, round), 8))
    v128.store(out + 2 * i, lo)
    v128.store(out + 2 * i + 16, hi)
  }
}

/**
 * Horizontal pass for 16 lanes at `c` (a pointer into the padded row of h - 16384, u16 lanes): taps
 * are taken as symmetric pairs, P0 = the centre lane, Pk = lane - k ch + lane + k ch (the exact pair sum
 * minus 32768, in a signed i16). Two neighbouring P are interleaved and dotted with their packed weights
 * (one i32x4 splat per pair in w2). The four i32x4 sums are S - 2^29 (S = sum w2[k] h[x + k]), left in
 * the globals below.
 */
let s0: v128 = i32x4.splat(0)
let s1: v128 = i32x4.splat(0)
let s2: v128 = i32x4.splat(0)
let s3: v128 = i32x4.splat(0)

// @ts-ignore: decorator
@inline function hsums (c: usize, r: i32, ch: i32, w2: usize): void {
  const step = 2 * ch
  // P0 with P1.
  let wv = v128.load(w2)
  let a = v128.load(c)
  let b = i16x8.add(v128.load(c - step), v128.load(c + step))
  let e = v128.load(c, 16)
  let d = i16x8.add(v128.load(c - step, 16), v128.load(c + step, 16))
  let a0 = i32x4.dot_i16x8_s(i16x8.shuffle(a, b, 0, 8, 1, 9, 2, 10, 3, 11), wv)
  let a1 = i32x4.dot_i16x8_s(i16x8.shuffle(a, b, 4, 12, 5, 13, 6, 14, 7, 15), wv)
  let a2 = i32x4.dot_i16x8_s(i16x8.shuffle(e, d, 0, 8, 1, 9, 2, 10, 3, 11), wv)
  let a3 = i32x4.dot_i16x8_s(i16x8.shuffle(e, d, 4, 12, 5, 13, 6, 14, 7, 15), wv)
  let g = 1
  for (; 2 * g + 1 <= r; g++) {
    wv = v128.load(w2 + 16 * g)
    const o = 2 * g * step
    const m = c - o
    const p = c + o
    a = i16x8.add(v128.load(m), v128.load(p))
    b = i16x8.add(v128.load(m - step), v128.load(p + step))
    e = i16x8.add(v128.load(m, 16), v128.load(p, 16))
    d = i16x8.add(v128.load(m - step, 16), v128.load(p + step, 16))
    a0 = i32x4.add(a0, i32x4.dot_i16x8_s(i16x8.shuffle(a, b, 0, 8, 1, 9, 2, 10, 3, 11), wv))
    a1 = i32x4.add(a1, i32x4.dot_i16x8_s(i16x8.shuffle(a, b, 4, 12, 5, 13, 6, 14, 7, 15), wv))
    a2 = i32x4.add(a2, i32x4.dot_i16x8_s(i16x8.shuffle(e, d, 0, 8, 1, 9, 2, 10, 3, 11), wv))
    a3 = i32x4.add(a3, i32x4.dot_i16x8_s(i16x8.shuffle(e, d, 4, 12, 5, 13, 6, 14, 7, 15), wv))
  }
  if ((r & 1) === 0) {
    // Pr alone (r even): its partner weight is zero.
    wv = v128.load(w2 + 16 * g)
    const o = r * step
    const z = i32x4.splat(0)
    a = i16x8.add(v128.load(c - o), v128.load(c + o))
    e = i16x8.add(v128.load(c - o, 16), v128.load(c + o, 16))
    a0 = i32x4.add(a0, i32x4.dot_i16x8_s(i16x8.shuffle(a, z, 0, 8, 1, 9, 2, 10, 3, 11), wv))
    a1 = i32x4.add(a1, i32x4.dot_i16x8_s(i16x8.shuffle(a, z, 4, 12, 5, 13, 6, 14, 7, 15), wv))
    a2 = i32x4.add(a2, i32x4.dot_i16x8_s(i16x8.shuffle(e, z, 0, 8, 1, 9, 2, 10, 3, 11), wv))
    a3 = i32x4.add(a3, i32x4.dot_i16x8_s(i16x8.shuffle(e, z, 4, 12, 5, 13, 6, 14, 7, 15), wv))
  }
  s0 = a0; s1 = a1; s2 = a2; s3 = a3
}

/** Blurred bytes from the sums: (S + 2^21) >> 22, S = sum + 2^29. */
// @ts-ignore: decorator
@inline function blurBytes (): v128 {
  const k = i32x4.splat((1 << 29) + (1 << 21))
  const lo = i16x8.narrow_i32x4_u(i32x4.shr_u(i32x4.add(s0, k), 22), i32x4.shr_u(i32x4.add(s1, k), 22))
  const hi = i16x8.narrow_i32x4_u(i32x4.shr_u(i32x4.add(s2, k), 22), i32x4.shr_u(i32x4.add(s3, k), 22))
  return i8x16.narrow_i16x8_u(lo, hi)
}

/** trunc(f32(f32(v + 0.5) + t)) for the 4 i32 lanes v, as i32 (round half up of v + t). */
// @ts-ignore: decorator
@inline function roundAdd (v: v128, t: v128): v128 {
  return i32x4.trunc_sat_f32x4_s(f32x4.add(f32x4.add(f32x4.convert_i32x4_s(v), f32x4.splat(0.5)), t))
}

// @ts-ignore: decorator
@inline function sharpenLane (v: v128, s: v128, a: v128): v128 {
  // D = v * 2^22 - S, exact in i32 (both lie in 0..255 * 2^22).
  const d = i32x4.sub(i32x4.sub(i32x4.shl(v, 22), s), i32x4.splat(1 << 29))
  return roundAdd(v, f32x4.mul(a, f32x4.convert_i32x4_s(d)))
}

/** value + amount * (value - S / 2^22) for 16 source bytes at `src`; a = f32(amount * 2^-22). */
// @ts-ignore: decorator
@inline function sharpenBytes (src: usize, a: v128): v128 {
  const v = v128.load(src)
  const vl = i16x8.extend_low_i8x16_u(v)
  const vh = i16x8.extend_high_i8x16_u(v)
  const o0 = sharpenLane(i32x4.extend_low_i16x8_u(vl), s0, a)
  const o1 = sharpenLane(i32x4.extend_high_i16x8_u(vl), s1, a)
  const o2 = sharpenLane(i32x4.extend_low_i16x8_u(vh), s2, a)
  const o3 = sharpenLane(i32x4.extend_high_i16x8_u(vh), s3, a)
  return i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_s(o0, o1), i16x8.narrow_i32x4_s(o2, o3))
}

/**
 * Blur (amount < 0) or unsharp mask (amount >= 0) of a whole image, row by row: the vertical pass of an
 * output row into one u16 row (with r ch lanes of edge replication on each side), then the horizontal
 * pass from it. Scratch: hrow (2 (2 r ch + roundup(n, 16) + 16) bytes), rows (8 (r + 1) bytes), tmp (32
 * bytes). w1: the vertical weights for vpass8 or vpass15 (shift1 = 0 or 7); w2: the horizontal weights of
 * P0..Pr as packed pairs. The vertical pass reads up to 15 bytes past a row's end (past the image for its
 * last row: into the caller's output or scratch, allocated after it); those lanes are never used.
 */
export function gauss (src: usize, dst: usize, width: i32, height: i32, ch: i32, r: i32, shift1: i32,
  w1: usize, w2: usize, amount: f32, hrow: usize, rows: usize, tmp: usize): void {
  const n = width * ch
  const keep = alphaLanes(ch)
  const a = f32x4.splat(amount * <f32>(1.0 / 4194304.0))
  const sharp = amount >= 0
  const rc = r * ch
  const h = hrow + 2 * rc
  for (let y = 0; y < height; y++) {
    store<u32>(rows, src + y * n)
    for (let k = 1; k <= r; k++) {
      store<u32>(rows + 8 * k, src + max(0, y - k) * n)
      store<u32>(rows + 8 * k + 4, src + min(height - 1, y + k) * n)
    }
    if (shift1 === 0) vpass8(rows, h, n, r, w1)
    else vpass15(rows, h, n, r, w1)
    for (let j = 0; j < rc; j++) {
      store<u16>(hrow + 2 * j, load<u16>(h + 2 * (j % ch)))
      store<u16>(h + 2 * (n + j), load<u16>(h + 2 * (n - ch + j % ch)))
    }
    const srow = src + y * n
    const drow = dst + y * n
    let x = 0
    while (x < n) {
      // The last 16 lanes of a row end at n (overlapping the previous block, which gets the same bytes);
      // a row shorter than 16 bytes goes through tmp.
      const short = n < 16
      const at = short ? 0 : min(x, n - 16)
      let s = srow + at
      if (short) { memory.copy(tmp, srow, n); s = tmp }
      hsums(h + 2 * at, r, ch, w2)
      const v = sharp ? sharpenBytes(s, a) : blurBytes()
      const o = v128.bitselect(v128.load(s), v, keep)
      if (short) { v128.store(tmp + 16, o); memory.copy(drow, tmp + 16, n) } else v128.store(drow + at, o)
      x = at + 16
    }
  }
}

/**
 * Emboss: c + strength * d, d = -2 nw - n - w + e + s + 2 se, edges replicated, rounded half up in f32
 * (trunc(f32(f32(c + 0.5) + f32(strength * d)))). Scratch: pads (3 rows of `stride` >= n + 2 ch + 32
 * bytes), tmp (16 bytes).
 */
export function emboss (src: usize, dst: usize, width: i32, height: i32, ch: i32, strength: f32,
  pads: usize, stride: i32, tmp: usize): void {
  const n = width * ch
  const keep = alphaLanes(ch)
  const st = f32x4.splat(strength)
  for (let y = 0; y < height; y++) {
    // Rows y - 1, y, y + 1 padded; a ring of three would save two copies a row, but they are cheap.
    const p0 = pads
    const p1 = pads + stride
    const p2 = pads + 2 * stride
    padRow(src + max(0, y - 1) * n, p0, n, ch, 1)
    padRow(src + y * n, p1, n, ch, 1)
    padRow(src + min(height - 1, y + 1) * n, p2, n, ch, 1)
    const drow = dst + y * n
    let x = 0
    while (x < n) {
      const at = n < 16 ? 0 : min(x, n - 16)
      const nw = v128.load(p0 + at)
      const nn = v128.load(p0 + ch + at)
      const ww = v128.load(p1 + at)
      const cc = v128.load(p1 + ch + at)
      const ee = v128.load(p1 + 2 * ch + at)
      const ss = v128.load(p2 + ch + at)
      const se = v128.load(p2 + 2 * ch + at)
      const dl = i16x8.add(i16x8.sub(i16x8.add(i16x8.extend_low_i8x16_u(ee), i16x8.extend_low_i8x16_u(ss)),
        i16x8.add(i16x8.extend_low_i8x16_u(nn), i16x8.extend_low_i8x16_u(ww))),
      i16x8.shl(i16x8.sub(i16x8.extend_low_i8x16_u(se), i16x8.extend_low_i8x16_u(nw)), 1))
      const dh = i16x8.add(i16x8.sub(i16x8.add(i16x8.extend_high_i8x16_u(ee), i16x8.extend_high_i8x16_u(ss)),
        i16x8.add(i16x8.extend_high_i8x16_u(nn), i16x8.extend_high_i8x16_u(ww))),
      i16x8.shl(i16x8.sub(i16x8.extend_high_i8x16_u(se), i16x8.extend_high_i8x16_u(nw)), 1))
      const cl = i16x8.extend_low_i8x16_u(cc)
      const chh = i16x8.extend_high_i8x16_u(cc)
      const o0 = roundAdd(i32x4.extend_low_i16x8_u(cl), f32x4.mul(st, f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(dl))))
      const o1 = roundAdd(i32x4.extend_high_i16x8_u(cl), f32x4.mul(st, f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(dl))))
      const o2 = roundAdd(i32x4.extend_low_i16x8_u(chh), f32x4.mul(st, f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(dh))))
      const o3 = roundAdd(i32x4.extend_high_i16x8_u(chh), f32x4.mul(st, f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(dh))))
      const o = v128.bitselect(cc, i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_s(o0, o1), i16x8.narrow_i32x4_s(o2, o3)), keep)
      if (n < 16) { v128.store(tmp, o); memory.copy(drow, tmp, n) } else v128.store(drow + at, o)
      x = at + 16
    }
  }
}
