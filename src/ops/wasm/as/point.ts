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

/** dst = lut[src] on colour bytes, alpha copied; n = bytes. */
export function lut (src: usize, dst: usize, n: i32, ch: i32, table: usize): void {
  const hasAlpha = ch === 2 || ch === 4
  let i = 0
  for (; i + 4 <= n; i += 4) {
    const v = load<u32>(src + i)
    store<u32>(dst + i,
      <u32>load<u8>(table + (v & 0xff)) |
      (<u32>load<u8>(table + ((v >> 8) & 0xff)) << 8) |
      (<u32>load<u8>(table + ((v >> 16) & 0xff)) << 16) |
      (<u32>load<u8>(table + (v >> 24)) << 24))
  }
  for (; i < n; i++) store<u8>(dst + i, load<u8>(table + load<u8>(src + i)))
  if (hasAlpha) for (let j = ch - 1; j < n; j += ch) store<u8>(dst + j, load<u8>(src + j))
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
