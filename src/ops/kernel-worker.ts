// Body of a kernel worker thread: runs runTile for the pool (./pool.ts) and hands the pixels back by
// transfer. Messages: in { id, tile, pipeline, opts } -> out { id, result } | { id, error }.
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
