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

// Luma weights (BT.601 in 8-bit fixed point: 77 + 150 + 29 = 256, so grey stays grey). The sum
// 77 R + 150 G + 29 B + 128 is at most 65408: it fits u16 lanes exactly.
// @ts-ignore: decorator
@inline function lumaOf16 (r: v128, g: v128, b: v128): v128 {
  const half = i16x8.splat(128)
  const lo = i16x8.add(i16x8.add(
    i16x8.mul(i16x8.extend_low_i8x16_u(r), i16x8.splat(77)),
    i16x8.mul(i16x8.extend_low_i8x16_u(g), i16x8.splat(150))),
  i16x8.add(i16x8.mul(i16x8.extend_low_i8x16_u(b), i16x8.splat(29)), half))
  const hi = i16x8.add(i16x8.add(
    i16x8.mul(i16x8.extend_high_i8x16_u(r), i16x8.splat(77)),
    i16x8.mul(i16x8.extend_high_i8x16_u(g), i16x8.splat(150))),
  i16x8.add(i16x8.mul(i16x8.extend_high_i8x16_u(b), i16x8.splat(29)), half))
  return i8x16.narrow_i16x8_u(i16x8.shr_u(lo, 8), i16x8.shr_u(hi, 8))
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
      v128.store(dst + i, i8x16.shuffle(v128.load(p), v128.load(p, 16), 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30))
    }
    for (; i < n; i++) store<u8>(dst + i, load<u8>(src + (<usize>i << 1)))
    return
  }
  if (ch === 3) {
    for (; i + 16 <= n; i += 16) {
      const p = src + <usize>i * 3
      const a = v128.load(p)
      const b = v128.load(p, 16)
      const c = v128.load(p, 32)
      const r = i8x16.shuffle(i8x16.shuffle(a, b, 0, 3, 6, 9, 12, 15, 18, 21, 24, 27, 30, 0, 0, 0, 0, 0), c, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 17, 20, 23, 26, 29)
      const g = i8x16.shuffle(i8x16.shuffle(a, b, 1, 4, 7, 10, 13, 16, 19, 22, 25, 28, 31, 0, 0, 0, 0, 0), c, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 18, 21, 24, 27, 30)
      const bl = i8x16.shuffle(i8x16.shuffle(a, b, 2, 5, 8, 11, 14, 17, 20, 23, 26, 29, 0, 0, 0, 0, 0, 0), c, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 16, 19, 22, 25, 28, 31)
      v128.store(dst + i, lumaOf16(r, g, bl))
    }
  } else {
    for (; i + 16 <= n; i += 16) {
      const p = src + (<usize>i << 2)
      const a = v128.load(p)
      const b = v128.load(p, 16)
      const c = v128.load(p, 32)
      const d = v128.load(p, 48)
      const r = i8x16.shuffle(i8x16.shuffle(a, b, 0, 4, 8, 12, 16, 20, 24, 28, 0, 0, 0, 0, 0, 0, 0, 0), i8x16.shuffle(c, d, 0, 4, 8, 12, 16, 20, 24, 28, 0, 0, 0, 0, 0, 0, 0, 0), 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23)
      const g = i8x16.shuffle(i8x16.shuffle(a, b, 1, 5, 9, 13, 17, 21, 25, 29, 0, 0, 0, 0, 0, 0, 0, 0), i8x16.shuffle(c, d, 1, 5, 9, 13, 17, 21, 25, 29, 0, 0, 0, 0, 0, 0, 0, 0), 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23)
      const bl = i8x16.shuffle(i8x16.shuffle(a, b, 2, 6, 10, 14, 18, 22, 26, 30, 0, 0, 0, 0, 0, 0, 0, 0), i8x16.shuffle(c, d, 2, 6, 10, 14, 18, 22, 26, 30, 0, 0, 0, 0, 0, 0, 0, 0), 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23)
      v128.store(dst + i, lumaOf16(r, g, bl))
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

/** Sepia of n pixels with `ch` channels into RGB (3) or RGBA (4, when the input has alpha). */
export function sepia (src: usize, dst: usize, n: i32, ch: i32): void {
  const one = i16x8.splat(1)
  const zero = i32x4.splat(0)
  const outCh = ch === 2 || ch === 4 ? 4 : 3
  let i = 0
  // One loop per channel count, 4 pixels per step; every load and store stays inside the images (the
  // bounds leave room for the 16-byte accesses of 12-byte groups).
  if (ch === 3) {
    for (; i + 6 <= n; i += 4) {
      const x = v128.load(src + <usize>i * 3)
      const rg = i8x16.shuffle(x, one, 0, 17, 1, 17, 3, 17, 4, 17, 6, 17, 7, 17, 9, 17, 10, 17)
      const b1 = i8x16.shuffle(x, one, 2, 17, 16, 17, 5, 17, 16, 17, 8, 17, 16, 17, 11, 17, 16, 17)
      const rgo = i16x8.narrow_i32x4_u(sepiaChannel(rg, b1, SEPIA_RG_R, SEPIA_B1_R), sepiaChannel(rg, b1, SEPIA_RG_G, SEPIA_B1_G))
      const bo = i16x8.narrow_i32x4_u(sepiaChannel(rg, b1, SEPIA_RG_B, SEPIA_B1_B), zero)
      v128.store(dst + <usize>i * 3, i8x16.shuffle(i8x16.narrow_i16x8_u(rgo, bo), zero, 0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11, 16, 16, 16, 16))
    }
  } else if (ch === 4) {
    for (; i + 4 <= n; i += 4) {
      const x = v128.load(src + (<usize>i << 2))
      const rg = i8x16.shuffle(x, one, 0, 17, 1, 17, 4, 17, 5, 17, 8, 17, 9, 17, 12, 17, 13, 17)
      const b1 = i8x16.shuffle(x, one, 2, 17, 16, 17, 6, 17, 16, 17, 10, 17, 16, 17, 14, 17, 16, 17)
      const rgo = i16x8.narrow_i32x4_u(sepiaChannel(rg, b1, SEPIA_RG_R, SEPIA_B1_R), sepiaChannel(rg, b1, SEPIA_RG_G, SEPIA_B1_G))
      const ba = i16x8.narrow_i32x4_u(sepiaChannel(rg, b1, SEPIA_RG_B, SEPIA_B1_B), i32x4.shr_u(x, 24))
      v128.store(dst + (<usize>i << 2), i8x16.shuffle(i8x16.narrow_i16x8_u(rgo, ba), zero, 0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15))
    }
  } else if (ch === 1) {
    for (; i + 16 <= n; i += 4) {
      const x = v128.load(src + <usize>i)
      const rg = i8x16.shuffle(x, one, 0, 17, 0, 17, 1, 17, 1, 17, 2, 17, 2, 17, 3, 17, 3, 17)
      const b1 = i8x16.shuffle(x, one, 0, 17, 16, 17, 1, 17, 16, 17, 2, 17, 16, 17, 3, 17, 16, 17)
      const rgo = i16x8.narrow_i32x4_u(sepiaChannel(rg, b1, SEPIA_RG_R, SEPIA_B1_R), sepiaChannel(rg, b1, SEPIA_RG_G, SEPIA_B1_G))
      const bo = i16x8.narrow_i32x4_u(sepiaChannel(rg, b1, SEPIA_RG_B, SEPIA_B1_B), zero)
      v128.store(dst + <usize>i * 3, i8x16.shuffle(i8x16.narrow_i16x8_u(rgo, bo), zero, 0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11, 16, 16, 16, 16))
    }
  } else {
    for (; i + 8 <= n; i += 4) {
      const x = v128.load(src + (<usize>i << 1))
      const rg = i8x16.shuffle(x, one, 0, 17, 0, 17, 2, 17, 2, 17, 4, 17, 4, 17, 6, 17, 6, 17)
      const b1 = i8x16.shuffle(x, one, 0, 17, 16, 17, 2, 17, 16, 17, 4, 17, 16, 17, 6, 17, 16, 17)
      const a = i8x16.shuffle(x, zero, 1, 16, 16, 16, 3, 16, 16, 16, 5, 16, 16, 16, 7, 16, 16, 16)
      const rgo = i16x8.narrow_i32x4_u(sepiaChannel(rg, b1, SEPIA_RG_R, SEPIA_B1_R), sepiaChannel(rg, b1, SEPIA_RG_G, SEPIA_B1_G))
      const ba = i16x8.narrow_i32x4_u(sepiaChannel(rg, b1, SEPIA_RG_B, SEPIA_B1_B), a)
      v128.store(dst + (<usize>i << 2), i8x16.shuffle(i8x16.narrow_i16x8_u(rgo, ba), zero, 0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15))
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

/**
 * Brightness and contrast in 1/256 fixed point on colour bytes, alpha copied: out = clamp(((v - 128) * c +
 * b) >> 8) with c = contrast * 256 and b = (128 + brightness) * 256 + 128, both rounded by the caller.
 * |(v - 128) * c| <= 128 * 2560, so i32 lanes hold it; the narrows saturate, which is the clamp.
 */
export function adjust (src: usize, dst: usize, n: i32, ch: i32, c: i32, b: i32): void {
  const vc = i32x4.splat(c)
  const vb = i32x4.splat(b)
  const mid = i32x4.splat(128)
  let i = 0
  for (; i + 16 <= n; i += 16) {
    const v = v128.load(src + i)
    const lo = i16x8.extend_low_i8x16_u(v)
    const hi = i16x8.extend_high_i8x16_u(v)
    const a0 = i32x4.shr_s(i32x4.add(i32x4.mul(i32x4.sub(i32x4.extend_low_i16x8_u(lo), mid), vc), vb), 8)
    const a1 = i32x4.shr_s(i32x4.add(i32x4.mul(i32x4.sub(i32x4.extend_high_i16x8_u(lo), mid), vc), vb), 8)
    const a2 = i32x4.shr_s(i32x4.add(i32x4.mul(i32x4.sub(i32x4.extend_low_i16x8_u(hi), mid), vc), vb), 8)
    const a3 = i32x4.shr_s(i32x4.add(i32x4.mul(i32x4.sub(i32x4.extend_high_i16x8_u(hi), mid), vc), vb), 8)
    v128.store(dst + i, i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_s(a0, a1), i16x8.narrow_i32x4_s(a2, a3)))
  }
  for (; i < n; i++) {
    const a = ((<i32>load<u8>(src + i) - 128) * c + b) >> 8
    store<u8>(dst + i, <u8>(a < 0 ? 0 : a > 255 ? 255 : a))
  }
  copyAlpha(src, dst, n, ch)
}
