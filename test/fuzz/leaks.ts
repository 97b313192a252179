// What the fuzz suite can really measure of a leak: timers the code under test armed and neither cancelled
// nor saw fire (a counting Clock: the project's timers are unref'd, so the process does not list them), file
// descriptors still open (/proc/self/fd, Linux), files left in a directory; and the shape of an error message
// a peer logs or sends back (one line, not a stack).
import { readdirSync } from 'node:fs'
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { expect } from 'vitest'
import { systemClock, type Clock, type Timer } from '../../src/transfer/clock.ts'

/** The system's clock, counting the timers armed through it that are still pending. */
export function countingClock (): Clock & { armed: () => number } {
  let armed = 0
  const track = (arm: (fire: () => void) => Timer, once: boolean, fn: () => void): Timer => {
    let live = true
    armed++
    const t = arm(() => {
      if (once && live) { live = false; armed-- }
      fn()
    })
    return { cancel: () => { if (live) { live = false; armed-- } t.cancel() } }
  }
  const after: Clock['after'] = (ms, fn) => track(fire => systemClock.after(ms, fire), true, fn)
  return {
    now: systemClock.now,
    after,
    every: (ms, fn) => track(fire => systemClock.every(ms, fire), false, fn),
    sleep: async (ms, signal) => {
      await new Promise<void>((resolve, reject) => {
        if (signal?.aborted === true) { reject(signal.reason); return }
        const onAbort = (): void => { t.cancel(); reject(signal?.reason) }
        const t = after(ms, () => { signal?.removeEventListener('abort', onAbort); resolve() })
        signal?.addEventListener('abort', onAbort, { once: true })
      })
    },
    armed: () => armed
  }
}

/** Timers of the test itself (and of libraries that ref theirs) the process still has. */
export function activeTimers (): number {
  return process.getActiveResourcesInfo().filter(r => r === 'Timeout').length
}

/** Waits (up to `ms`) for the process's timers to fall back to `baseline` (+ a little) and returns the count then. */
export async function settledTimers (baseline: number, ms = 3000): Promise<number> {
  const end = Date.now() + ms
  let n = activeTimers()
  while (n > baseline + 2 && Date.now() < end) {
    await new Promise(resolve => setTimeout(resolve, 20))
    n = activeTimers() // this wait's own timer has fired: it is not counted
  }
  return n
}

/** Open file descriptors of this process; undefined where /proc is not there. */
export function openFds (): number | undefined {
  try {
    return readdirSync('/proc/self/fd').length
  } catch {
    return undefined
  }
}

/** Waits (up to `ms`) for the open descriptors to fall back to `baseline` (+ `slack`); returns the count then. */
export async function settledFds (baseline: number | undefined, slack: number, ms = 3000): Promise<number | undefined> {
  if (baseline == null) return undefined
  const end = Date.now() + ms
  let n = openFds() ?? 0
  while (n > baseline + slack && Date.now() < end) {
    await new Promise(resolve => setTimeout(resolve, 20))
    n = openFds() ?? 0
  }
  return n
}

/** Every file under `dir`, as paths relative to it. */
export async function filesUnder (dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => [])
  return entries.filter(e => e.isFile()).map(e => join(e.parentPath, e.name).slice(dir.length + 1)).sort()
}

/** A message fit for a log line or an error frame: one line, not empty, no stack. */
export function expectOneLine (message: string): void {
  expect(message.length).toBeGreaterThan(0)
  expect(message).not.toMatch(/\n/)
  expect(message).not.toMatch(/^\s+at /m)
}
