// `swarm result`'s action: wait for a job (with a progress bar) and write its output (options: ../commands/result.ts).
// Where it goes is checked before the wait: a -o that cannot be written, or a file there already without --force.
import { join, resolve, sep } from 'node:path'
import { stat } from 'node:fs/promises'
import { checkOutputFile, checkWritableDir, extensionFor, formatOfPath, OutputError, writeOutput, type ImageFormat } from '../output-paths.ts'
import { pickMode, Reporter } from '../progress.ts'

export interface ResultOpts { output?: string, force?: boolean, json?: boolean, quiet?: boolean, key?: string, peer?: string[], timeout: number }

export async function result (jobId: string, opts: ResultOpts): Promise<number> {
  const reporter = new Reporter(pickMode(opts))
  try {
    return await resultWith(reporter, jobId, opts)
  } catch (err) {
    reporter.stop()
    reporter.error(`swarm: ${(err as Error).message}`, { jobId })
    if (process.env.SWARM_DEBUG) console.error((err as Error).stack)
    return 1
  }
}

/** Where a job's output goes, from -o: a directory (for <job>.<ext>) or a file. */
export type OutputTarget = { intoDir: string } | { file: string }

/**
 * -o a directory (one already, or ending in /): <job>.<format> in it, as without -o here; else that file.
 * Checked before any wait: a -o that cannot be written, or a file there already without --force.
 */
export async function outputTarget (given: string | undefined, force: boolean, jobHint: string): Promise<OutputTarget> {
  const intoDir = given == null ? '.' : (given.endsWith('/') || given.endsWith(sep) || (await stat(given).catch(() => undefined))?.isDirectory() === true) ? given : undefined
  if (intoDir != null) {
    await checkWritableDir(intoDir, join(intoDir, `${jobHint}.<format>`))
    return { intoDir }
  }
  await checkWritableDir(resolve(given!, '..'), given!)
  await checkOutputFile(given!, { force })
  return { file: given! }
}

/** The path job `jobId`'s output in `format` is written to; refused when -o's extension names another format. */
export async function outputPathFor (target: OutputTarget, jobId: string, format: ImageFormat, force: boolean): Promise<string> {
  if ('intoDir' in target) {
    const out = join(target.intoDir, `${jobId}.${extensionFor(format)}`)
    await checkOutputFile(out, { force })
    return out
  }
  const named = formatOfPath(target.file)
  if (named != null && named !== format) {
    throw new OutputError(`job ${jobId}'s output is ${format}, but -o ${target.file} names another format: use -o with .${extensionFor(format)} (or a directory)`)
  }
  return target.file
}

async function resultWith (reporter: Reporter, jobId: string, opts: ResultOpts): Promise<number> {
  const force = opts.force === true
  const target = await outputTarget(opts.output, force, jobId)
  const [{ connectWithFeedback }, { resolveSwarmKey }, { runWatch }, { CANCELLED_REASON, REMOVED_TAIL }] = await Promise.all([
    import('../connect.ts'), import('../../node/swarm-key.ts'), import('../job-session.ts'), import('../../transfer/messages.ts')
  ])
  const human = reporter.mode === 'bars' || reporter.mode === 'lines'
  const client = await connectWithFeedback({ psk: await resolveSwarmKey(opts.key), peers: opts.peer, timeoutMs: opts.timeout }, { say: human ? (line) => { process.stderr.write(`${line}\n`) } : undefined })
  const t = reporter.track(jobId)
  t.jobId = jobId
  try {
    const outcome = await runWatch(jobId, true, {
      node: client.node,
      targets: client.targets,
      signer: client.signer,
      masterTimeoutMs: opts.timeout,
      onRetry: (why) => { reporter.say(`${jobId}: master changed (${why}); following the job on the new master`) },
      onEvent: (e) => { reporter.onEvent(t, e) }
    })
    reporter.stop()
    if (outcome.failure != null || outcome.data == null || outcome.result == null) {
      // A job that did succeed, whose output retention or the disk cap removed since: said as that, not FAILED.
      const removed = outcome.failure?.includes(REMOVED_TAIL) === true
      reporter.final(removed ? `swarm: ${outcome.failure!}` : `swarm: job ${jobId} FAILED: ${outcome.failure ?? 'no result'}`, true)
      reporter.event({ event: 'failed', jobId, reason: outcome.failure ?? 'no result', cancelled: outcome.failure === CANCELLED_REASON })
      return 1
    }
    const format = outcome.result.format
    const out = await outputPathFor(target, jobId, format, force)
    await writeOutput(out, outcome.data, force)
    reporter.final(`wrote ${out} (${outcome.result.width}x${outcome.result.height})`)
    reporter.result(out)
    reporter.event({ event: 'result', jobId, path: resolve(out), format, bytes: outcome.data.byteLength, width: outcome.result.width, height: outcome.result.height })
    return 0
  } finally {
    reporter.stop()
    await client.close()
  }
}
