// `swarm run`'s action: run a pipeline on one image on this machine (options: ../commands/run.ts).
// The output is checked before the work (it can be written, it is not the input, it is not there already
// unless --force), and written by name: an error names the path given, not a temporary file.
import { dirname } from 'node:path'
import { formatPipeline, parsePipeline } from '../../ops/pipeline.ts'
import { checkOutputFile, checkWritableDir, planOutputs, writeOutput, type ImageFormat } from '../output-paths.ts'

export interface RunOpts { output: string, op?: string[], format?: ImageFormat, force?: boolean, maxPixels?: number, threads?: number }

export async function run (image: string, opts: RunOpts): Promise<void> {
  if (opts.op == null || opts.op.length === 0) {
    throw new Error('nothing to do: give at least one --op, e.g. --op grayscale (run `swarm ops` for the list)')
  }
  const pipeline = parsePipeline(opts.op)
  const [{ out, format }] = await planOutputs([image], opts.output, opts.format)
  await checkWritableDir(dirname(out), out)
  await checkOutputFile(out, { input: image, force: opts.force === true })
  // libvips and the kernel pool only now: a mistyped --op or a bad -o is told before they load.
  const [{ decodeImage, encodeImageToBuffer, runImage }, { phaseCount }, { createPool }] = await Promise.all([
    import('../../ops/index.ts'), import('../../ops/pipeline.ts'), import('../../ops/pool.ts')
  ])
  const started = performance.now()
  const raw = await decodeImage(image, { maxPixels: opts.maxPixels })
  const pool = createPool({ size: opts.threads })
  try {
    const result = await runImage(raw, pipeline, pool)
    const bytes = await encodeImageToBuffer(result, format).catch((err: Error) => { throw new Error(`${out}: cannot encode as ${format}: ${err.message}`) })
    await writeOutput(out, bytes, opts.force === true)
    const phases = phaseCount(pipeline)
    console.log(`wrote ${out}: ${result.width}x${result.height}, ${result.channels} channel${result.channels > 1 ? 's' : ''}` +
      ` (${formatPipeline(pipeline)}; ${phases} phase${phases > 1 ? 's' : ''}, ${Math.round(performance.now() - started)} ms)`)
  } finally {
    await pool.close()
  }
}
