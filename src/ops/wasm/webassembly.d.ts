// The part of the WebAssembly JS API that src/ops/wasm uses. TypeScript declares it only in the DOM and
// web-worker libs, which would bring browser globals into Node code.
declare namespace WebAssembly {
  interface MemoryDescriptor { initial: number, maximum?: number, shared?: boolean }
  class Memory {
    constructor (descriptor: MemoryDescriptor)
    readonly buffer: ArrayBuffer
    grow (delta: number): number
  }
  class Module { constructor (bytes: Uint8Array) }
  type ExportValue = ((...args: never[]) => unknown) | Memory | { value: unknown }
  type Exports = Record<string, ExportValue>
  class Instance {
    constructor (module: Module, imports?: Record<string, Record<string, unknown>>)
    readonly exports: Exports
  }
}
