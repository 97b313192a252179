// The sensors behind device-profile.ts's back-off: the hottest thermal zone (Linux sysfs, where a Pi
// reports its SoC) and the load average. The sysfs root is a parameter so tests give a fake one
// ($SWARM_THERMAL_DIR does the same for a running peer).
import { readdirSync, readFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { join } from 'node:path'
import { backoff, type Backoff } from './device-profile.ts'

export const THERMAL_DIR = '/sys/class/thermal'
/** os.loadavg()[0] averages the last minute: this peer's own tiles of that minute are in it. */
export const LOAD_WINDOW_MS = 60_000

/** The hottest thermal_zone*'s temperature in °C, or undefined where there is none (most PCs in a VM, macOS). */
export function readTemperatureC (root: string = THERMAL_DIR): number | undefined {
  let zones: string[]
  try {
    zones = readdirSync(root).filter(n => n.startsWith('thermal_zone'))
  } catch {
    return undefined
  }
  let hottest: number | undefined
  for (const z of zones) {
    try {
      // millidegrees Celsius, one number per file
      const milli = Number(readFileSync(join(root, z, 'temp'), 'utf8').trim())
      if (Number.isFinite(milli) && milli > -50_000 && milli < 200_000) hottest = Math.max(hottest ?? -Infinity, milli / 1000)
    } catch {
      // a zone that cannot be read (permissions, a sensor gone) says nothing
    }
  }
  return hottest
}

/** Reads the sensors and keeps the hysteresis between calls. */
export class PeerPressure {
  readonly #root: string
  readonly #cores: number
  readonly #load: () => number
  readonly #yieldToLoad: boolean
  readonly #now: () => number
  /** the busy tiles seen at each offer in the last minute: the load average's window */
  #recent: Array<{ at: number, busy: number }> = []
  #hot = false
  tempC: number | undefined
  reason: string | undefined

  constructor (opts: { cores: number, thermalDir?: string, load?: () => number, yieldToLoad?: boolean, now?: () => number }) {
    this.#cores = opts.cores
    this.#yieldToLoad = opts.yieldToLoad ?? true
    this.#now = opts.now ?? Date.now
    this.#root = opts.thermalDir ?? THERMAL_DIR
    this.#load = opts.load ?? (() => loadavg()[0])
  }

  /** The free slots to offer now, of `freeSlots`, with `busy` tiles running here. */
  offer (freeSlots: number, busy: number): Backoff {
    this.tempC = readTemperatureC(this.#root)
    const now = this.#now()
    this.#recent = this.#recent.filter(r => now - r.at < LOAD_WINDOW_MS)
    this.#recent.push({ at: now, busy })
    const own = Math.max(...this.#recent.map(r => r.busy))
    const b = backoff({ tempC: this.tempC, load1: this.#load(), cores: this.#cores, busy: own, yieldToLoad: this.#yieldToLoad }, freeSlots, this.#hot)
    this.#hot = b.hot
    this.reason = b.reason
    return { freeSlots: b.freeSlots, ...(b.reason != null ? { reason: b.reason } : {}) }
  }
}
