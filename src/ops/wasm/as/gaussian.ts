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
 * the edge-replicated row the horizontal pass reads.
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
 * Horizontal pass, 8-bit weights (sum 256; w1 = one i16x8 splat per half weight k = 0..r): the exact u16
 * sum h (<= 255 * 256) becomes h7 = (h + 1) >> 1 (7 fraction bits), stored as h7 - 16384 so that two
 * rows add to a signed i16 (see vsums). Writes roundup(n, 16) lanes.
 */
function hpass8 (pad: usize, out: usize, n: i32, ch: i32, r: i32, w1: usize): void {
  const bias = i16x8.splat(16384)
  const zero = i16x8.splat(0)
  const w0 = v128.load(w1)
  for (let i = 0; i < n; i += 16) {
    const c = pad + r * ch + i
    let lo = i16x8.mul(v128.load8x8_u(c), w0)
    let hi = i16x8.mul(v128.load8x8_u(c, 8), w0)
    for (let k = 1; k <= r; k++) {
      const wk = v128.load(w1 + 16 * k)
      const a = c - k * ch
      const b = c + k * ch
      // Wrapping u16 arithmetic: a product may wrap, the exact sum (< 2^16) does not.
      lo = i16x8.add(lo, i16x8.mul(i16x8.add(v128.load8x8_u(a), v128.load8x8_u(b)), wk))
      hi = i16x8.add(hi, i16x8.mul(i16x8.add(v128.load8x8_u(a, 8), v128.load8x8_u(b, 8)), wk))
    }
    v128.store(out + 2 * i, i16x8.sub(i16x8.avgr_u(lo, zero), bias))
    v128.store(out + 2 * i + 16, i16x8.sub(i16x8.avgr_u(hi, zero), bias))
  }
}

/**
 * Horizontal pass, 15-bit weights (sum 2^15; w1 = one i32x4 splat per pair (w[2j], w[2j+1]) of half
 * weights, packed low first): h7 = (sum + 128) >> 8, stored as h7 - 16384. Pair sums p[x - k] + p[x + k]
 * of neighbouring k are interleaved so one signed dot product applies two weights.
 */
function hpass15 (pad: usize, out: usize, n: i32, ch: i32, r: i32, w1: usize): void {
  const round = i32x4.splat(128 - (16384 << 8))
  const zero = i32x4.splat(0)
  for (let i = 0; i < n; i += 16) {
    const c = pad + r * ch + i
    let a0 = zero; let a1 = zero; let a2 = zero; let a3 = zero
    for (let k = 0; k <= r; k += 2) {
      const wv = v128.load(w1 + 8 * k)
      let plo = v128.load8x8_u(c + k * ch)
      let phi = v128.load8x8_u(c + k * ch, 8)
      if (k > 0) {
        plo = i16x8.add(plo, v128.load8x8_u(c - k * ch))
        phi = i16x8.add(phi, v128.load8x8_u(c - k * ch, 8))
      }
      let qlo = zero
      let qhi = zero
      if (k < r) {
        const u = c + (k + 1) * ch
        const m = c - (k + 1) * ch
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
 * Vertical pass for 16 lanes at lane x. The taps are taken as symmetric pairs: P0 = centre + the zero
 * row, Pk = row(y - k) + row(y + k); each stored row is h7 - 16384, so Pk is the exact pair sum minus 32768
 * in a signed i16. Two neighbouring P are interleaved and dotted with their packed weights (one i32x4
 * splat per group in w2); rows holds 4 row pointers per group. The four i32x4 sums are S - 2^29
 * (S = sum w2[k] h7[y + k]), left in the globals below.
 */
let s0: v128 = i32x4.splat(0)
let s1: v128 = i32x4.splat(0)
let s2: v128 = i32x4.splat(0)
let s3: v128 = i32x4.splat(0)

// @ts-ignore: decorator
@inline function vsums (rows: usize, groups: i32, w2: usize, x: i32): void {
  let a0 = i32x4.splat(0); let a1 = a0; let a2 = a0; let a3 = a0
  const off = 2 * x
  for (let g = 0; g < groups; g++) {
    const wv = v128.load(w2 + 16 * g)
    const row = rows + 16 * g
    const p = load<u32>(row) + off
    const q = load<u32>(row, 4) + off
    const u = load<u32>(row, 8) + off
    const v = load<u32>(row, 12) + off
    const a = i16x8.add(v128.load(p), v128.load(q))
    const b = i16x8.add(v128.load(u), v128.load(v))
    const c = i16x8.add(v128.load(p, 16), v128.load(q, 16))
    const d = i16x8.add(v128.load(u, 16), v128.load(v, 16))
    a0 = i32x4.add(a0, i32x4.dot_i16x8_s(i16x8.shuffle(a, b, 0, 8, 1, 9, 2, 10, 3, 11), wv))
    a1 = i32x4.add(a1, i32x4.dot_i16x8_s(i16x8.shuffle(a, b, 4, 12, 5, 13, 6, 14, 7, 15), wv))
    a2 = i32x4.add(a2, i32x4.dot_i16x8_s(i16x8.shuffle(c, d, 0, 8, 1, 9, 2, 10, 3, 11), wv))
    a3 = i32x4.add(a3, i32x4.dot_i16x8_s(i16x8.shuffle(c, d, 4, 12, 5, 13, 6, 14, 7, 15), wv))
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
 * Blur (amount < 0) or unsharp mask (amount >= 0) of a whole image.
 * Scratch: pad (n + 2 r ch + 32 bytes), ring (2r + 2 rows of `stride` bytes, stride >= 2 roundup(n, 16);
 * the last one is the zero row), rows (16 * groups bytes), tmp (32 bytes). w1: weights for hpass8 or
 * hpass15 (shift1 = 0 or 7); w2: the vertical weights of P0..Pr as `groups` packed pairs.
 */
export function gauss (src: usize, dst: usize, width: i32, height: i32, ch: i32, r: i32, shift1: i32,
  w1: usize, w2: usize, amount: f32, pad: usize, ring: usize, stride: i32, rows: usize, tmp: usize): void {
  const n = width * ch
  const taps = 2 * r + 1
  const groups = (r + 2) >> 1
  const keep = alphaLanes(ch)
  const a = f32x4.splat(amount * <f32>(1.0 / 4194304.0))
  const sharp = amount >= 0
  const zeroRow = ring + taps * stride
  memory.fill(zeroRow, 0, stride)
  let next = 0
  for (let y = 0; y < height; y++) {
    const last = min(height - 1, y + r)
    for (; next <= last; next++) {
      padRow(src + next * n, pad, n, ch, r)
      const out = ring + (next % taps) * stride
      if (shift1 === 0) hpass8(pad, out, n, ch, r, w1)
      else hpass15(pad, out, n, ch, r, w1)
    }
    store<u32>(rows, ring + (y % taps) * stride)
    store<u32>(rows + 4, zeroRow)
    for (let k = 1; k <= r; k++) {
      store<u32>(rows + 8 * k, ring + (max(0, y - k) % taps) * stride)
      store<u32>(rows + 8 * k + 4, ring + (min(height - 1, y + k) % taps) * stride)
    }
    if ((r & 1) === 0) { store<u32>(rows + 8 * (r + 1), zeroRow); store<u32>(rows + 8 * (r + 1) + 4, zeroRow) }
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
      vsums(rows, groups, w2, at)
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
