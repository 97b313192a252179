// `swarm run`'s action: run a pipeline on one image on this machine (options: ../commands/run.ts).
import { formatPipeline, parsePipeline } from '../../ops/pipeline.ts'

export interface RunOpts { output: string; op: string[]; maxPixels?: number; threads?: number }

export async function run (image: string, opts: RunOpts): Promise<void> {
  if (opts.op.length === 0) {
    throw new Error('nothing to do: give at least one --op, e.g. --op grayscale (run `swarm ops` for the list)')
  }
  const pipeline = parsePipeline(opts.op)
  // libvips and the kernel pool only now: a mistyped --op is told before they load.
  const [{ runLocal }, { createPool }] = await Promise.all([import('../../ops/local.ts'), import('../../ops/pool.ts')])
  const pool = createPool({ size: opts.threads })
  try {
    const r = await runLocal(image, pipeline, opts.output, { pool, maxPixels: opts.maxPixels })
    console.log(`wrote ${opts.output}: ${r.width}x${r.height}, ${r.channels} channel${r.channels > 1 ? 's' : ''}` +
      ` (${formatPipeline(pipeline)}; ${r.phases} phase${r.phases > 1 ? 's' : ''}, ${r.milliseconds} ms)`)
  } finally {
    await pool.close()
  }
}
