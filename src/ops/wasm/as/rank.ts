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
    copyPixel(row - i * ch, row, ch)
    copyPixel(last + i * ch, last, ch)
  }
}

/** One pixel's ch bytes: a byte loop, since memory.copy of a few bytes is a call into the engine each time. */
// @ts-ignore: decorator
@inline function copyPixel (dst: usize, src: usize, ch: i32): void {
  for (let j = 0; j < ch; j++) store<u8>(dst + j, load<u8>(src + j))
}

// ---- erode / dilate: separable, vertical pass into a padded row, then horizontal pass ----

/**
 * Minimum or maximum filter, SIMD (n >= 16): the vertical pass picks over the window's rows into the middle
 * of a padded row, the horizontal pass picks along it into the output row. Up to radius 3 both
 * passes read every tap; above 3 the vertical pass is van Herk / Gil-Werman (three picks a byte whatever
 * the radius) and the horizontal one doubles the window in place (log2(2r + 1) passes).
 * row: two rows of (w + 2r) * ch + 16 bytes; cols: 0 up to radius 3, else (2r + 2) * n bytes (see vanHerkRow).
 */
// @ts-ignore: decorator
@inline function extremum (src: usize, dst: usize, w: i32, h: i32, ch: i32, r: i32, row: usize, cols: usize, isMax: bool): void {
  const n = w * ch
  const rowBytes = <usize>((w + 2 * r) * ch + 16)
  const midA = row + r * ch
  const midB = midA + rowBytes
  for (let y = 0; y < h; y++) {
    // up to radius 3, two output rows at a time: their windows share 2r rows, picked once
    const pair = r <= 3 && (y & 1) === 0
    if (r <= 3 && !pair) {
      finishRow(dst, src, midB, row + rowBytes, n, ch, r, y, isMax)
      continue
    }
    if (r === 1) columnTaps2(midA, midB, n, src, h, y, 1, isMax)
    else if (r === 2) columnTaps2(midA, midB, n, src, h, y, 2, isMax)
    else if (r === 3) columnTaps2(midA, midB, n, src, h, y, 3, isMax)
    else vanHerkRow(midA, n, src, h, y, r, cols, isMax)
    finishRow(dst, src, midA, row, n, ch, r, y, isMax)
  }
}

/** Pads the vertical result `mid` (inside the padded `row`) and does the horizontal pass into output row y. */
// @ts-ignore: decorator
@inline function finishRow (dst: usize, src: usize, mid: usize, row: usize, n: i32, ch: i32, r: i32, y: i32, isMax: bool): void {
  padEnds(mid, n, ch, r)
  const out = dst + y * n
  if (r === 1) rowTaps(out, row, n, ch, 3, isMax)
  else if (r === 2) rowTaps(out, row, n, ch, 5, isMax)
  else if (r === 3) rowTaps(out, row, n, ch, 7, isMax)
  else rowDoubling(out, row, n, ch, r, isMax)
  keepAlpha(out, src + y * n, n, ch)
}

/**
 * midA = pick over rows y - r .. y + r and midB over rows y + 1 - r .. y + 1 + r (r = 1, 2 or 3, a constant
 * after inlining): the 2r rows they share are picked once.
 */
// @ts-ignore: decorator
@inline function columnTaps2 (midA: usize, midB: usize, n: i32, src: usize, h: i32, y: i32, r: i32, isMax: bool): void {
  const top = src + clampRow(y - r, h) * n
  const bottom = src + clampRow(y + 1 + r, h) * n
  const s0 = src + clampRow(y - r + 1, h) * n
  const s1 = src + clampRow(y - r + 2, h) * n
  const s2 = src + clampRow(y - r + 3, h) * n
  const s3 = src + clampRow(y - r + 4, h) * n
  const s4 = src + clampRow(y - r + 5, h) * n
  const s5 = src + clampRow(y - r + 6, h) * n
  let x = 0
  for (; x < n - 16; x += 16) columnTap2(midA, midB, x, top, bottom, s0, s1, s2, s3, s4, s5, r, isMax)
  columnTap2(midA, midB, n - 16, top, bottom, s0, s1, s2, s3, s4, s5, r, isMax)
}

// @ts-ignore: decorator
@inline function columnTap2 (midA: usize, midB: usize, o: i32, top: usize, bottom: usize, s0: usize, s1: usize, s2: usize, s3: usize, s4: usize, s5: usize, r: i32, isMax: bool): void {
  let v = pick(v128.load(s0 + o), v128.load(s1 + o), isMax)
  if (r > 1) v = pick(pick(v, v128.load(s2 + o), isMax), v128.load(s3 + o), isMax)
  if (r > 2) v = pick(pick(v, v128.load(s4 + o), isMax), v128.load(s5 + o), isMax)
  v128.store(midA + o, pick(v, v128.load(top + o), isMax))
  v128.store(midB + o, pick(v, v128.load(bottom + o), isMax))
}

/** out[x] = pick of row[x + i * ch] for i < taps (taps = 3, 5 or 7). */
// @ts-ignore: decorator
@inline function rowTaps (out: usize, row: usize, n: i32, ch: i32, taps: i32, isMax: bool): void {
  let x = 0
  for (; x < n - 16; x += 16) rowTap(out, row, x, ch, taps, isMax)
  rowTap(out, row, n - 16, ch, taps, isMax)
}

// @ts-ignore: decorator
@inline function rowTap (out: usize, row: usize, o: i32, ch: i32, taps: i32, isMax: bool): void {
  const p = row + o
  let v = pick(pick(v128.load(p), v128.load(p + ch), isMax), v128.load(p + 2 * ch), isMax)
  if (taps > 3) v = pick(pick(v, v128.load(p + 3 * ch), isMax), v128.load(p + 4 * ch), isMax)
  if (taps > 5) v = pick(pick(v, v128.load(p + 5 * ch), isMax), v128.load(p + 6 * ch), isMax)
  v128.store(out + o, v)
}

/** m_2s[x] = pick(m_s[x], m_s[x + s]) in place until 2s > k = 2r + 1; two overlapping windows of s cover k. */
// @ts-ignore: decorator
@inline function rowDoubling (out: usize, row: usize, n: i32, ch: i32, r: i32, isMax: bool): void {
  const k = 2 * r + 1
  let s = 1
  let len = n + 2 * r * ch
  while (2 * s <= k) {
    const off = s * ch
    len -= off
    let x = 0
    // in place and forward: x + off is read before anything at or after it is written
    for (; x + 16 <= len; x += 16) v128.store(row + x, pick(v128.load(row + x), v128.load(row + x + off), isMax))
    for (; x < len; x++) store<u8>(row + x, pick1(load<u8>(row + x), load<u8>(row + x + off), isMax))
    s *= 2
  }
  const off = (k - s) * ch
  let x = 0
  for (; x < n - 16; x += 16) v128.store(out + x, pick(v128.load(row + x), v128.load(row + x + off), isMax))
  v128.store(out + n - 16, pick(v128.load(row + n - 16), v128.load(row + n - 16 + off), isMax))
}

/**
 * Van Herk / Gil-Werman down the columns. Padded row i is source row clamp(i - r); blocks of k = 2r + 1
 * padded rows. Output row y (window: padded rows y .. y + 2r) with y = bk + j is pick(suffix of block b
 * from row y, prefix of block b + 1 up to row y + 2r). At j = 0 the suffixes of block b are computed into
 * cols (k rows); the prefix is a running row (cols + k * n) that grows by one row per output row.
 */
// @ts-ignore: decorator
@inline function vanHerkRow (mid: usize, n: i32, src: usize, h: i32, y: i32, r: i32, cols: usize, isMax: bool): void {
  const k = 2 * r + 1
  const j = y % k
  const start = y - j
  const prefix = cols + k * n
  if (j === 0) {
    let next = cols + (k - 1) * n
    memory.copy(next, src + clampRow(start + k - 1 - r, h) * n, n)
    for (let i = k - 2; i >= 0; i--) {
      const cur = cols + i * n
      const f = src + clampRow(start + i - r, h) * n
      let x = 0
      for (; x < n - 16; x += 16) v128.store(cur + x, pick(v128.load(next + x), v128.load(f + x), isMax))
      v128.store(cur + n - 16, pick(v128.load(next + n - 16), v128.load(f + n - 16), isMax))
      next = cur
    }
    memory.copy(mid, cols, n)
    return
  }
  const f = src + clampRow(start + k + j - 1 - r, h) * n
  const suffix = cols + j * n
  if (j === 1) memory.copy(prefix, f, n)
  else {
    let x = 0
    for (; x < n - 16; x += 16) v128.store(prefix + x, pick(v128.load(prefix + x), v128.load(f + x), isMax))
    v128.store(prefix + n - 16, pick(v128.load(prefix + n - 16), v128.load(f + n - 16), isMax))
  }
  let x = 0
  for (; x < n - 16; x += 16) v128.store(mid + x, pick(v128.load(suffix + x), v128.load(prefix + x), isMax))
  v128.store(mid + n - 16, pick(v128.load(suffix + n - 16), v128.load(prefix + n - 16), isMax))
}

export function erode (src: usize, dst: usize, w: i32, h: i32, ch: i32, r: i32, row: usize, cols: usize): void {
  extremum(src, dst, w, h, ch, r, row, cols, false)
}

export function dilate (src: usize, dst: usize, w: i32, h: i32, ch: i32, r: i32, row: usize, cols: usize): void {
  extremum(src, dst, w, h, ch, r, row, cols, true)
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
 * 3x3 median, SIMD (n >= 16). The columns of three are sorted (lo / mid / hi) once per vector; the median
 * of the nine is med3(max of the three lows, med3 of the three mids, min of the three highs), exactly.
 * The sorted vectors are carried from one iteration to the next and the left and right neighbours (ch
 * bytes away) are shuffled out of the vector pairs, so a vector costs three loads. Rows are read from
 * edge-padded copies (each source row is copied once). The last, overlapping vector of a row is done apart.
 * rows: three padded rows of stride (n + 48) & ~15 bytes.
 */
export function median3 (src: usize, dst: usize, w: i32, h: i32, ch: i32, rows: usize): void {
  const n = w * ch
  const stride = <usize>((n + 48) & ~15)
  copyPadded(rows, src, n, ch)
  if (h > 1) copyPadded(rows + stride, src + n, n, ch)
  for (let y = 0; y < h; y++) {
    if (y + 1 < h && y + 1 >= 2) copyPadded(rows + <usize>((y + 1) % 3) * stride, src + (y + 1) * n, n, ch)
    const a = rows + <usize>(clampRow(y - 1, h) % 3) * stride + 16
    const b = rows + <usize>(y % 3) * stride + 16
    const c = rows + <usize>(clampRow(y + 1, h) % 3) * stride + 16
    const out = dst + y * n
    if (ch === 1) medianRow3ch1(out, a, b, c, n)
    else if (ch === 2) medianRow3ch2(out, a, b, c, n)
    else if (ch === 3) medianRow3ch3(out, a, b, c, n)
    else medianRow3ch4(out, a, b, c, n)
    // the last vector, overlapping: its neighbours by unaligned loads
    const o = n - 16
    let al = v128.load(a + o - ch); let bl = v128.load(b + o - ch); let cl = v128.load(c + o - ch)
    let am = v128.load(a + o); let bm = v128.load(b + o); let cm = v128.load(c + o)
    let ar = v128.load(a + o + ch); let br = v128.load(b + o + ch); let cr = v128.load(c + o + ch)
    { const t0 = i8x16.min_u(al, bl); const t1 = i8x16.max_u(al, bl)
      al = i8x16.min_u(t0, cl); bl = i8x16.max_u(t0, i8x16.min_u(t1, cl)); cl = i8x16.max_u(t1, cl) }
    { const t0 = i8x16.min_u(am, bm); const t1 = i8x16.max_u(am, bm)
      am = i8x16.min_u(t0, cm); bm = i8x16.max_u(t0, i8x16.min_u(t1, cm)); cm = i8x16.max_u(t1, cm) }
    { const t0 = i8x16.min_u(ar, br); const t1 = i8x16.max_u(ar, br)
      ar = i8x16.min_u(t0, cr); br = i8x16.max_u(t0, i8x16.min_u(t1, cr)); cr = i8x16.max_u(t1, cr) }
    v128.store(out + o, med3(i8x16.max_u(i8x16.max_u(al, am), ar), med3(bl, bm, br), i8x16.min_u(i8x16.min_u(cl, cm), cr)))
    keepAlpha(out, src + y * n, n, ch)
  }
}

/** Row `row` (n bytes) into a padded slot: 16 bytes before it, then the row, with one replicated pixel each side. */
// @ts-ignore: decorator
@inline function copyPadded (slot: usize, row: usize, n: i32, ch: i32): void {
  memory.copy(slot + 16, row, n)
  padEnds(slot + 16, n, ch, 1)
}

// The vector ch bytes before / after the current one, out of it and its neighbour: one palignr each. The
// lanes must be constants, hence one pair per channel count and one row loop per channel count below.
// @ts-ignore: decorator
@inline function before1 (prev: v128, cur: v128): v128 { return i8x16.shuffle(prev, cur, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30) }
// @ts-ignore: decorator
@inline function after1 (cur: v128, next: v128): v128 { return i8x16.shuffle(cur, next, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16) }
// @ts-ignore: decorator
@inline function before2 (prev: v128, cur: v128): v128 { return i8x16.shuffle(prev, cur, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29) }
// @ts-ignore: decorator
@inline function after2 (cur: v128, next: v128): v128 { return i8x16.shuffle(cur, next, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17) }
// @ts-ignore: decorator
@inline function before3 (prev: v128, cur: v128): v128 { return i8x16.shuffle(prev, cur, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28) }
// @ts-ignore: decorator
@inline function after3 (cur: v128, next: v128): v128 { return i8x16.shuffle(cur, next, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18) }
// @ts-ignore: decorator
@inline function before4 (prev: v128, cur: v128): v128 { return i8x16.shuffle(prev, cur, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27) }
// @ts-ignore: decorator
@inline function after4 (cur: v128, next: v128): v128 { return i8x16.shuffle(cur, next, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19) }

// @ts-ignore: decorator
@inline function medianRow3ch1 (out: usize, a: usize, b: usize, c: usize, n: i32): void {
  let pl = v128.load(a - 16); let pm = v128.load(b - 16); let ph = v128.load(c - 16)
  { const t0 = i8x16.min_u(pl, pm); const t1 = i8x16.max_u(pl, pm)
    pl = i8x16.min_u(t0, ph); pm = i8x16.max_u(t0, i8x16.min_u(t1, ph)); ph = i8x16.max_u(t1, ph) }
  let cl = v128.load(a); let cm = v128.load(b); let chi = v128.load(c)
  { const t0 = i8x16.min_u(cl, cm); const t1 = i8x16.max_u(cl, cm)
    cl = i8x16.min_u(t0, chi); cm = i8x16.max_u(t0, i8x16.min_u(t1, chi)); chi = i8x16.max_u(t1, chi) }
  for (let x = 0; x < n - 16; x += 16) {
    let nl = v128.load(a + x + 16); let nm = v128.load(b + x + 16); let nh = v128.load(c + x + 16)
    { const t0 = i8x16.min_u(nl, nm); const t1 = i8x16.max_u(nl, nm)
      nl = i8x16.min_u(t0, nh); nm = i8x16.max_u(t0, i8x16.min_u(t1, nh)); nh = i8x16.max_u(t1, nh) }
    const l = i8x16.max_u(i8x16.max_u(before1(pl, cl), cl), after1(cl, nl))
    const m = med3(before1(pm, cm), cm, after1(cm, nm))
    const u = i8x16.min_u(i8x16.min_u(before1(ph, chi), chi), after1(chi, nh))
    v128.store(out + x, med3(l, m, u))
    pl = cl; pm = cm; ph = chi
    cl = nl; cm = nm; chi = nh
  }
}

// @ts-ignore: decorator
@inline function medianRow3ch2 (out: usize, a: usize, b: usize, c: usize, n: i32): void {
  let pl = v128.load(a - 16); let pm = v128.load(b - 16); let ph = v128.load(c - 16)
  { const t0 = i8x16.min_u(pl, pm); const t1 = i8x16.max_u(pl, pm)
    pl = i8x16.min_u(t0, ph); pm = i8x16.max_u(t0, i8x16.min_u(t1, ph)); ph = i8x16.max_u(t1, ph) }
  let cl = v128.load(a); let cm = v128.load(b); let chi = v128.load(c)
  { const t0 = i8x16.min_u(cl, cm); const t1 = i8x16.max_u(cl, cm)
    cl = i8x16.min_u(t0, chi); cm = i8x16.max_u(t0, i8x16.min_u(t1, chi)); chi = i8x16.max_u(t1, chi) }
  for (let x = 0; x < n - 16; x += 16) {
    let nl = v128.load(a + x + 16); let nm = v128.load(b + x + 16); let nh = v128.load(c + x + 16)
    { const t0 = i8x16.min_u(nl, nm); const t1 = i8x16.max_u(nl, nm)
      nl = i8x16.min_u(t0, nh); nm = i8x16.max_u(t0, i8x16.min_u(t1, nh)); nh = i8x16.max_u(t1, nh) }
    const l = i8x16.max_u(i8x16.max_u(before2(pl, cl), cl), after2(cl, nl))
    const m = med3(before2(pm, cm), cm, after2(cm, nm))
    const u = i8x16.min_u(i8x16.min_u(before2(ph, chi), chi), after2(chi, nh))
    v128.store(out + x, med3(l, m, u))
    pl = cl; pm = cm; ph = chi
    cl = nl; cm = nm; chi = nh
  }
}

// @ts-ignore: decorator
@inline function medianRow3ch3 (out: usize, a: usize, b: usize, c: usize, n: i32): void {
  let pl = v128.load(a - 16); let pm = v128.load(b - 16); let ph = v128.load(c - 16)
  { const t0 = i8x16.min_u(pl, pm); const t1 = i8x16.max_u(pl, pm)
    pl = i8x16.min_u(t0, ph); pm = i8x16.max_u(t0, i8x16.min_u(t1, ph)); ph = i8x16.max_u(t1, ph) }
  let cl = v128.load(a); let cm = v128.load(b); let chi = v128.load(c)
  { const t0 = i8x16.min_u(cl, cm); const t1 = i8x16.max_u(cl, cm)
    cl = i8x16.min_u(t0, chi); cm = i8x16.max_u(t0, i8x16.min_u(t1, chi)); chi = i8x16.max_u(t1, chi) }
  for (let x = 0; x < n - 16; x += 16) {
    let nl = v128.load(a + x + 16); let nm = v128.load(b + x + 16); let nh = v128.load(c + x + 16)
    { const t0 = i8x16.min_u(nl, nm); const t1 = i8x16.max_u(nl, nm)
      nl = i8x16.min_u(t0, nh); nm = i8x16.max_u(t0, i8x16.min_u(t1, nh)); nh = i8x16.max_u(t1, nh) }
    const l = i8x16.max_u(i8x16.max_u(before3(pl, cl), cl), after3(cl, nl))
    const m = med3(before3(pm, cm), cm, after3(cm, nm))
    const u = i8x16.min_u(i8x16.min_u(before3(ph, chi), chi), after3(chi, nh))
    v128.store(out + x, med3(l, m, u))
    pl = cl; pm = cm; ph = chi
    cl = nl; cm = nm; chi = nh
  }
}

// @ts-ignore: decorator
@inline function medianRow3ch4 (out: usize, a: usize, b: usize, c: usize, n: i32): void {
  let pl = v128.load(a - 16); let pm = v128.load(b - 16); let ph = v128.load(c - 16)
  { const t0 = i8x16.min_u(pl, pm); const t1 = i8x16.max_u(pl, pm)
    pl = i8x16.min_u(t0, ph); pm = i8x16.max_u(t0, i8x16.min_u(t1, ph)); ph = i8x16.max_u(t1, ph) }
  let cl = v128.load(a); let cm = v128.load(b); let chi = v128.load(c)
  { const t0 = i8x16.min_u(cl, cm); const t1 = i8x16.max_u(cl, cm)
    cl = i8x16.min_u(t0, chi); cm = i8x16.max_u(t0, i8x16.min_u(t1, chi)); chi = i8x16.max_u(t1, chi) }
  for (let x = 0; x < n - 16; x += 16) {
    let nl = v128.load(a + x + 16); let nm = v128.load(b + x + 16); let nh = v128.load(c + x + 16)
    { const t0 = i8x16.min_u(nl, nm); const t1 = i8x16.max_u(nl, nm)
      nl = i8x16.min_u(t0, nh); nm = i8x16.max_u(t0, i8x16.min_u(t1, nh)); nh = i8x16.max_u(t1, nh) }
    const l = i8x16.max_u(i8x16.max_u(before4(pl, cl), cl), after4(cl, nl))
    const m = med3(before4(pm, cm), cm, after4(cm, nm))
    const u = i8x16.min_u(i8x16.min_u(before4(ph, chi), chi), after4(chi, nh))
    v128.store(out + x, med3(l, m, u))
    pl = cl; pm = cm; ph = chi
    cl = nl; cm = nm; chi = nh
  }
}

/** Output bytes of a row the 5x5 median does at once: the 15 scratch rows (16 KiB) stay in L1 at a constant stride. */
const CHUNK5 = 1024
const S5: usize = 1024 + 64

/**
 * 5x5 median, SIMD (n >= 16), as a separable selection network (after Adams, "Fast median filters using
 * separable sorting networks", 2021). Per output row: each column of five is sorted once (5 rows of ranks);
 * each pair of neighbouring sorted columns is merged once into ten sorted values (10 rows), and every pair
 * is shared by two windows; a window's median is then selected from its left pair, its right pair and its
 * last column by a min/max network pruned to the median (48 ops instead of the 99 compare-exchanges of a
 * 25-element network). The networks were generated offline: Batcher's odd-even merge for the pairs, and for
 * the selection a greedy search that only compares values whose order is not already implied and drops
 * values that can no longer be the median; the tests check it against the reference on noise and on ties.
 * A row is done in chunks of at most CHUNK5 bytes so that the 15 scratch rows sit at constant offsets from
 * one pointer (no pointer per row to keep in registers). buf: 15 * S5 bytes.
 */
export function median5 (src: usize, dst: usize, w: i32, h: i32, ch: i32, buf: usize): void {
  const n = w * ch
  const edge = 2 * ch
  const chunks = (n + CHUNK5 - 1) / CHUNK5
  const size = (n + chunks - 1) / chunks
  for (let y = 0; y < h; y++) {
    const a0 = src + clampRow(y - 2, h) * n
    const a1 = src + clampRow(y - 1, h) * n
    const a2 = src + y * n
    const a3 = src + clampRow(y + 1, h) * n
    const a4 = src + clampRow(y + 2, h) * n
    const out = dst + y * n
    for (let x0 = 0; x0 < n; x0 += size) {
      const x1 = min(x0 + size, n)
      // sorted column at byte b: base + b + rank * S5; merged pair starting at byte b: base + b + (5 + rank) * S5
      const base = buf + 16 - x0
      const lo = max(0, x0 - edge)
      const hi = min(n, x1 + edge)
      for (let x = lo; x < hi; x += 16) {
        const b = x + 16 <= hi ? x : hi - 16
        const s0 = v128.load(a0 + b)
        const s1 = v128.load(a1 + b)
        const s2 = v128.load(a2 + b)
        const s3 = v128.load(a3 + b)
        const s4 = v128.load(a4 + b)
        const o = base + b
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
        v128.store(o, u10, 0 * S5)
        v128.store(o, u16, 1 * S5)
        v128.store(o, u17, 2 * S5)
        v128.store(o, u15, 3 * S5)
        v128.store(o, u13, 4 * S5)
      }
      if (x0 === 0) for (let k = 1; k <= 2; k++) for (let i: usize = 0; i < 5; i++) copyPixel(base + i * S5 - k * ch, base + i * S5, ch)
      if (x1 === n) for (let k = 0; k < 2; k++) for (let i: usize = 0; i < 5; i++) copyPixel(base + i * S5 + n + k * ch, base + i * S5 + n - ch, ch)
      for (let x = x0 - edge; x < x1; x += 16) {
        const b = x + 16 <= x1 ? x : x1 - 16
        const p = base + b
        const c0_0 = v128.load(p, 0 * S5)
        const c0_1 = v128.load(p, 1 * S5)
        const c0_2 = v128.load(p, 2 * S5)
        const c0_3 = v128.load(p, 3 * S5)
        const c0_4 = v128.load(p, 4 * S5)
        const c1_0 = v128.load(p + ch, 0 * S5)
        const c1_1 = v128.load(p + ch, 1 * S5)
        const c1_2 = v128.load(p + ch, 2 * S5)
        const c1_3 = v128.load(p + ch, 3 * S5)
        const c1_4 = v128.load(p + ch, 4 * S5)
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
        v128.store(p, t10, 5 * S5)
        v128.store(p, t28, 6 * S5)
        v128.store(p, t29, 7 * S5)
        v128.store(p, t30, 8 * S5)
        v128.store(p, t31, 9 * S5)
        v128.store(p, t32, 10 * S5)
        v128.store(p, t33, 11 * S5)
        v128.store(p, t34, 12 * S5)
        v128.store(p, t35, 13 * S5)
        v128.store(p, t13, 14 * S5)
      }
      for (let x = x0; x < x1; x += 16) {
        const b = x + 16 <= x1 ? x : x1 - 16
        const l = base + b - edge
        const r = base + b
        const c = base + b + edge
        const c0_0 = v128.load(l, 5 * S5)
        const c0_1 = v128.load(l, 6 * S5)
        const c0_2 = v128.load(l, 7 * S5)
        const c0_3 = v128.load(l, 8 * S5)
        const c0_4 = v128.load(l, 9 * S5)
        const c0_5 = v128.load(l, 10 * S5)
        const c0_6 = v128.load(l, 11 * S5)
        const c0_7 = v128.load(l, 12 * S5)
        const c0_8 = v128.load(l, 13 * S5)
        const c0_9 = v128.load(l, 14 * S5)
        const c1_0 = v128.load(r, 5 * S5)
        const c1_1 = v128.load(r, 6 * S5)
        const c1_2 = v128.load(r, 7 * S5)
        const c1_3 = v128.load(r, 8 * S5)
        const c1_4 = v128.load(r, 9 * S5)
        const c1_5 = v128.load(r, 10 * S5)
        const c1_6 = v128.load(r, 11 * S5)
        const c1_7 = v128.load(r, 12 * S5)
        const c1_8 = v128.load(r, 13 * S5)
        const c1_9 = v128.load(r, 14 * S5)
        const c2_0 = v128.load(c, 0 * S5)
        const c2_1 = v128.load(c, 1 * S5)
        const c2_2 = v128.load(c, 2 * S5)
        const c2_3 = v128.load(c, 3 * S5)
        const c2_4 = v128.load(c, 4 * S5)
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
        v128.store(out + b, t95)
      }
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
