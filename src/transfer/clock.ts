// Time, passed in: the shells read the clock and arm timers only through this, so a test (or the
// deterministic simulation) can drive them with a fake one. Pure files take `now` in their events instead.

export interface Timer { cancel: () => void }

export interface Clock {
  /** Milliseconds since the epoch (wall time: lease ids and logs are compared across peers). */
  now: () => number
  /** Runs `fn` once after `ms`; the timer does not keep the process alive. */
  after: (ms: number, fn: () => void) => Timer
  /** Runs `fn` every `ms` until cancelled; does not keep the process alive. */
  every: (ms: number, fn: () => void) => Timer
  /** Resolves after `ms` (rejects with the signal's reason when it aborts first). */
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>
}

function sleepWith (after: Clock['after']): Clock['sleep'] {
  return async (ms, signal) => {
    await new Promise<void>((resolve, reject) => {
      if (signal?.aborted === true) { reject(signal.reason); return }
      const onAbort = (): void => { t.cancel(); reject(signal?.reason) }
      const t = after(ms, () => { signal?.removeEventListener('abort', onAbort); resolve() })
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }
}

const systemAfter: Clock['after'] = (ms, fn) => {
  const t = setTimeout(fn, ms)
  t.unref()
  return { cancel: () => { clearTimeout(t) } }
}

/** The machine's clock and timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  after: systemAfter,
  every: (ms, fn) => {
    const t = setInterval(fn, ms)
    t.unref()
    return { cancel: () => { clearInterval(t) } }
  },
  sleep: sleepWith(systemAfter)
}

/**
 * A clock that moves only when told: `advance(ms)` runs every timer that falls due, in time order.
 * For unit tests of the shells; the VOPR has its own agenda.
 */
export class ManualClock implements Clock {
  private t: number
  private seq = 0
  private readonly timers = new Map<number, { at: number, fn: () => void, every?: number }>()

  constructor (start = 0) { this.t = start }

  now = (): number => this.t

  after = (ms: number, fn: () => void): Timer => this.add(ms, fn)

  every = (ms: number, fn: () => void): Timer => this.add(ms, fn, Math.max(1, ms))

  sleep = sleepWith(this.after)

  /** Moves time forward by `ms`, running due timers (and those they arm) in time order; ties in the order armed. */
  advance (ms: number): void {
    const end = this.t + ms
    for (;;) {
      let next: [number, { at: number, fn: () => void, every?: number }] | undefined
      for (const e of this.timers) if (e[1].at <= end && (next == null || e[1].at < next[1].at)) next = e
      if (next == null) break
      const [id, timer] = next
      this.t = Math.max(this.t, timer.at)
      if (timer.every != null) timer.at += timer.every
      else this.timers.delete(id)
      timer.fn()
    }
    this.t = end
  }

  /** Timers armed and not yet run or cancelled. */
  get pending (): number { return this.timers.size }

  private add (ms: number, fn: () => void, every?: number): Timer {
    const id = this.seq++
    this.timers.set(id, { at: this.t + Math.max(0, ms), fn, every })
    return { cancel: () => { this.timers.delete(id) } }
  }
}

/**
 * A signal that aborts after `ms` on `clock`, as AbortSignal.timeout does on the system's (same reason:
 * a TimeoutError). `cancel` disarms it once the bounded operation is over, so no timer outlives it.
 */
export function timeoutSignal (clock: Clock, ms: number): { signal: AbortSignal, cancel: () => void } {
  const ac = new AbortController()
  const t = clock.after(ms, () => { ac.abort(new DOMException(`timed out after ${ms} ms`, 'TimeoutError')) })
  return { signal: ac.signal, cancel: () => { t.cancel() } }
}
