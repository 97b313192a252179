// A BullMQ worker process for the broker case: takes 256x256 tile jobs (raw pixels + core rectangle,
// base64) from the queue, runs the pipeline on them with runTile, returns the core's pixels (base64).
//   node bench/cases/bullmq-worker.ts <redis port> <queue name> <op>[,<op>...]
import { Worker } from 'bullmq'
import { parsePipeline, runTile, type Channels } from '../../src/ops/index.ts'

const [port, queueName, opList] = process.argv.slice(2)
const pipeline = parsePipeline(opList.split(','))

interface TileJob { w: number, h: number, c: Channels, core: { x: number, y: number, width: number, height: number }, px: string }

const worker = new Worker<TileJob, string>(queueName, async (job) => {
  const d = job.data
  const buf = Buffer.from(d.px, 'base64')
  const tile = { width: d.w, height: d.h, channels: d.c, data: new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength) }
  const r = runTile(tile, pipeline, { phase: 0, stats: [], core: d.core })
  if (!('image' in r)) throw new Error('expected pixels')
  return Buffer.from(r.image.data.buffer, r.image.data.byteOffset, r.image.data.byteLength).toString('base64')
}, { connection: { host: '127.0.0.1', port: Number(port), maxRetriesPerRequest: null }, concurrency: 1 })

worker.on('error', (err) => { process.stderr.write(`worker error: ${err.message}\n`) })
await worker.waitUntilReady()
process.stdout.write('ready\n')

const stop = (): void => { void worker.close().finally(() => process.exit(0)) }
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
