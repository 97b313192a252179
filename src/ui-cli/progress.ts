// What `swarm submit` and `swarm result` say while jobs run, in one of four ways:
//   bars   stderr is a terminal: a bar per job, fitted to its width; the outcome lines after the bars stop
//   lines  stderr is a pipe or a file: a line per 10% (and every 5 s while the job moves), no escape codes
//   json   --json: NDJSON events on stdout, one object per line, and nothing else there
//   quiet  --quiet: nothing but errors on stderr; the caller prints the final paths on stdout
import { MultiBar, type SingleBar } from 'cli-progress'
import { CANCELLED_REASON, type JobEvent } from '../transfer/messages.ts'

export type ProgressMode = 'bars' | 'lines' | 'json' | 'quiet'

interface Stream { write: (s: string) => unknown, isTTY?: boolean, columns?: number }

export function pickMode (opts: { json?: boolean, quiet?: boolean }, stderr: Stream = process.stderr): ProgressMode {
  if (opts.json === true) return 'json'
  if (opts.quiet === true) return 'quiet'
  return stderr.isTTY === true ? 'bars' : 'lines'
}

/** Colours on a terminal only, and never with NO_COLOR set (https://no-color.org). */
export function colourAllowed (stream: Stream = process.stderr, env: NodeJS.ProcessEnv = process.env): boolean {
  return stream.isTTY === true && (env.NO_COLOR == null || env.NO_COLOR === '')
}

/** An estimate as people say it: "about 40 s", "about 3 min", "about 2 h". */
export function aboutTime (ms: number): string {
  const s = Math.max(1, Math.round(ms / 1000))
  if (s < 90) return `about ${s} s`
  if (s < 90 * 60) return `about ${Math.round(s / 60)} min`
  return `about ${Math.round(s / 3600)} h`
}

/** Lines (or JSON events) without a terminal: each time a tenth more is done, and every `everyMs` while it moves. */
export class ProgressThrottle {
  #decile = 0
  #done = 0
  #at: number
  readonly #everyMs: number
  constructor (now: number, everyMs = 5000) {
    this.#at = now
    this.#everyMs = everyMs
  }

  due (done: number, total: number, now: number): boolean {
    if (total <= 0) return false
    const decile = Math.floor(Math.min(done, total) * 10 / total)
    const moved = done !== this.#done
    if (decile > this.#decile || (moved && now - this.#at >= this.#everyMs)) {
      this.#decile = Math.max(decile, this.#decile)
      this.#done = done
      this.#at = now
      return true
    }
    return false
  }
}

type Progress = Extract<JobEvent, { type: 'progress' }>

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`

/** The bar's status column: where the job stands. */
export function statusOf (e: Progress): string {
  if (e.waiting != null) return 'waiting (see above)'
  const eta = e.etaMs != null ? `, ${aboutTime(e.etaMs)} left` : ''
  if (e.state === 'queued') return `queued #${e.queuePosition + 1}${eta}`
  return `${plural(e.peers.length, 'peer')}${e.phaseCount > 1 ? `, phase ${e.phase + 1}/${e.phaseCount}` : ''}${eta}`
}

/** "photo.jpg: 40% (54/135 tiles, 3 peers, about 12 s left)", the line a pipe gets. */
export function progressLine (name: string, e: Progress): string {
  if (e.state === 'queued') return `${name}: queued, #${e.queuePosition + 1} in line`
  const pct = e.total > 0 ? Math.floor(Math.min(e.done, e.total) * 100 / e.total) : 0
  const eta = e.etaMs != null ? `, ${aboutTime(e.etaMs)} left` : ''
  const phase = e.phaseCount > 1 ? `, phase ${e.phase + 1}/${e.phaseCount}` : ''
  return `${name}: ${pct}% (${e.done}/${e.total} tiles, ${plural(e.peers.length, 'peer')}${phase}${eta})`
}

const fit = (s: string, width: number): string => s.length <= width ? s.padEnd(width) : width <= 1 ? s.slice(0, width) : `${s.slice(0, width - 1)}…`

/**
 * One bar's line, never wider than the terminal less a column (a full last column wraps on some
 * terminals): name, bar, tiles done, status. The name and status give way first, the bar shrinks to fit.
 */
export function barLine (columns: number, name: string, value: number, total: number, status: string): string {
  const width = Math.max(20, columns) - 1
  // The count keeps its width as it grows, so the bar does not jitter by a column.
  const count = `${String(value).padStart(String(total).length)}/${total} tiles`
  const nameWidth = Math.min(24, Math.max(6, Math.floor(width * 0.2)))
  // What is left once the name, the count and the least bar (10) are placed goes to the status, up to 30.
  const statusWidth = Math.min(30, Math.max(0, width - nameWidth - count.length - 3 - 10))
  const barWidth = Math.max(3, Math.min(40, width - nameWidth - count.length - 3 - (statusWidth > 0 ? statusWidth + 1 : 0)))
  const filled = total > 0 ? Math.round(Math.min(1, value / total) * barWidth) : 0
  const bar = '\u2588'.repeat(filled) + '\u2591'.repeat(barWidth - filled)
  const line = `${fit(name, nameWidth)} ${bar} ${count}${statusWidth > 0 ? ` ${fit(status, statusWidth)}` : ''}`
  return line.slice(0, width).trimEnd()
}

interface Outputs { stdout: Stream, stderr: Stream, now: () => number, env: NodeJS.ProcessEnv }

/** One job as the reporter follows it. */
export interface Tracked {
  name: string
  jobId?: string
  /** The job ended (a result or a failure): Ctrl-C no longer leaves it behind. */
  ended: boolean
}

export class Reporter {
  readonly mode: ProgressMode
  readonly #io: Outputs
  #bars: MultiBar | undefined
  readonly #barOf = new Map<Tracked, SingleBar>()
  readonly #throttles = new Map<Tracked, ProgressThrottle>()
  readonly #waiting = new Map<Tracked, string | undefined>()
  /** Outcome lines kept while the bars are drawn: a line logged just before they stop would be lost. */
  readonly #finals: string[] = []
  readonly tracked: Tracked[] = []

  constructor (mode: ProgressMode, io: Partial<Outputs> = {}) {
    this.mode = mode
    this.#io = { stdout: io.stdout ?? process.stdout, stderr: io.stderr ?? process.stderr, now: io.now ?? Date.now, env: io.env ?? process.env }
  }

  /** A human line on stderr (none with --json or --quiet); above the bars while they are drawn. */
  say (line: string): void {
    if (this.mode === 'json' || this.mode === 'quiet') return
    if (this.#bars != null) this.#bars.log(`${line}\n`)
    else this.#io.stderr.write(`${line}\n`)
  }

  /** An error: on stderr always, and as an `error` event with --json. */
  error (line: string, fields: Record<string, unknown> = {}): void {
    if (this.mode === 'json') this.event({ event: 'error', ...fields, message: line.replace(/^swarm: /, '') })
    if (this.#bars != null) this.#bars.log(`${line}\n`)
    else this.#io.stderr.write(`${line}\n`)
  }

  /** One NDJSON line on stdout (with --json only). */
  event (e: Record<string, unknown>): void {
    if (this.mode === 'json') this.#io.stdout.write(`${JSON.stringify(e)}\n`)
  }

  /** A line for stdout with --quiet (the paths written, job ids). */
  result (line: string): void {
    if (this.mode === 'quiet') this.#io.stdout.write(`${line}\n`)
  }

  /** The outcome of a job: after the bars when there are bars; `failure` ones go out in --quiet too. */
  final (line: string, failure = false): void {
    if (this.mode === 'json' || (this.mode === 'quiet' && !failure)) return
    const text = failure && colourAllowed(this.#io.stderr, this.#io.env) ? line.replace(/\b(FAILED|cancelled)\b/, '\u001b[31m$1\u001b[39m') : line
    if (this.#bars != null) this.#finals.push(text)
    else this.#io.stderr.write(`${text}\n`)
  }

  track (name: string): Tracked {
    const t: Tracked = { name, ended: false }
    this.tracked.push(t)
    return t
  }

  /** The bars, made on the first job that needs one. */
  #multibar (): MultiBar {
    this.#bars ??= new MultiBar({
      stream: this.#io.stderr as NodeJS.WritableStream,
      hideCursor: true,
      clearOnComplete: false,
      format: (_o, params, payload: { name: string, status: string }) => barLine(this.#io.stderr.columns ?? 80, payload.name, params.value, params.total, payload.status)
    })
    return this.#bars
  }

  /** A job's event, told the mode's way. `bar`: draw a bar for it (not with --detach). */
  onEvent (t: Tracked, e: JobEvent, bar = true): void {
    const base = { name: t.name, jobId: e.jobId }
    if (e.type === 'accepted') {
      t.jobId = e.jobId
      this.say(e.cached === true
        ? `${t.name}: cached (job ${e.jobId} did the same before)`
        : `${t.name}: accepted as job ${e.jobId} (${e.width}x${e.height}, ${e.tiles} tiles${e.phases > 1 ? ` x ${e.phases} phases` : ''})`)
      this.event({ event: 'accepted', ...base, width: e.width, height: e.height, tiles: e.tiles, phases: e.phases, cached: e.cached === true })
      this.#throttles.set(t, new ProgressThrottle(this.#io.now()))
      if (this.mode === 'bars' && bar) this.#barOf.set(t, this.#multibar().create(e.tiles * e.phases, 0, { name: t.name, status: 'queued' }))
    } else if (e.type === 'progress') {
      t.jobId ??= e.jobId
      // Said once each time the reason changes: the job waits (the master's disk), it has not failed.
      if (e.waiting !== this.#waiting.get(t) && e.waiting != null) this.say(`${t.name}: waiting: ${e.waiting}`)
      this.#waiting.set(t, e.waiting)
      // A watch (`swarm result`) starts with the job's progress, not "accepted": its bar is made on the first.
      if (this.mode === 'bars' && bar && !t.ended && !this.#barOf.has(t)) this.#barOf.set(t, this.#multibar().create(e.total, e.done, { name: t.name, status: statusOf(e) }))
      const b = this.#barOf.get(t)
      if (b != null) {
        if (b.getTotal() !== e.total) b.setTotal(e.total)
        b.update(e.done, { name: t.name, status: statusOf(e) })
        return
      }
      let throttle = this.#throttles.get(t)
      if (throttle == null) { throttle = new ProgressThrottle(this.#io.now()); this.#throttles.set(t, throttle) }
      if (!throttle.due(e.done, e.total, this.#io.now())) return
      if (this.mode === 'lines') this.say(progressLine(t.name, e))
      this.event({ event: 'progress', ...base, state: e.state, done: e.done, total: e.total, percent: e.total > 0 ? Math.floor(Math.min(e.done, e.total) * 100 / e.total) : 0, peers: e.peers.length, phase: e.phase, phaseCount: e.phaseCount, ...(e.etaMs != null ? { etaMs: e.etaMs } : {}), ...(e.waiting != null ? { waiting: e.waiting } : {}) })
    } else if (e.type === 'result') {
      t.ended = true
      const b = this.#barOf.get(t)
      b?.update(b.getTotal(), { name: t.name, status: 'done' })
    } else {
      t.ended = true
      this.#barOf.get(t)?.update({ name: t.name, status: e.reason === CANCELLED_REASON ? 'CANCELLED' : 'FAILED' })
    }
  }

  /** The bars stop (the cursor comes back), then the outcome lines kept for after them. */
  stop (): void {
    if (this.#bars != null) {
      // Flushes lines logged since the last redraw: stop() alone drops them.
      this.#bars.update()
      this.#bars.stop()
      this.#bars = undefined
    }
    for (const line of this.#finals.splice(0)) this.#io.stderr.write(`${line}\n`)
  }
}
