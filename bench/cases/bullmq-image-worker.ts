// A BullMQ worker process for the small-jobs case: each job is a whole encoded image (base64); the
// worker does what `swarm run` does (decode, the pipeline on the whole image in a kernel thread of its
// pool, encode) and returns the encoded output (base64).
//   node bench/cases/bullmq-image-worker.ts <redis port> <queue name> <op>[,<op>...] <output format>
import { Worker } from 'bullmq'
import { createPool, decodeImage, encodeImageToBuffer, parsePipeline, runImage, type OutputFormat } from '../../src/ops/index.ts'

const [port, queueName, opList, format] = process.argv.slice(2)
const pipeline = parsePipeline(opList.split(','))
// One kernel thread, as a `swarm start --slots 1` peer has.
const pool = createPool({ size: 1 })

interface ImageJob { img: string }

const worker = new Worker<ImageJob, string>(queueName, async (job) => {
  const raw = await decodeImage(Buffer.from(job.data.img, 'base64'), { name: `job ${job.id}` })
  const out = await runImage(raw, pipeline, pool)
  const bytes = await encodeImageToBuffer(out, format as OutputFormat)
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')
}, { connection: { host: '127.0.0.1', port: Number(port), maxRetriesPerRequest: null }, concurrency: 1 })

worker.on('error', (err) => { process.stderr.write(`worker error: ${err.message}\n`) })
await worker.waitUntilReady()
process.stdout.write('ready\n')

const stop = (): void => { void worker.close().then(async () => { await pool.close() }).finally(() => process.exit(0)) }
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
