// `swarm submit`'s action: send images to the swarm, follow each job, write the results (options:
// ../commands/submit.ts). Everything that can be checked before the work is: the pipeline (before the rest
// loads), where each output goes and that it can be written, then each image's header.
import { stat } from 'node:fs/promises'
import { basename, dirname, resolve } from 'node:path'
import { hostname, userInfo } from 'node:os'
import { parsePipeline } from '../../ops/pipeline.ts'
import { checkOutputFile, checkWritableDir, planOutputs, writeOutput, type ImageFormat, type PlannedOutput } from '../output-paths.ts'
import { pickMode, Reporter, type Tracked } from '../progress.ts'

export { aboutTime } from '../progress.ts'

export interface SubmitOpts {
  op?: string[]
  output: string
  format?: ImageFormat
  tileSize?: number
  detach: boolean
  /** false with --no-cache. */
  cache?: boolean
  force?: boolean
  json?: boolean
  quiet?: boolean
  key?: string
  peer?: string[]
  timeout: number
}

interface Planned { path: string, name: string, bytes: number, out: string, format: ImageFormat }

/** The outputs, all checked; a refusal of one image (unreadable, its output there already) leaves the others. */
async function plan (images: string[], opts: SubmitOpts, refuse: (path: string, why: string) => void): Promise<Planned[]> {
  // With --detach nothing is written here: -o does not matter (`swarm result` is given its own).
  const outputs: PlannedOutput[] = opts.detach
    ? images.map(input => ({ input, out: '', format: opts.format ?? 'png' }))
    : await planOutputs(images, opts.output, opts.format)
  if (!opts.detach) {
    // One directory for all of them (or the one file's): a refusal here would be the same for every image.
    for (const dir of new Set(outputs.map(o => dirname(o.out)))) await checkWritableDir(dir, outputs.find(o => dirname(o.out) === dir)!.out)
  }
  const { probeImage } = await import('../../ops/index.ts')
  const planned: Planned[] = []
  for (const o of outputs) {
    try {
      if (!opts.detach) await checkOutputFile(o.out, { input: o.input, force: opts.force === true })
      // Header only: the master decodes the whole file and refuses a truncated one before queueing it.
      await probeImage(o.input)
      planned.push({ path: o.input, name: basename(o.input), bytes: (await stat(o.input)).size, out: o.out, format: o.format })
    } catch (err) {
      refuse(o.input, (err as Error).message)
    }
  }
  return planned
}

export async function submit (images: string[], opts: SubmitOpts): Promise<number> {
  const reporter = new Reporter(pickMode(opts))
  try {
    return await submitWith(reporter, images, opts)
  } catch (err) {
    reporter.stop()
    reporter.error(`swarm: ${(err as Error).message}`)
    if (process.env.SWARM_DEBUG) console.error((err as Error).stack)
    return 1
  }
}

async function submitWith (reporter: Reporter, images: string[], opts: SubmitOpts): Promise<number> {
  const pipeline = parsePipeline(opts.op ?? [])
  let failures = 0
  const planned = await plan(images, opts, (path, why) => {
    failures++
    // probeImage's messages start with the file's name; the output's checks name the output.
    reporter.error(`swarm: refused ${why.startsWith(path) ? why : `${path}: ${why}`}`, { input: path })
  })
  if (planned.length === 0) return 1
  // libp2p and zod only now (about half a second): a mistyped --op or a bad -o is told before they load.
  const [{ connectWithFeedback }, { resolveSwarmKey }, { CANCELLED_REASON, SUBMITTER_MAX_CHARS }, { runSubmit }] = await Promise.all([
    import('../connect.ts'), import('../../node/swarm-key.ts'), import('../../transfer/messages.ts'), import('../job-session.ts')
  ])
  const psk = await resolveSwarmKey(opts.key)
  const human = reporter.mode === 'bars' || reporter.mode === 'lines'
  const client = await connectWithFeedback({ psk, peers: opts.peer, timeoutMs: opts.timeout }, { say: human ? (line) => { process.stderr.write(`${line}\n`) } : undefined })
  // Ctrl-C ends this command, not the jobs: say which are still running and how to get them.
  // Ctrl-C reaches bin/swarm.js's wrapper too, which passes it on: the second is the same request.
  let interrupted = false
  const onSigint = (): void => {
    if (interrupted) return
    interrupted = true
    reporter.stop()
    for (const t of reporter.tracked) {
      if (t.ended) continue
      process.stderr.write(t.jobId != null
        ? `${t.name}: still running on the swarm as job ${t.jobId}; \`swarm result ${t.jobId}\` fetches it later (\`swarm cancel ${t.jobId}\` stops it)\n`
        : `${t.name}: interrupted before the swarm accepted it\n`)
    }
    process.exit(130)
  }
  process.on('SIGINT', onSigint)
  try {
    await Promise.all(planned.map(async (p) => {
      const t: Tracked = reporter.track(p.name)
      const outcome = await runSubmit({ path: p.path, name: p.name, bytes: p.bytes, pipeline, format: p.format, tileSize: opts.tileSize, watch: !opts.detach, submitter: submitterName(SUBMITTER_MAX_CHARS), ...(opts.cache === false ? { noCache: true } : {}) }, {
        node: client.node,
        targets: client.targets,
        signer: client.signer,
        masterTimeoutMs: opts.timeout,
        onRetry: (why) => { reporter.say(`${p.name}: master changed (${why}); following the job on the new master`) },
        onEvent: (e) => { reporter.onEvent(t, e, !opts.detach) }
      }).catch((err: Error) => ({ jobId: t.jobId ?? '', failure: err.message, data: undefined, result: undefined }))
      t.ended = true
      const ids = { name: p.name, input: p.path, jobId: outcome.jobId === '' ? undefined : outcome.jobId }
      if (opts.detach) {
        if (outcome.failure != null) {
          failures++
          reporter.error(`${p.name}: ${outcome.failure}`, ids)
        } else if (reporter.mode !== 'json') process.stdout.write(`${outcome.jobId}\n`)
        return
      }
      if (outcome.failure != null || outcome.data == null) {
        failures++
        const cancelled = outcome.failure === CANCELLED_REASON
        reporter.final(cancelled ? `${p.name}: cancelled (job ${outcome.jobId})` : `${p.name}: FAILED: ${outcome.failure ?? 'no result'}`, true)
        reporter.event({ event: 'failed', ...ids, reason: outcome.failure ?? 'no result', cancelled })
        return
      }
      try {
        await writeOutput(p.out, outcome.data, opts.force === true)
      } catch (err) {
        failures++
        const again = `; it stays on the swarm: \`swarm result ${outcome.jobId} -o <path>\` fetches it again`
        reporter.final(`${p.name}: FAILED: ${(err as Error).message}${again}`, true)
        reporter.event({ event: 'error', ...ids, message: (err as Error).message })
        return
      }
      reporter.final(`${p.name}: wrote ${p.out}`)
      reporter.result(p.out)
      reporter.event({ event: 'result', ...ids, path: resolve(p.out), format: p.format, bytes: outcome.data.byteLength, width: outcome.result?.width, height: outcome.result?.height })
    }))
  } finally {
    process.removeListener('SIGINT', onSigint)
    reporter.stop()
    await client.close()
  }
  return failures > 0 ? 1 : 0
}

/** "user@host", as the dashboard shows who submitted a job (a host name alone when the user has none). */
export function submitterName (maxChars: number): string {
  let user = ''
  try { user = userInfo().username } catch { /* no passwd entry (a container) */ }
  return (user === '' ? hostname() : `${user}@${hostname()}`).slice(0, maxChars)
}
