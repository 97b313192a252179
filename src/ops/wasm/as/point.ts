// Point kernels (AssemblyScript, compiled by scripts/build-wasm.ts): each output byte depends on the
// same pixel only. Pointers are into the shared memory (src/ops/wasm/engine.ts); images are 8-bit
// interleaved with `ch` channels, alpha last when ch is 2 or 4. No allocation here: the caller passes
// every buffer.

/** Byte mask with 0xff on the alpha lanes of 16 interleaved bytes (zero for 1 and 3 channels). */
// @ts-ignore: decorator
@inline function alphaLanes (ch: i32): v128 {
  if (ch === 4) return i32x4.splat(0xff000000)
  if (ch === 2) return i16x8.splat(<i16>0xff00)
  return i32x4.splat(0)
}

/** Restores the alpha bytes of src into dst (2 or 4 channels; nothing for 1 and 3). n = bytes. */
export function copyAlpha (src: usize, dst: usize, n: i32, ch: i32): void {
  if (ch !== 2 && ch !== 4) return
  const keep = alphaLanes(ch)
  let i = 0
  for (; i + 16 <= n; i += 16) v128.store(dst + i, v128.bitselect(v128.load(src + i), v128.load(dst + i), keep))
  for (i += ch - 1; i < n; i += ch) store<u8>(dst + i, load<u8>(src + i))
}

/**
 * Fills the 65536-entry pair table of a 256-entry table: pairs[(hi << 8) | lo] = table[lo] | table[hi] << 8,
 * so lut() looks up two bytes at once (the pair table is 128 KiB: it stays in L2).
 */
export function lutPairs (table: usize, pairs: usize): void {
  for (let hi = 0; hi < 256; hi++) {
    const h = <u32>load<u8>(table + hi) << 8
    const row = pairs + (<usize>hi << 9)
    for (let lo = 0; lo < 256; lo++) store<u16>(row + (<usize>lo << 1), <u16>(h | load<u8>(table + lo)))
  }
}

/** dst = table[src] on colour bytes, alpha copied; n = bytes; pairs from lutPairs. */
export function lut (src: usize, dst: usize, n: i32, ch: i32, table: usize, pairs: usize): void {
  let i = 0
  for (; i + 8 <= n; i += 8) {
    const v = load<u64>(src + i)
    store<u64>(dst + i,
      <u64>load<u16>(pairs + ((<usize>v & 0xffff) << 1)) |
      (<u64>load<u16>(pairs + ((<usize>(v >> 16) & 0xffff) << 1)) << 16) |
      (<u64>load<u16>(pairs + ((<usize>(v >> 32) & 0xffff) << 1)) << 32) |
      (<u64>load<u16>(pairs + ((<usize>(v >> 48) & 0xffff) << 1)) << 48))
  }
  for (; i < n; i++) store<u8>(dst + i, load<u8>(table + load<u8>(src + i)))
  copyAlpha(src, dst, n, ch)
}

/** dst = 255 - src on colour bytes, alpha copied. */
export function invert (src: usize, dst: usize, n: i32, ch: i32): void {
  const keep = alphaLanes(ch)
  const flip = v128.not(keep)
  let i = 0
  for (; i + 16 <= n; i += 16) v128.store(dst + i, v128.xor(v128.load(src + i), flip))
  for (; i < n; i++) {
    const isAlpha = (ch === 2 || ch === 4) && (i % ch) === ch - 1
    store<u8>(dst + i, isAlpha ? load<u8>(src + i) : 255 - load<u8>(src + i))
  }
}

// Shuffles: V8 turns an i8x16.swizzle with a constant mask into one pshufb (tbl on arm64), while an
// i8x16.shuffle of two vectors costs two of them and an or: measured, luma ran 2.2x faster with the
// single-vector form. Mask lanes of -128 (0x80) give zero.

// Luma weights (BT.601 in 8-bit fixed point: 77 + 150 + 29 = 256, so grey stays grey), four pixels at a
// time: (R, G) pairs as u16 lanes go through one i32x4.dot_i16x8_s, B through another.
const LUMA_RG: i32 = 77 | (150 << 16)
const LUMA_B: i32 = 29

// @ts-ignore: decorator
@inline function luma4 (rg: v128, b: v128): v128 {
  return i32x4.shr_u(i32x4.add(i32x4.add(i32x4.dot_i16x8_s(rg, i32x4.splat(LUMA_RG)), i32x4.dot_i16x8_s(b, i32x4.splat(LUMA_B))), i32x4.splat(128)), 8)
}

// @ts-ignore: decorator
@inline function luma4rgb (x: v128): v128 {
  return luma4(i8x16.swizzle(x, i8x16(0, -128, 1, -128, 3, -128, 4, -128, 6, -128, 7, -128, 9, -128, 10, -128)),
    i8x16.swizzle(x, i8x16(2, -128, -128, -128, 5, -128, -128, -128, 8, -128, -128, -128, 11, -128, -128, -128)))
}

// @ts-ignore: decorator
@inline function luma4rgba (x: v128): v128 {
  return luma4(i8x16.swizzle(x, i8x16(0, -128, 1, -128, 4, -128, 5, -128, 8, -128, 9, -128, 12, -128, 13, -128)),
    i8x16.swizzle(x, i8x16(2, -128, -128, -128, 6, -128, -128, -128, 10, -128, -128, -128, 14, -128, -128, -128)))
}

// @ts-ignore: decorator
@inline function pack16 (a: v128, b: v128, c: v128, d: v128): v128 {
  return i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_u(a, b), i16x8.narrow_i32x4_u(c, d))
}

/** One grey byte per pixel: the luma of RGB(A), or the grey channel of grey(+alpha). n = pixels. */
export function luma (src: usize, dst: usize, n: i32, ch: i32): void {
  let i = 0
  if (ch === 1) {
    memory.copy(dst, src, n)
    return
  }
  if (ch === 2) {
    for (; i + 16 <= n; i += 16) {
      const p = src + (<usize>i << 1)
      v128.store(dst + i, v128.or(
        i8x16.swizzle(v128.load(p), i8x16(0, 2, 4, 6, 8, 10, 12, 14, -128, -128, -128, -128, -128, -128, -128, -128)),
        i8x16.swizzle(v128.load(p, 16), i8x16(-128, -128, -128, -128, -128, -128, -128, -128, 0, 2, 4, 6, 8, 10, 12, 14))))
    }
    for (; i < n; i++) store<u8>(dst + i, load<u8>(src + (<usize>i << 1)))
    return
  }
  if (ch === 3) {
    // Each 16-byte load covers four pixels and a bit: stop 6 pixels early so the last load stays inside.
    for (; i + 22 <= n; i += 16) {
      const p = src + <usize>i * 3
      v128.store(dst + i, pack16(luma4rgb(v128.load(p)), luma4rgb(v128.load(p, 12)), luma4rgb(v128.load(p, 24)), luma4rgb(v128.load(p, 36))))
    }
  } else {
    for (; i + 16 <= n; i += 16) {
      const p = src + (<usize>i << 2)
      v128.store(dst + i, pack16(luma4rgba(v128.load(p)), luma4rgba(v128.load(p, 16)), luma4rgba(v128.load(p, 32)), luma4rgba(v128.load(p, 48))))
    }
  }
  for (; i < n; i++) {
    const p = src + <usize>i * ch
    store<u8>(dst + i, <u8>((77 * <u32>load<u8>(p) + 150 * <u32>load<u8>(p, 1) + 29 * <u32>load<u8>(p, 2) + 128) >> 8))
  }
}

/** Interleaves a grey plane with the alpha of `src` (2 or 4 channels): dst gets 2 bytes per pixel. */
export function greyWithAlpha (grey: usize, src: usize, dst: usize, n: i32, ch: i32): void {
  for (let i = 0; i < n; i++) {
    store<u8>(dst + (<usize>i << 1), load<u8>(grey + i))
    store<u8>(dst + (<usize>i << 1), load<u8>(src + <usize>i * ch + ch - 1), 1)
  }
}

// Sepia: the classic matrix (0.393 0.769 0.189 / 0.349 0.686 0.168 / 0.272 0.534 0.131) in Q14
// fixed point, out = min(255, (cr R + cg G + cb B + 8192) >> 14). Four pixels at a time: their (R, G) and
// (B, 1) pairs as i16 lanes go through i32x4.dot_i16x8_s (one pmaddwd / smull+addp), so each output
// channel costs two dot products; the "1" lane carries the rounding constant.
// (B, 1) pairs: B from a swizzle, the 1 from this or.
const ONE_HI = i32x4.splat(1 << 16)
const SEPIA_RG_R: i32 = 6439 | (12599 << 16)
const SEPIA_B1_R: i32 = 3097 | (8192 << 16)
const SEPIA_RG_G: i32 = 5718 | (11239 << 16)
const SEPIA_B1_G: i32 = 2753 | (8192 << 16)
const SEPIA_RG_B: i32 = 4456 | (8749 << 16)
const SEPIA_B1_B: i32 = 2146 | (8192 << 16)

// @ts-ignore: decorator
@inline function sepiaChannel (rg: v128, b1: v128, crg: i32, cb1: i32): v128 {
  return i32x4.shr_s(i32x4.add(i32x4.dot_i16x8_s(rg, i32x4.splat(crg)), i32x4.dot_i16x8_s(b1, i32x4.splat(cb1))), 14)
}

// @ts-ignore: decorator
@inline function sepiaOne (r: i32, g: i32, b: i32, crg: i32, cb1: i32): u8 {
  const v = (r * (crg & 0xffff) + g * (crg >>> 16) + b * (cb1 & 0xffff) + 8192) >> 14
  return <u8>(v > 255 ? 255 : v)
}

// Swizzle masks as data, loaded into registers before the loops: V8 rebuilds a constant mask with four
// instructions at every use inside the loop, while a mask in a register costs one saturating add (which
// keeps wasm's out-of-range-gives-zero rule) and the pshufb.
const RG3 = memory.data<i8>([0, -128, 1, -128, 3, -128, 4, -128, 6, -128, 7, -128, 9, -128, 10, -128], 16)
const B3 = memory.data<i8>([2, -128, -128, -128, 5, -128, -128, -128, 8, -128, -128, -128, 11, -128, -128, -128], 16)
const OUT3 = memory.data<i8>([0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11, -128, -128, -128, -128], 16)
const RG4 = memory.data<i8>([0, -128, 1, -128, 4, -128, 5, -128, 8, -128, 9, -128, 12, -128, 13, -128], 16)
const B4 = memory.data<i8>([2, -128, -128, -128, 6, -128, -128, -128, 10, -128, -128, -128, 14, -128, -128, -128], 16)
const OUT4 = memory.data<i8>([0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15], 16)
const RG1 = memory.data<i8>([0, -128, 0, -128, 1, -128, 1, -128, 2, -128, 2, -128, 3, -128, 3, -128], 16)
const B1 = memory.data<i8>([0, -128, -128, -128, 1, -128, -128, -128, 2, -128, -128, -128, 3, -128, -128, -128], 16)
const RG2 = memory.data<i8>([0, -128, 0, -128, 2, -128, 2, -128, 4, -128, 4, -128, 6, -128, 6, -128], 16)
const B2 = memory.data<i8>([0, -128, -128, -128, 2, -128, -128, -128, 4, -128, -128, -128, 6, -128, -128, -128], 16)
const A2 = memory.data<i8>([1, -128, -128, -128, 3, -128, -128, -128, 5, -128, -128, -128, 7, -128, -128, -128], 16)

/** Sepia of 4 pixels: their (R, G) pairs and (B, 1) pairs in, R G B as i32x4 each out (packed). */
// @ts-ignore: decorator
@inline function sepia4 (rg: v128, b1: v128, fourth: v128): v128 {
  const rgo = i16x8.narrow_i32x4_u(sepiaChannel(rg, b1, SEPIA_RG_R, SEPIA_B1_R), sepiaChannel(rg, b1, SEPIA_RG_G, SEPIA_B1_G))
  const bo = i16x8.narrow_i32x4_u(sepiaChannel(rg, b1, SEPIA_RG_B, SEPIA_B1_B), fourth)
  return i8x16.narrow_i16x8_u(rgo, bo)
}

/** Sepia of n pixels with `ch` channels into RGB (3) or RGBA (4, when the input has alpha). */
export function sepia (src: usize, dst: usize, n: i32, ch: i32): void {
  const zero = i32x4.splat(0)
  const outCh = ch === 2 || ch === 4 ? 4 : 3
  let i = 0
  // One loop per channel count, 4 pixels per group; every load and store stays inside the images (the
  // bounds leave room for the 16-byte accesses of 12-byte groups).
  if (ch === 3) {
    const mrg = v128.load(RG3)
    const mb = v128.load(B3)
    const mo = v128.load(OUT3)
    for (; i + 10 <= n; i += 8) {
      const p = src + <usize>i * 3
      const q = dst + <usize>i * 3
      const x = v128.load(p)
      const y = v128.load(p, 12)
      const ox = i8x16.swizzle(sepia4(i8x16.swizzle(x, mrg), v128.or(i8x16.swizzle(x, mb), ONE_HI), zero), mo)
      const oy = i8x16.swizzle(sepia4(i8x16.swizzle(y, mrg), v128.or(i8x16.swizzle(y, mb), ONE_HI), zero), mo)
      v128.store(q, ox)
      v128.store(q, oy, 12)
    }
  } else if (ch === 4) {
    const mrg = v128.load(RG4)
    const mb = v128.load(B4)
    const mo = v128.load(OUT4)
    for (; i + 4 <= n; i += 4) {
      const x = v128.load(src + (<usize>i << 2))
      v128.store(dst + (<usize>i << 2), i8x16.swizzle(sepia4(i8x16.swizzle(x, mrg), v128.or(i8x16.swizzle(x, mb), ONE_HI), i32x4.shr_u(x, 24)), mo))
    }
  } else if (ch === 1) {
    const mrg = v128.load(RG1)
    const mb = v128.load(B1)
    const mo = v128.load(OUT3)
    for (; i + 16 <= n; i += 4) {
      const x = v128.load(src + <usize>i)
      v128.store(dst + <usize>i * 3, i8x16.swizzle(sepia4(i8x16.swizzle(x, mrg), v128.or(i8x16.swizzle(x, mb), ONE_HI), zero), mo))
    }
  } else {
    const mrg = v128.load(RG2)
    const mb = v128.load(B2)
    const ma = v128.load(A2)
    const mo = v128.load(OUT4)
    for (; i + 8 <= n; i += 4) {
      const x = v128.load(src + (<usize>i << 1))
      v128.store(dst + (<usize>i << 2), i8x16.swizzle(sepia4(i8x16.swizzle(x, mrg), v128.or(i8x16.swizzle(x, mb), ONE_HI), i8x16.swizzle(x, ma)), mo))
    }
  }
  for (; i < n; i++) {
    const p = src + <usize>i * ch
    const q = dst + <usize>i * outCh
    const r = <i32>load<u8>(p)
    const g = ch >= 3 ? <i32>load<u8>(p, 1) : r
    const b = ch >= 3 ? <i32>load<u8>(p, 2) : r
    store<u8>(q, sepiaOne(r, g, b, SEPIA_RG_R, SEPIA_B1_R))
    store<u8>(q, sepiaOne(r, g, b, SEPIA_RG_G, SEPIA_B1_G), 1)
    store<u8>(q, sepiaOne(r, g, b, SEPIA_RG_B, SEPIA_B1_B), 2)
    if (outCh === 4) store<u8>(q, load<u8>(p + ch - 1), 3)
  }
}

/** In place on a grey plane: 255 where value >= level, else 0. n = pixels. */
export function thresholdGrey (grey: usize, n: i32, level: i32): void {
  let i = 0
  if (level <= 0) { memory.fill(grey, 255, n); return }
  if (level > 255) { memory.fill(grey, 0, n); return }
  const l = i8x16.splat(<i8>level)
  for (; i + 16 <= n; i += 16) v128.store(grey + i, i8x16.ge_u(v128.load(grey + i), l))
  for (; i < n; i++) store<u8>(grey + i, load<u8>(grey + i) >= <u32>level ? 255 : 0)
}

/**
 * Luma histogram of the rectangle (x, y, w, h) of an image `width` pixels wide: hist gets 256 u32 counts.
 * `row` is scratch for w luma bytes, `parts` scratch for 4 x 256 u32 (four sub-histograms, so runs of one
 * value do not serialise on one counter).
 */
export function lumaHistogram (src: usize, width: i32, ch: i32, x: i32, y: i32, w: i32, h: i32, row: usize, parts: usize, hist: usize): void {
  memory.fill(parts, 0, 4 * 256 * 4)
  for (let yy = y; yy < y + h; yy++) {
    luma(src + (<usize>yy * width + x) * ch, row, w, ch)
    let i = 0
    for (; i + 4 <= w; i += 4) {
      const v = load<u32>(row + i)
      const a = parts + ((<usize>v & 0xff) << 2)
      const b = parts + 1024 + ((<usize>(v >> 8) & 0xff) << 2)
      const c = parts + 2048 + ((<usize>(v >> 16) & 0xff) << 2)
      const d = parts + 3072 + (<usize>(v >> 24) << 2)
      store<u32>(a, load<u32>(a) + 1)
      store<u32>(b, load<u32>(b) + 1)
      store<u32>(c, load<u32>(c) + 1)
      store<u32>(d, load<u32>(d) + 1)
    }
    for (; i < w; i++) {
      const a = parts + (<usize>load<u8>(row + i) << 2)
      store<u32>(a, load<u32>(a) + 1)
    }
  }
  for (let v = 0; v < 256; v++) {
    const o = <usize>v << 2
    store<u32>(hist + o, load<u32>(parts + o) + load<u32>(parts + 1024 + o) + load<u32>(parts + 2048 + o) + load<u32>(parts + 3072 + o))
  }
}

// @ts-ignore: decorator
@inline function adjust16 (v: v128, vci: v128, vcf: v128, vki: v128, vkf: v128): v128 {
  const lo = i16x8.extend_low_i8x16_u(v)
  const hi = i16x8.extend_high_i8x16_u(v)
  const a0 = i16x8.add(i16x8.add(i16x8.mul(lo, vci), vki), i16x8.shr_u(i16x8.add(i16x8.mul(lo, vcf), vkf), 8))
  const a1 = i16x8.add(i16x8.add(i16x8.mul(hi, vci), vki), i16x8.shr_u(i16x8.add(i16x8.mul(hi, vcf), vkf), 8))
  return i8x16.narrow_i16x8_u(a0, a1)
}

/**
 * Brightness and contrast in 1/256 fixed point on colour bytes, alpha copied: out = clamp(((v - 128) * c +
 * b) >> 8) with c = contrast * 256 and b = (128 + brightness) * 256 + 128, both rounded by the caller.
 * Exactly that, in 8 i16 lanes (i32 lanes ran 1.45x slower): with k = b - 128 c = 256 ki + kf and
 * c = 256 ci + cf (0 <= kf, cf < 256), ((v - 128) c + b) >> 8 = v ci + ki + ((v cf + kf) >> 8), where
 * v cf + kf <= 255 * 255 + 255 fits a u16 lane and, for c <= 2560 and |brightness| <= 255 (the op's
 * limits), v ci + ki + 255 lies in -1407..3188, an i16; the final narrow saturates, which is the clamp.
 */
export function adjust (src: usize, dst: usize, n: i32, ch: i32, c: i32, b: i32): void {
  const k = b - 128 * c
  const vci = i16x8.splat(<i16>(c >> 8))
  const vcf = i16x8.splat(<i16>(c & 255))
  const vki = i16x8.splat(<i16>(k >> 8))
  const vkf = i16x8.splat(<i16>(k & 255))
  let i = 0
  for (; i + 32 <= n; i += 32) {
    v128.store(dst + i, adjust16(v128.load(src + i), vci, vcf, vki, vkf))
    v128.store(dst + i, adjust16(v128.load(src + i, 16), vci, vcf, vki, vkf), 16)
  }
  for (; i + 16 <= n; i += 16) v128.store(dst + i, adjust16(v128.load(src + i), vci, vcf, vki, vkf))
  for (; i < n; i++) {
    const a = ((<i32>load<u8>(src + i) - 128) * c + b) >> 8
    store<u8>(dst + i, <u8>(a < 0 ? 0 : a > 255 ? 255 : a))
  }
  copyAlpha(src, dst, n, ch)
}
