// The WebAssembly side of the kernels: one linear memory per thread, shared by every kernel module, and a
// bump arena in it. Ops of a pipeline hand each other pixels by pointer, so a tile is copied into wasm
// memory once and out once, however many ops it goes through.
//
// Why wasm: measured on 1920x1080 RGB, a JS byte loop is 15x slower than OpenCV even on invert, while
// wasm SIMD (128-bit) keeps up with OpenCV's AVX2 code on most kernels. Wasm integer and IEEE arithmetic
// is defined to the bit, so every peer (x64 with or without AVX2, arm64) computes the same bytes.
//
// Views: memory.grow detaches every ArrayBuffer view of the memory, so kernels keep pointers, not views,
// and take a view (u8, i32 below) only after the last allocation of the step that uses it.
import { moduleBytes } from './gen/index.ts'
import type { ModuleName } from './gen/index.ts'

const PAGE = 65536
/**
 * Each module's static data sits in a 64 KiB slot of its own below the arena (its --memoryBase is
 * slot * 64 KiB, set by scripts/build-wasm.ts), so the modules can share one memory.
 */
export const MODULE_SLOT_BYTES = PAGE
export const ARENA_BASE = 16 * PAGE
/** wasm32 addresses 4 GiB; a whole-image run that needs more is refused with this limit in the message. */
const MAX_BYTES = 65536 * PAGE
/**
 * Memory kept past the last allocation: SIMD loops may load a vector beyond the end of a buffer (and
 * ignore those lanes); that must not trap even when the buffer is the last one in memory.
 */
const SLACK = 64

export const memory = new WebAssembly.Memory({ initial: ARENA_BASE / PAGE + 16 })

const instances = new Map<ModuleName, WebAssembly.Exports>()

/** The exports of one kernel module (compiled on first use, per thread). */
export function wasmModule<T> (name: ModuleName): T {
  let e = instances.get(name)
  if (!e) {
    const mod = new WebAssembly.Module(moduleBytes(name))
    const abort = (): never => { throw new Error(`wasm kernel ${name} aborted`) }
    e = new WebAssembly.Instance(mod, { env: { memory, abort } }).exports
    instances.set(name, e)
  }
  return e as T
}

export class KernelMemoryError extends Error {
  constructor (bytes: number) {
    super(`this image needs ${Math.ceil(bytes / 2 ** 20)} MiB of kernel memory, more than the 4096 MiB a kernel can address; run it in tiles (swarm submit, or a smaller image)`)
    this.name = 'KernelMemoryError'
  }
}

let top = ARENA_BASE

/** Room for `bytes` bytes, 16-byte aligned (SIMD loads), valid until the enclosing scope ends. */
export function alloc (bytes: number): number {
  const ptr = Math.ceil(top / 16) * 16
  const end = ptr + bytes
  if (end + SLACK > MAX_BYTES) throw new KernelMemoryError(end)
  const have = memory.buffer.byteLength
  if (end + SLACK > have) memory.grow(Math.ceil((end + SLACK - have) / PAGE))
  top = end
  return ptr
}

/** Runs fn; everything it allocated is free again afterwards (the arena is a stack). */
export function scope<T> (fn: () => T): T {
  const mark = top
  try {
    return fn()
  } finally {
    top = mark
  }
}

export const u8 = (ptr: number, length: number): Uint8Array => new Uint8Array(memory.buffer, ptr, length)
export const i32 = (ptr: number, length: number): Int32Array => new Int32Array(memory.buffer, ptr, length)

/** Copies `data` into fresh arena memory and returns its pointer. */
export function put (data: ArrayLike<number> & { length: number }, kind: 'u8' | 'i32' = 'u8'): number {
  const size = kind === 'u8' ? 1 : 4
  const ptr = alloc(data.length * size)
  if (kind === 'u8') u8(ptr, data.length).set(data)
  else i32(ptr, data.length).set(data)
  return ptr
}
