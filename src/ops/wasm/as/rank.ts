// Rank filters (AssemblyScript, compiled by scripts/build-wasm.ts): median, minimum (erode) and maximum
// (dilate) over a (2r+1)^2 window, per colour channel, edges replicated, alpha copied. Images are 8-bit
// interleaved with `ch` channels (alpha last for 2 and 4), `n` = width * ch bytes per row. The caller
// (src/ops/kernels/rank.ts) passes every buffer; the sizes each function needs are stated on it.
//
// The SIMD paths work on the interleaved rows directly, so horizontal neighbours are `ch` bytes apart and a
// vector computes 16 / ch pixels at once; they need n >= 16 (the last vector of a row overlaps the one
// before it, which recomputes the same bytes). Narrower images go through the scalar paths.

// @ts-ignore: decorator
@inline function pick (a: v128, b: v128, isMax: bool): v128 {
  return isMax ? i8x16.max_u(a, b) : i8x16.min_u(a, b)
}

// @ts-ignore: decorator
@inline function pick1 (a: u32, b: u32, isMax: bool): u32 {
  return isMax ? (a > b ? a : b) : (a < b ? a : b)
}

// @ts-ignore: decorator
@inline function clampRow (y: i32, h: i32): i32 {
  return y < 0 ? 0 : y >= h ? h - 1 : y
}

/** 0xff on the alpha lanes of 16 interleaved bytes whose first byte starts a pixel (zero without alpha). */
// @ts-ignore: decorator
@inline function alphaLanes (ch: i32): v128 {
  if (ch === 4) return i32x4.splat(0xff000000)
  if (ch === 2) return i16x8.splat(<i16>0xff00)
  return i32x4.splat(0)
}

/** Copies the alpha bytes of one row (n >= 16) from src into dst. */
// @ts-ignore: decorator
@inline function keepAlpha (dst: usize, src: usize, n: i32, ch: i32): void {
  if (ch !== 2 && ch !== 4) return
  const m = alphaLanes(ch)
  for (let x = 0; x < n; x += 16) {
    const o = x + 16 <= n ? x : n - 16 // n and 16 are multiples of ch, so the lanes stay in phase
    v128.store(dst + o, v128.bitselect(v128.load(src + o), v128.load(dst + o), m))
  }
}

/** Replicates the first and last pixel of the n-byte row at `row` into the r * ch bytes before and after it. */
function padEnds (row: usize, n: i32, ch: i32, r: i32): void {
  const last = row + n - ch
  for (let i = 1; i <= r; i++) {
    memory.copy(row - i * ch, row, ch)
    memory.copy(last + i * ch, last, ch)
  }
}

/** acc[x] = pick(acc[x], other[x]) for n >= 16 bytes; idempotent, so the overlapping last vector is harmless. */
// @ts-ignore: decorator
@inline function pickInto (acc: usize, other: usize, n: i32, isMax: bool): void {
  for (let x = 0; x < n; x += 16) {
    const o = x + 16 <= n ? x : n - 16
    v128.store(acc + o, pick(v128.load(acc + o), v128.load(other + o), isMax))
  }
}

// ---- erode / dilate: separable, vertical pass into a padded row, then horizontal pass ----

/**
 * Minimum or maximum filter, SIMD (n >= 16). row: (w + 2r) * ch + 16 bytes. For r > DIRECT_R the vertical
 * pass is van Herk / Gil-Werman over blocks of 2r + 1 rows, which needs g and hs: (h + 2r) * n bytes each
 * (pass 0 otherwise), and the horizontal pass is a log-step doubling of the window in place.
 */
// @ts-ignore: decorator
@inline function extremum (src: usize, dst: usize, w: i32, h: i32, ch: i32, r: i32, row: usize, g: usize, hs: usize, isMax: bool): void {
  const n = w * ch
  const k = 2 * r + 1
  const mid = row + r * ch
  const direct = r <= DIRECT_R
  if (!direct) vanHerkColumns(src, n, h, r, g, hs, isMax)
  for (let y = 0; y < h; y++) {
    if (direct) {
      memory.copy(mid, src + y * n, n)
      for (let d = 1; d <= r; d++) {
        pickInto(mid, src + clampRow(y - d, h) * n, n, isMax)
        pickInto(mid, src + clampRow(y + d, h) * n, n, isMax)
      }
    } else {
      // window of padded rows y .. y + 2r: suffix minimum of its first block part, prefix of its last
      const a = hs + y * n
      const b = g + (y + 2 * r) * n
      for (let x = 0; x < n; x += 16) {
        const o = x + 16 <= n ? x : n - 16
        v128.store(mid + o, pick(v128.load(a + o), v128.load(b + o), isMax))
      }
    }
    padEnds(mid, n, ch, r)
    const out = dst + y * n
    if (r <= DIRECT_R) {
      for (let x = 0; x < n; x += 16) {
        const o = x + 16 <= n ? x : n - 16
        const p = row + o
        let v = v128.load(p)
        for (let i = 1; i < k; i++) v = pick(v, v128.load(p + i * ch), isMax)
        v128.store(out + o, v)
      }
    } else {
      // m_2s[x] = pick(m_s[x], m_s[x + s]) in place, until 2s > k; then two overlapping windows of s cover k
      let s = 1
      let len = n + 2 * r * ch
      while (2 * s <= k) {
        const off = s * ch
        len -= off
        let x = 0
        for (; x + 16 <= len; x += 16) v128.store(row + x, pick(v128.load(row + x), v128.load(row + x + off), isMax))
        for (; x < len; x++) store<u8>(row + x, pick1(load<u8>(row + x), load<u8>(row + x + off), isMax))
        s *= 2
      }
      const off = (k - s) * ch
      for (let x = 0; x < n; x += 16) {
        const o = x + 16 <= n ? x : n - 16
        v128.store(out + o, pick(v128.load(row + o), v128.load(row + o + off), isMax))
      }
    }
    keepAlpha(out, src + y * n, n, ch)
  }
}

/** Above this radius the vertical pass is van Herk / Gil-Werman and the horizontal one log-step doubling. */
const DIRECT_R = 3

/**
 * Padded row i is source row clamp(i - r). Per block of k = 2r + 1 padded rows, g holds running picks from
 * the block start and hs running picks to the block end, so any k consecutive rows are pick(hs[i], g[i + 2r]).
 */
// @ts-ignore: decorator
@inline function vanHerkColumns (src: usize, n: i32, h: i32, r: i32, g: usize, hs: usize, isMax: bool): void {
  const k = 2 * r + 1
  const rows = h + 2 * r
  for (let i = 0; i < rows; i++) {
    const f = src + clampRow(i - r, h) * n
    const gi = g + i * n
    if (i % k === 0) memory.copy(gi, f, n)
    else {
      memory.copy(gi, gi - n, n)
      pickInto(gi, f, n, isMax)
    }
  }
  for (let i = rows - 1; i >= 0; i--) {
    const f = src + clampRow(i - r, h) * n
    const hi = hs + i * n
    if (i % k === k - 1 || i === rows - 1) memory.copy(hi, f, n)
    else {
      memory.copy(hi, hi + n, n)
      pickInto(hi, f, n, isMax)
    }
  }
}

export function erode (src: usize, dst: usize, w: i32, h: i32, ch: i32, r: i32, row: usize, g: usize, hs: usize): void {
  extremum(src, dst, w, h, ch, r, row, g, hs, false)
}

export function dilate (src: usize, dst: usize, w: i32, h: i32, ch: i32, r: i32, row: usize, g: usize, hs: usize): void {
  extremum(src, dst, w, h, ch, r, row, g, hs, true)
}

/** Scalar minimum / maximum for narrow images (any n); row: (w + 2r) * ch bytes. */
export function extremumNarrow (src: usize, dst: usize, w: i32, h: i32, ch: i32, r: i32, row: usize, isMax: bool): void {
  const n = w * ch
  const mid = row + r * ch
  const colour = ch === 2 || ch === 4 ? ch - 1 : ch
  for (let y = 0; y < h; y++) {
    memory.copy(mid, src + y * n, n)
    for (let d = 1; d <= r; d++) {
      const a = src + clampRow(y - d, h) * n
      const b = src + clampRow(y + d, h) * n
      for (let x = 0; x < n; x++) {
        store<u8>(mid + x, pick1(pick1(load<u8>(mid + x), load<u8>(a + x), isMax), load<u8>(b + x), isMax))
      }
    }
    padEnds(mid, n, ch, r)
    const out = dst + y * n
    for (let x = 0; x < n; x++) {
      let v: u32 = load<u8>(row + x)
      for (let i = 1; i <= 2 * r; i++) v = pick1(v, load<u8>(row + x + i * ch), isMax)
      store<u8>(out + x, (x % ch) < colour ? <u8>v : load<u8>(src + y * n + x))
    }
  }
}

// ---- median ----

// @ts-ignore: decorator
@inline function med3 (a: v128, b: v128, c: v128): v128 {
  return i8x16.max_u(i8x16.min_u(a, b), i8x16.min_u(i8x16.max_u(a, b), c))
}

/**
 * 3x3 median, SIMD (n >= 16). Each column of three is sorted once into lo / mid / hi rows; the median of
 * the nine is then med3(max of the three lows, med3 of the three mids, min of the three highs), exactly.
 * sorted: three padded rows of (w + 2) * ch + 16 bytes each, back to back.
 */
export function median3 (src: usize, dst: usize, w: i32, h: i32, ch: i32, sorted: usize): void {
  const n = w * ch
  const stride = ((w + 2) * ch + 31) & ~15
  const lo = sorted + ch
  const md = lo + stride
  const hi = md + stride
  for (let y = 0; y < h; y++) {
    const a = src + clampRow(y - 1, h) * n
    const b = src + y * n
    const c = src + clampRow(y + 1, h) * n
    for (let x = 0; x < n; x += 16) {
      const o = x + 16 <= n ? x : n - 16
      const va = v128.load(a + o)
      const vb = v128.load(b + o)
      const vc = v128.load(c + o)
      const l1 = i8x16.min_u(va, vb)
      const h1 = i8x16.max_u(va, vb)
      v128.store(lo + o, i8x16.min_u(l1, vc))
      v128.store(hi + o, i8x16.max_u(h1, vc))
      v128.store(md + o, i8x16.max_u(l1, i8x16.min_u(h1, vc)))
    }
    padEnds(lo, n, ch, 1)
    padEnds(md, n, ch, 1)
    padEnds(hi, n, ch, 1)
    const out = dst + y * n
    for (let x = 0; x < n; x += 16) {
      const o = x + 16 <= n ? x : n - 16
      const l = i8x16.max_u(i8x16.max_u(v128.load(lo + o - ch), v128.load(lo + o)), v128.load(lo + o + ch))
      const m = med3(v128.load(md + o - ch), v128.load(md + o), v128.load(md + o + ch))
      const u = i8x16.min_u(i8x16.min_u(v128.load(hi + o - ch), v128.load(hi + o)), v128.load(hi + o + ch))
      v128.store(out + o, med3(l, m, u))
    }
    keepAlpha(out, b, n, ch)
  }
}

/**
 * 5x5 median, SIMD (n >= 16), as a separable selection network (after Adams, "Fast median filters using
 * separable sorting networks", 2021). Per output row: each column of five is sorted once (rows r0..r4);
 * each pair of neighbouring sorted columns is merged once into ten sorted values (rows q0..q9), and every
 * pair is shared by two windows; a window's median is then selected from its left pair, its right pair and
 * its last column by a min/max network pruned to the median (48 ops instead of the 99 compare-exchanges of
 * a 25-element network). The networks were generated offline: Batcher's odd-even merge for the pairs, and
 * for the selection a greedy search that only compares values whose order is not already implied and drops
 * values that can no longer be the median; the tests check it against the reference on noise and ties.
 * buf: 15 rows of stride ((w + 4) * ch + 31) & ~15 bytes; each row holds pixel positions -2 .. w + 1.
 */
export function median5 (src: usize, dst: usize, w: i32, h: i32, ch: i32, buf: usize): void {
  const n = w * ch
  const stride = <usize>(((w + 4) * ch + 31) & ~15)
  const r0 = buf; const r1 = r0 + stride; const r2 = r1 + stride; const r3 = r2 + stride; const r4 = r3 + stride
  const q0 = r4 + stride; const q1 = q0 + stride; const q2 = q1 + stride; const q3 = q2 + stride; const q4 = q3 + stride
  const q5 = q4 + stride; const q6 = q5 + stride; const q7 = q6 + stride; const q8 = q7 + stride; const q9 = q8 + stride
  const edge = 2 * ch
  const pairs = n + edge // pairs start at positions -2 .. w - 1
  for (let y = 0; y < h; y++) {
    const a0 = src + clampRow(y - 2, h) * n
    const a1 = src + clampRow(y - 1, h) * n
    const a2 = src + y * n
    const a3 = src + clampRow(y + 1, h) * n
    const a4 = src + clampRow(y + 2, h) * n
    for (let x = 0; x < n; x += 16) {
      const p = x + 16 <= n ? x : n - 16
      const o = p + edge
      const s0 = v128.load(a0 + p)
      const s1 = v128.load(a1 + p)
      const s2 = v128.load(a2 + p)
      const s3 = v128.load(a3 + p)
      const s4 = v128.load(a4 + p)
      const u0 = i8x16.min_u(s0, s1)
      const u1 = i8x16.max_u(s0, s1)
      const u2 = i8x16.min_u(s3, s4)
      const u3 = i8x16.max_u(s3, s4)
      const u4 = i8x16.min_u(s2, u3)
      const u5 = i8x16.max_u(s2, u3)
      const u6 = i8x16.min_u(u4, u2)
      const u7 = i8x16.max_u(u4, u2)
      const u8 = i8x16.min_u(u0, u7)
      const u9 = i8x16.max_u(u0, u7)
      const u10 = i8x16.min_u(u8, u6)
      const u11 = i8x16.max_u(u8, u6)
      const u12 = i8x16.min_u(u1, u5)
      const u13 = i8x16.max_u(u1, u5)
      const u14 = i8x16.min_u(u12, u9)
      const u15 = i8x16.max_u(u12, u9)
      const u16 = i8x16.min_u(u14, u11)
      const u17 = i8x16.max_u(u14, u11)
      v128.store(r0 + o, u10)
      v128.store(r1 + o, u16)
      v128.store(r2 + o, u17)
      v128.store(r3 + o, u15)
      v128.store(r4 + o, u13)
    }
    padEnds(r0 + edge, n, ch, 2)
    padEnds(r1 + edge, n, ch, 2)
    padEnds(r2 + edge, n, ch, 2)
    padEnds(r3 + edge, n, ch, 2)
    padEnds(r4 + edge, n, ch, 2)
    for (let x = 0; x < pairs; x += 16) {
      const o = x + 16 <= pairs ? x : pairs - 16
      const c0_0 = v128.load(r0 + o)
      const c0_1 = v128.load(r1 + o)
      const c0_2 = v128.load(r2 + o)
      const c0_3 = v128.load(r3 + o)
      const c0_4 = v128.load(r4 + o)
      const c1_0 = v128.load(r0 + o + ch)
      const c1_1 = v128.load(r1 + o + ch)
      const c1_2 = v128.load(r2 + o + ch)
      const c1_3 = v128.load(r3 + o + ch)
      const c1_4 = v128.load(r4 + o + ch)
      const t10 = i8x16.min_u(c0_0, c1_0)
      const t11 = i8x16.max_u(c0_0, c1_0)
      const t12 = i8x16.min_u(c0_4, c1_4)
      const t13 = i8x16.max_u(c0_4, c1_4)
      const t14 = i8x16.min_u(t12, t11)
      const t15 = i8x16.max_u(t12, t11)
      const t16 = i8x16.min_u(c0_2, c1_2)
      const t17 = i8x16.max_u(c0_2, c1_2)
      const t18 = i8x16.min_u(t16, t14)
      const t19 = i8x16.max_u(t16, t14)
      const t20 = i8x16.min_u(t17, t15)
      const t21 = i8x16.max_u(t17, t15)
      const t22 = i8x16.min_u(c0_1, c1_1)
      const t23 = i8x16.max_u(c0_1, c1_1)
      const t24 = i8x16.min_u(c0_3, c1_3)
      const t25 = i8x16.max_u(c0_3, c1_3)
      const t26 = i8x16.min_u(t24, t23)
      const t27 = i8x16.max_u(t24, t23)
      const t28 = i8x16.min_u(t22, t18)
      const t29 = i8x16.max_u(t22, t18)
      const t30 = i8x16.min_u(t26, t19)
      const t31 = i8x16.max_u(t26, t19)
      const t32 = i8x16.min_u(t27, t20)
      const t33 = i8x16.max_u(t27, t20)
      const t34 = i8x16.min_u(t25, t21)
      const t35 = i8x16.max_u(t25, t21)
      v128.store(q0 + o, t10)
      v128.store(q1 + o, t28)
      v128.store(q2 + o, t29)
      v128.store(q3 + o, t30)
      v128.store(q4 + o, t31)
      v128.store(q5 + o, t32)
      v128.store(q6 + o, t33)
      v128.store(q7 + o, t34)
      v128.store(q8 + o, t35)
      v128.store(q9 + o, t13)
    }
    const out = dst + y * n
    for (let x = 0; x < n; x += 16) {
      const o = x + 16 <= n ? x : n - 16
      const c0_0 = v128.load(q0 + o)
      const c0_1 = v128.load(q1 + o)
      const c0_2 = v128.load(q2 + o)
      const c0_3 = v128.load(q3 + o)
      const c0_4 = v128.load(q4 + o)
      const c0_5 = v128.load(q5 + o)
      const c0_6 = v128.load(q6 + o)
      const c0_7 = v128.load(q7 + o)
      const c0_8 = v128.load(q8 + o)
      const c0_9 = v128.load(q9 + o)
      const c1_0 = v128.load(q0 + o + edge)
      const c1_1 = v128.load(q1 + o + edge)
      const c1_2 = v128.load(q2 + o + edge)
      const c1_3 = v128.load(q3 + o + edge)
      const c1_4 = v128.load(q4 + o + edge)
      const c1_5 = v128.load(q5 + o + edge)
      const c1_6 = v128.load(q6 + o + edge)
      const c1_7 = v128.load(q7 + o + edge)
      const c1_8 = v128.load(q8 + o + edge)
      const c1_9 = v128.load(q9 + o + edge)
      const c2_0 = v128.load(r0 + o + 2 * edge)
      const c2_1 = v128.load(r1 + o + 2 * edge)
      const c2_2 = v128.load(r2 + o + 2 * edge)
      const c2_3 = v128.load(r3 + o + 2 * edge)
      const c2_4 = v128.load(r4 + o + 2 * edge)
      const t26 = i8x16.max_u(c0_0, c1_6)
      const t27 = i8x16.min_u(c0_3, c1_9)
      const t30 = i8x16.max_u(c0_1, c1_5)
      const t31 = i8x16.min_u(c0_4, c1_8)
      const t34 = i8x16.max_u(c0_2, c1_4)
      const t35 = i8x16.min_u(c0_5, c1_7)
      const t37 = i8x16.min_u(c0_6, t26)
      const t40 = i8x16.max_u(c1_3, t27)
      const t41 = i8x16.min_u(c0_7, t30)
      const t44 = i8x16.max_u(c1_2, t31)
      const t45 = i8x16.min_u(c0_8, t34)
      const t48 = i8x16.max_u(c1_1, t35)
      const t49 = i8x16.min_u(c0_9, t40)
      const t52 = i8x16.max_u(c1_0, t37)
      const t53 = i8x16.min_u(c2_0, t41)
      const t54 = i8x16.max_u(c2_0, t41)
      const t56 = i8x16.max_u(t44, t53)
      const t57 = i8x16.min_u(c2_1, t45)
      const t58 = i8x16.max_u(c2_1, t45)
      const t59 = i8x16.min_u(c2_2, t48)
      const t60 = i8x16.max_u(c2_2, t48)
      const t61 = i8x16.min_u(c2_3, t49)
      const t62 = i8x16.max_u(c2_3, t49)
      const t63 = i8x16.min_u(c2_4, t52)
      const t64 = i8x16.max_u(c2_4, t52)
      const t65 = i8x16.min_u(t54, t64)
      const t67 = i8x16.min_u(t56, t57)
      const t68 = i8x16.max_u(t56, t57)
      const t70 = i8x16.max_u(t59, t67)
      const t71 = i8x16.min_u(t58, t60)
      const t72 = i8x16.max_u(t58, t60)
      const t73 = i8x16.min_u(t62, t72)
      const t75 = i8x16.min_u(t61, t71)
      const t76 = i8x16.max_u(t61, t71)
      const t77 = i8x16.min_u(t63, t65)
      const t78 = i8x16.max_u(t63, t65)
      const t79 = i8x16.min_u(t73, t78)
      const t82 = i8x16.max_u(t75, t77)
      const t83 = i8x16.min_u(t68, t70)
      const t84 = i8x16.max_u(t68, t70)
      const t85 = i8x16.min_u(t76, t79)
      const t86 = i8x16.max_u(t76, t79)
      const t88 = i8x16.max_u(t83, t85)
      const t89 = i8x16.min_u(t84, t86)
      const t91 = i8x16.min_u(t82, t88)
      const t92 = i8x16.max_u(t82, t88)
      const t94 = i8x16.max_u(t89, t91)
      const t95 = i8x16.min_u(t92, t94)
      v128.store(out + o, t95)
    }
    keepAlpha(out, a2, n, ch)
  }
}

/**
 * Channel c of the interleaved image as a plane padded by r replicated pixels on every side:
 * (w + 2r) * (h + 2r) bytes at dst.
 */
export function padPlane (src: usize, w: i32, h: i32, ch: i32, c: i32, r: i32, dst: usize): void {
  const pw = w + 2 * r
  for (let py = 0; py < h + 2 * r; py++) {
    const s = src + clampRow(py - r, h) * w * ch + c
    const d = dst + py * pw
    const left = load<u8>(s)
    const right = load<u8>(s + (w - 1) * ch)
    memory.fill(d, left, r)
    memory.fill(d + r + w, right, r)
    for (let x = 0; x < w; x++) store<u8>(d + r + x, load<u8>(s + x * ch))
  }
}

/**
 * Median of any radius by Huang's sliding histogram on a padded plane (padPlane), written to channel c
 * of dst (ch channels). hist: 256 i32. Moving right swaps one column of the window and the median is
 * found by walking from the previous one.
 */
export function medianHuang (p: usize, w: i32, h: i32, r: i32, dst: usize, ch: i32, c: i32, hist: usize): void {
  const pw = w + 2 * r
  const side = 2 * r + 1
  const k = (side * side - 1) / 2
  for (let y = 0; y < h; y++) {
    memory.fill(hist, 0, 1024)
    for (let dy = 0; dy < side; dy++) {
      const o = p + (y + dy) * pw
      for (let dx = 0; dx < side; dx++) {
        const q = hist + (<usize>load<u8>(o + dx) << 2)
        store<i32>(q, load<i32>(q) + 1)
      }
    }
    // Invariant: lt = number of window values below m, and lt <= k < lt + hist[m].
    let m = 0
    let lt = 0
    while (lt + load<i32>(hist + (m << 2)) <= k) { lt += load<i32>(hist + (m << 2)); m++ }
    const out = dst + y * w * ch + c
    store<u8>(out, <u8>m)
    for (let x = 1; x < w; x++) {
      let o = p + y * pw + x - 1
      for (let dy = 0; dy < side; dy++) {
        const a = <i32>load<u8>(o)
        const qa = hist + (<usize>a << 2)
        store<i32>(qa, load<i32>(qa) - 1)
        if (a < m) lt--
        const b = <i32>load<u8>(o + side)
        const qb = hist + (<usize>b << 2)
        store<i32>(qb, load<i32>(qb) + 1)
        if (b < m) lt++
        o += pw
      }
      while (lt > k) { m--; lt -= load<i32>(hist + (m << 2)) }
      while (lt + load<i32>(hist + (m << 2)) <= k) { lt += load<i32>(hist + (m << 2)); m++ }
      store<u8>(out + x * ch, <u8>m)
    }
  }
}

/** Copies the alpha bytes (every ch-th, the last of each pixel) of n bytes from src to dst. */
export function copyAlpha (src: usize, dst: usize, n: i32, ch: i32): void {
  for (let j = ch - 1; j < n; j += ch) store<u8>(dst + j, load<u8>(src + j))
}
