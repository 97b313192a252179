// What a small or hot device (a Raspberry Pi) should do differently, decided from what it reports: no
// clock, no I/O here. peer-pressure.ts reads the sensors; swarm-node.ts applies the answers.

/** Below this much memory a device is not asked to be master: the queue, stitches and uploads live there. */
export const SMALL_DEVICE_BYTES = 2 * 1024 ** 3
/**
 * A Raspberry Pi 4/5 starts to throttle its clock at 80 °C (and hard at 85 °C): a peer this hot takes no new
 * tiles, and takes them again below COOL_C, so it does not flap at the line.
 */
export const HOT_C = 80
export const COOL_C = 75

export interface Device {
  /** process.arch: 'x64', 'arm64', 'arm' */
  arch: string
  /** os.totalmem() */
  totalMem: number
}

/**
 * Whether this peer may be elected master: as asked (--master, --no-master), else yes unless it is an arm
 * device or has less than SMALL_DEVICE_BYTES (a 12-15x slower master holds up every peer's tiles).
 */
export function masterEligibility (asked: boolean | undefined, d: Device): { eligible: boolean, why: string } {
  if (asked === true) return { eligible: true, why: 'asked (--master)' }
  if (asked === false) return { eligible: false, why: 'asked (--no-master)' }
  if (d.arch.startsWith('arm')) return { eligible: false, why: `an ${d.arch} device: it takes tiles, and is not master unless started with --master` }
  if (d.totalMem < SMALL_DEVICE_BYTES) return { eligible: false, why: `${Math.round(d.totalMem / 1024 ** 2)} MiB of memory (under ${SMALL_DEVICE_BYTES / 1024 ** 3} GiB): it takes tiles, and is not master unless started with --master` }
  return { eligible: true, why: 'default' }
}

/**
 * Whether this peer gives way to other work on its device (the load back-off): as asked, else on the devices
 * people also use for something else and that have little to spare (arm, or under SMALL_DEVICE_BYTES). Off
 * on a PC by default: there the load average also counts other peers and tests run on the same host.
 */
export function yieldsToLoad (asked: boolean | undefined, d: Device): boolean {
  return asked ?? (d.arch.startsWith('arm') || d.totalMem < SMALL_DEVICE_BYTES)
}

export interface Pressure {
  /** the hottest thermal zone, °C; undefined where the device has none */
  tempC?: number
  /** os.loadavg()[0] */
  load1: number
  cores: number
  /**
   * tiles this peer worked on at once in the last minute, at most (its part of load1: the load average
   * lags a minute, so its own tiles just finished still count in it)
   */
  busy: number
  /** false: no load back-off (see yieldsToLoad) */
  yieldToLoad?: boolean
}

export interface Backoff {
  /** the free slots to offer (at most the caller's) */
  freeSlots: number
  /** why fewer than asked, for the log and `swarm status`; undefined when none are held back */
  reason?: string
}

/**
 * The free slots a peer offers under pressure. Hot (HOT_C, until COOL_C): none. Loaded by other work (the
 * load average less this peer's own tiles is above its cores): only the cores that other work leaves.
 * `hot` is the state carried from the last call (the hysteresis).
 */
export function backoff (p: Pressure, freeSlots: number, wasHot: boolean): Backoff & { hot: boolean } {
  const hot = p.tempC != null && (p.tempC >= HOT_C || (wasHot && p.tempC > COOL_C))
  if (hot) return { freeSlots: 0, reason: `hot: ${p.tempC!.toFixed(0)} °C (takes tiles again below ${COOL_C} °C)`, hot }
  const others = Math.max(0, p.load1 - p.busy)
  if (p.yieldToLoad !== false && p.load1 > p.cores && others > 0) {
    const left = Math.max(0, Math.floor(p.cores - others))
    if (left < freeSlots) return { freeSlots: left, reason: `busy with other work: load ${p.load1.toFixed(1)} on ${p.cores} cores`, hot }
  }
  return { freeSlots, hot }
}
