// `swarm submit`'s action: send images to the swarm, follow each job with a progress bar, write the results
// (options: ../commands/submit.ts). The pipeline is parsed before the rest loads: see submit().
import { mkdir, stat, writeFile } from 'node:fs/promises'
import { basename, extname, join, resolve } from 'node:path'
import { MultiBar, Presets, type SingleBar } from 'cli-progress'
import { hostname, userInfo } from 'node:os'
import { parsePipeline } from '../../ops/pipeline.ts'
import type { OutputFormat } from '../../ops/index.ts'

export interface SubmitOpts { op?: string[], output?: string, format?: string, tileSize?: number, detach: boolean, key?: string, peer?: string[], timeout: number }

interface Planned { path: string, name: string, bytes: number, out: string, format: OutputFormat }

async function plan (images: string[], opts: SubmitOpts): Promise<{ planned: Planned[], refused: string[] }> {
  const [{ outputFormatFor, probeImage }, { extensionOf }] = await Promise.all([import('../../ops/index.ts'), import('../../scheduler/master.ts')])
  const output = opts.output ?? 'swarm-out'
  const single = images.length === 1 && extname(output) !== '' && opts.format == null
  const planned: Planned[] = []
  const refused: string[] = []
  for (const path of images) {
    try {
      // Header only: the master decodes the whole file and refuses a truncated one before queueing it.
      await probeImage(path)
      const format = single ? outputFormatFor(output) : (opts.format as OutputFormat | undefined) ?? 'png'
      const out = single ? resolve(output) : join(resolve(output), `${basename(path, extname(path))}.${extensionOf(format)}`)
      if (resolve(out) === resolve(path)) throw new Error(`${path}: the output would overwrite the input; pass -o`)
      planned.push({ path, name: basename(path), bytes: (await stat(path)).size, out, format })
    } catch (err) {
      refused.push((err as Error).message)
    }
  }
  return { planned, refused }
}

export async function submit (images: string[], opts: SubmitOpts): Promise<number> {
  const pipeline = parsePipeline(opts.op ?? [])
  // libp2p, libvips and zod only now (about half a second): a mistyped --op is told before they load.
  const [{ connectClient }, { resolveSwarmKey }, { CANCELLED_REASON, SUBMITTER_MAX_CHARS }, { runSubmit }] = await Promise.all([
    import('../../node/client.ts'), import('../../node/swarm-key.ts'), import('../../transfer/messages.ts'), import('../job-session.ts')
  ])
  const { planned, refused } = await plan(images, opts)
  for (const r of refused) console.error(`swarm: refused ${r}`)
  if (planned.length === 0) return 1
  const psk = await resolveSwarmKey(opts.key)
  const client = await connectClient({ psk, peers: opts.peer, timeoutMs: opts.timeout })
  const tty = process.stderr.isTTY
  const bars = new MultiBar({ clearOnComplete: false, hideCursor: true, format: ' {name} |{bar}| {value}/{total} tiles | {peers} peer(s) | {status} | ETA {eta_formatted}', stream: process.stderr }, Presets.shades_classic)
  let failures = refused.length
  try {
    await Promise.all(planned.map(async (p) => {
      let bar: SingleBar | undefined
      let waiting: string | undefined
      const say = (line: string): void => { if (tty) bars.log(`${line}\n`); else console.error(line) }
      const outcome = await runSubmit({ path: p.path, name: p.name, bytes: p.bytes, pipeline, format: p.format, tileSize: opts.tileSize, watch: !opts.detach, submitter: submitterName(SUBMITTER_MAX_CHARS) }, {
        node: client.node,
        targets: client.targets,
        masterTimeoutMs: opts.timeout,
        onRetry: (why) => { say(`${p.name}: master changed (${why}); following the job on the new master`) },
        onEvent: (e) => {
          if (e.type === 'accepted') {
            say(`${p.name}: accepted as job ${e.jobId} (${e.width}x${e.height}, ${e.tiles} tiles${e.phases > 1 ? ` x ${e.phases} phases` : ''})`)
            if (tty && !opts.detach) bar = bars.create(e.tiles * e.phases, 0, { name: p.name.slice(0, 24).padEnd(24), peers: 0, status: 'queued' })
          } else if (e.type === 'progress') {
            // Said once each time the reason changes: the job waits (the master's disk), it has not failed.
            if (e.waiting !== waiting && e.waiting != null) say(`${p.name}: waiting: ${e.waiting}`)
            waiting = e.waiting
            bar?.setTotal(e.total)
            const eta = e.etaMs != null ? `, ${aboutTime(e.etaMs)} left` : ''
            bar?.update(e.done, { peers: e.peers.length, status: e.waiting != null ? 'waiting (see above)' : e.state === 'queued' ? `queued (#${e.queuePosition + 1}${eta})` : `phase ${e.phase + 1}/${e.phaseCount}${eta}` })
          } else if (e.type === 'result') {
            bar?.update(bar.getTotal(), { status: 'done' })
          } else {
            bar?.update({ status: e.type === 'failed' && e.reason === CANCELLED_REASON ? 'CANCELLED' : 'FAILED' })
          }
        }
      }).catch((err: Error) => ({ jobId: '', failure: err.message, data: undefined }))
      if (opts.detach) {
        if (outcome.failure != null) { failures++; say(`${p.name}: ${outcome.failure}`) } else console.log(outcome.jobId)
        return
      }
      if (outcome.failure != null || outcome.data == null) {
        failures++
        say(outcome.failure === CANCELLED_REASON ? `${p.name}: cancelled (job ${outcome.jobId})` : `${p.name}: FAILED: ${outcome.failure ?? 'no result'}`)
        return
      }
      await mkdir(resolve(p.out, '..'), { recursive: true })
      await writeFile(p.out, outcome.data)
      say(`${p.name}: wrote ${p.out}`)
    }))
  } finally {
    bars.stop()
    await client.close()
  }
  return failures > 0 ? 1 : 0
}

/** "user@host", as the dashboard shows who submitted a job (a host name alone when the user has none). */
function submitterName (maxChars: number): string {
  let user = ''
  try { user = userInfo().username } catch { /* no passwd entry (a container) */ }
  return (user === '' ? hostname() : `${user}@${hostname()}`).slice(0, maxChars)
}

/** An estimate as people say it: "about 40 s", "about 3 min", "about 2 h". */
export function aboutTime (ms: number): string {
  const s = Math.max(1, Math.round(ms / 1000))
  if (s < 90) return `about ${s} s`
  if (s < 90 * 60) return `about ${Math.round(s / 60)} min`
  return `about ${Math.round(s / 3600)} h`
}
