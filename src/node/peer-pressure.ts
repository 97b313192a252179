// The sensors behind device-profile.ts's back-off: the hottest thermal zone (Linux sysfs, where a Pi
// reports its SoC) and the load average. The sysfs root is a parameter so tests give a fake one
// ($SWARM_THERMAL_DIR does the same for a running peer).
import { readdirSync, readFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { join } from 'node:path'
import { backoff, type Backoff } from './device-profile.ts'

export const THERMAL_DIR = '/sys/class/thermal'

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
  #hot = false
  tempC: number | undefined
  reason: string | undefined

  constructor (opts: { cores: number, thermalDir?: string, load?: () => number }) {
    this.#cores = opts.cores
    this.#root = opts.thermalDir ?? THERMAL_DIR
    this.#load = opts.load ?? (() => loadavg()[0])
  }

  /** The free slots to offer now, of `freeSlots`, with `busy` tiles running here. */
  offer (freeSlots: number, busy: number): Backoff {
    this.tempC = readTemperatureC(this.#root)
    const b = backoff({ tempC: this.tempC, load1: this.#load(), cores: this.#cores, busy }, freeSlots, this.#hot)
    this.#hot = b.hot
    this.reason = b.reason
    return { freeSlots: b.freeSlots, ...(b.reason != null ? { reason: b.reason } : {}) }
  }
}
