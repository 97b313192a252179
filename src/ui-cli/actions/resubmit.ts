// `swarm resubmit`'s action: run a recorded job again from the input the swarm kept, follow it, write its
// output (options: ../commands/resubmit.ts). Where it goes is checked before the master is asked.
import { resolve } from 'node:path'
import { formatOfPath, writeOutput, type ImageFormat } from '../output-paths.ts'
import { pickMode, Reporter } from '../progress.ts'
import { outputPathFor, outputTarget, type OutputTarget } from './result.ts'

export interface ResubmitOpts {
  output?: string
  format?: ImageFormat
  /** false with --no-cache. */
  cache?: boolean
  force?: boolean
  detach?: boolean
  json?: boolean
  quiet?: boolean
  key?: string
  peer?: string[]
  timeout: number
}

export async function resubmit (from: string, opts: ResubmitOpts): Promise<number> {
  const reporter = new Reporter(pickMode(opts))
  try {
    return await resubmitWith(reporter, from, opts)
  } catch (err) {
    reporter.stop()
    reporter.error(`swarm: ${(err as Error).message}`, { from })
    if (process.env.SWARM_DEBUG) console.error((err as Error).stack)
    return 1
  }
}

async function resubmitWith (reporter: Reporter, from: string, opts: ResubmitOpts): Promise<number> {
  const force = opts.force === true
  const detach = opts.detach === true
  // With --detach nothing is written here; else -o is checked now, and its extension picks the format.
  const target: OutputTarget | undefined = detach ? undefined : await outputTarget(opts.output, force, '<new job>')
  const format = opts.format ?? (target != null && 'file' in target ? formatOfPath(target.file) : undefined)
  const [{ connectWithFeedback }, { resolveSwarmKey }, { runResubmit }, { CANCELLED_REASON, SUBMITTER_MAX_CHARS }, { submitterName }] = await Promise.all([
    import('../connect.ts'), import('../../node/swarm-key.ts'), import('../job-session.ts'), import('../../transfer/messages.ts'), import('./submit.ts')
  ])
  const human = reporter.mode === 'bars' || reporter.mode === 'lines'
  const client = await connectWithFeedback({ psk: await resolveSwarmKey(opts.key), peers: opts.peer, timeoutMs: opts.timeout }, { say: human ? (line) => { process.stderr.write(`${line}\n`) } : undefined })
  const t = reporter.track(`${from} again`)
  try {
    const outcome = await runResubmit({
      from, watch: !detach, submitter: submitterName(SUBMITTER_MAX_CHARS),
      ...(format != null ? { format } : {}),
      ...(opts.cache === false ? { noCache: true } : {})
    }, {
      node: client.node,
      targets: client.targets,
      signer: client.signer,
      masterTimeoutMs: opts.timeout,
      onRetry: (why) => { reporter.say(`${from}: master changed (${why}); following the job on the new master`) },
      onEvent: (e) => { reporter.onEvent(t, e, !detach) }
    })
    t.ended = true
    reporter.stop()
    const ids = { from, jobId: outcome.jobId }
    if (detach) {
      if (reporter.mode !== 'json') process.stdout.write(`${outcome.jobId}\n`)
      return 0
    }
    if (outcome.failure != null || outcome.data == null || outcome.result == null) {
      const cancelled = outcome.failure === CANCELLED_REASON
      reporter.final(cancelled ? `${from} again: cancelled (job ${outcome.jobId})` : `${from} again: FAILED: ${outcome.failure ?? 'no result'}`, true)
      reporter.event({ event: 'failed', ...ids, reason: outcome.failure ?? 'no result', cancelled })
      return 1
    }
    const out = await outputPathFor(target!, outcome.jobId, outcome.result.format, force)
    await writeOutput(out, outcome.data, force)
    reporter.final(`${from} again as ${outcome.jobId}: wrote ${out} (${outcome.result.width}x${outcome.result.height})`)
    reporter.result(out)
    reporter.event({ event: 'result', ...ids, path: resolve(out), format: outcome.result.format, bytes: outcome.data.byteLength, width: outcome.result.width, height: outcome.result.height })
    return 0
  } finally {
    reporter.stop()
    await client.close()
  }
}
