// A small worker_threads pool for the JS kernels. The peer's heartbeats run on the main thread, so in the
// swarm path no pixel loop may run there: every runTile goes through this pool.
//
// Ownership: run() TRANSFERS the tile's ArrayBuffer to the worker when it can (the caller's tile.data is
// detached afterwards); pass { transfer: false } to keep it (the pool then copies). A tile backed by a
// SharedArrayBuffer is shared, never copied. Result pixels come back by transfer too.
import { availableParallelism } from 'node:os'
import { Worker, isMarkedAsUntransferable } from 'node:worker_threads'
import { InvalidTileError, KernelWorkerError, PoolClosedError, fromErrorData } from './errors.ts'
import type { ErrorData } from './errors.ts'
import type { Pipeline } from './pipeline.ts'
import { isRawImage } from './raw.ts'
import type { RawImage } from './raw.ts'
import type { TileOptions, TileResult } from './run-tile.ts'

export interface PoolOptions {
  /** Number of worker threads (default: os.availableParallelism()). */
  size?: number
}

export interface RunOptions {
  /** Hand the tile's buffer to the worker without copying (default true). */
  transfer?: boolean
}

interface Task {
  id: number
  message: { id: number; tile: RawImage; pipeline: Pipeline; opts: TileOptions }
  transfer: ArrayBuffer[]
  resolve: (r: TileResult) => void
  reject: (e: Error) => void
}

interface Slot {
  worker: Worker
  task?: Task
}

type Reply = { id: number; result: TileResult } | { id: number; error: ErrorData }

const WORKER_URL = new URL('./kernel-worker.ts', import.meta.url)

export class KernelPool {
  readonly size: number
  #slots: Slot[] = []
  #queue: Task[] = []
  #nextId = 1
  #closed = false

  constructor (options: PoolOptions = {}) {
    const size = options.size ?? availableParallelism()
    if (!Number.isInteger(size) || size < 1 || size > 256) throw new RangeError(`pool size must be an integer between 1 and 256, got ${size}`)
    this.size = size
  }

  /** Tiles being processed right now. */
  get busy (): number {
    return this.#slots.filter(s => s.task).length
  }

  /** Tiles waiting for a free worker. */
  get queued (): number {
    return this.#queue.length
  }

  run (tile: RawImage, pipeline: Pipeline, opts: TileOptions, runOptions: RunOptions = {}): Promise<TileResult> {
    if (this.#closed) return Promise.reject(new PoolClosedError())
    if (!isRawImage(tile)) return Promise.reject(new InvalidTileError('the tile is not a valid raw image (width, height, channels 1-4 and data of width * height * channels bytes)'))
    const { tile: sent, transfer } = prepare(tile, runOptions.transfer ?? true)
    return new Promise<TileResult>((resolve, reject) => {
      const id = this.#nextId++
      this.#queue.push({ id, message: { id, tile: sent, pipeline, opts }, transfer, resolve, reject })
      this.#dispatch()
    })
  }

  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    for (const t of this.#queue.splice(0)) t.reject(new PoolClosedError())
    const slots = this.#slots.splice(0)
    for (const s of slots) s.task?.reject(new PoolClosedError())
    await Promise.all(slots.map(s => s.worker.terminate()))
  }

  #dispatch (): void {
    while (this.#queue.length > 0) {
      let slot = this.#slots.find(s => !s.task)
      if (!slot) {
        if (this.#slots.length >= this.size) return
        slot = this.#spawn()
      }
      const task = this.#queue.shift() as Task
      slot.task = task
      slot.worker.ref()
      slot.worker.postMessage(task.message, task.transfer)
    }
  }

  #spawn (): Slot {
    const worker = new Worker(WORKER_URL)
    const slot: Slot = { worker }
    worker.on('message', (reply: Reply) => {
      const task = slot.task
      if (!task || task.id !== reply.id) return
      slot.task = undefined
      worker.unref() // an idle pool must not keep the process alive
      if ('error' in reply) task.reject(fromErrorData(reply.error))
      else task.resolve(reply.result)
      this.#dispatch()
    })
    const fail = (err: Error) => {
      const i = this.#slots.indexOf(slot)
      if (i < 0) return
      this.#slots.splice(i, 1)
      slot.task?.reject(new KernelWorkerError(`a kernel worker died while running a tile: ${err.message}`))
      slot.task = undefined
      void worker.terminate()
      if (!this.#closed) this.#dispatch()
    }
    worker.on('error', fail)
    worker.on('exit', code => fail(new Error(`exit code ${code}`)))
    this.#slots.push(slot)
    return slot
  }
}

export function createPool (options?: PoolOptions): KernelPool {
  return new KernelPool(options)
}

function prepare (tile: RawImage, transfer: boolean): { tile: RawImage; transfer: ArrayBuffer[] } {
  const { data } = tile
  const buf = data.buffer
  if (typeof SharedArrayBuffer !== 'undefined' && buf instanceof SharedArrayBuffer) return { tile, transfer: [] }
  const owned = buf instanceof ArrayBuffer && data.byteOffset === 0 && data.byteLength === buf.byteLength && !isMarkedAsUntransferable(buf)
  if (transfer && owned) return { tile, transfer: [buf as ArrayBuffer] }
  // Cloning a view would clone its whole underlying buffer: copy just the bytes and transfer the copy.
  // (new Uint8Array(x) always copies; Buffer#slice would not.)
  const copy = new Uint8Array(data)
  return { tile: { ...tile, data: copy }, transfer: [copy.buffer] }
}
