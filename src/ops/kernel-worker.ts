// Body of a kernel worker thread: runs runTile for the pool (./pool.ts) and hands the pixels back by
// transfer. Messages: in { id, tile, pipeline, opts } -> out { id, result } | { id, error }.
import { setFlagsFromString } from 'node:v8'
import { parentPort } from 'node:worker_threads'
import { toErrorData } from './errors.ts'
import { validatePipeline } from './pipeline.ts'
import { runTile } from './run-tile.ts'
import type { TileOptions } from './run-tile.ts'
import type { RawImage } from './raw.ts'

export interface WorkerRequest {
  id: number
  tile: RawImage
  pipeline: unknown
  opts: TileOptions
}

// V8 runs new wasm code in its baseline compiler (Liftoff) first and swaps in optimised code only for
// later calls. A whole-image `swarm run` is one call per op, which would then run 2-4x slower to the end:
// compile the kernels with the optimising compiler up front (a few ms, once per thread). The flag is
// read when a module is compiled, and the kernels compile on first use, after this line.
setFlagsFromString('--no-liftoff')

if (!parentPort) throw new Error('kernel-worker.ts must run as a worker thread')
const port = parentPort

port.on('message', (msg: WorkerRequest) => {
  try {
    const result = runTile(msg.tile, validatePipeline(msg.pipeline), msg.opts)
    if ('image' in result) {
      let data = result.image.data
      // Transfer needs a buffer holding exactly these bytes; kernels allocate such buffers, so this rarely copies.
      if (data.byteOffset !== 0 || data.byteLength !== data.buffer.byteLength || !(data.buffer instanceof ArrayBuffer)) data = new Uint8Array(data)
      port.postMessage({ id: msg.id, result: { image: { ...result.image, data } } }, [data.buffer as ArrayBuffer])
    } else {
      port.postMessage({ id: msg.id, result })
    }
  } catch (err) {
    port.postMessage({ id: msg.id, error: toErrorData(err) })
  }
})
