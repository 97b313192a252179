// A peer's memory budget: the resident set (RSS) it may grow to. Work that needs a known amount of memory
// (a tile, a whole decoded input, an in-memory stitch) reserves it first; a reservation is granted only
// while RSS as measured now, plus what is reserved and not yet released, plus the request stays within
// the limit. Measured RSS, not a sum of estimates, is the base: libvips' buffers, V8's garbage not yet
// collected and allocator slack are all in it, and none of them can be estimated from a tile's size.
// Pure: the RSS reading is passed in.

const MiB = 1024 * 1024

// MIN_MEMORY_BYTES, DEFAULT_FREE_SHARE, the size parser and mib live in limits.ts, which imports nothing:
// `swarm start --help` prints them without loading this.
import { DEFAULT_FREE_SHARE, MIN_MEMORY_BYTES, mib } from './limits.ts'
export { DEFAULT_FREE_SHARE, MIN_MEMORY_BYTES, memorySizeError, mib, parseMemorySize } from './limits.ts'
/**
 * A tile's working set, in bytes of its pixels at 4 bytes each (a kernel may widen to RGBA): its input,
 * the kernel's copy in its thread, the kernel's output, the compressed result and the copies in flight
 * to the standbys. Measured at about 4x on a worker; 5 keeps room for a multi-phase op's intermediate.
 */
export const TILE_WORKING_FACTOR = 5

/** The budget a peer takes when none is given: a share of the device's free memory, never under the minimum. */
export function defaultMemoryLimit (freeBytes: number): number {
  return Math.max(MIN_MEMORY_BYTES, Math.floor(freeBytes * DEFAULT_FREE_SHARE))
}

/** Bytes a tile of width x height needs while a worker has it (whatever its channels: see TILE_WORKING_FACTOR). */
export function tileWorkingBytes (width: number, height: number): number {
  return width * height * 4 * TILE_WORKING_FACTOR
}

/**
 * The most one reservation can ever take of a budget of `limit` bytes (what an idle peer grants): the
 * rest is the runtime's own. Work larger than this can never run on that peer.
 */
export const largestReservation = (limit: number): number => limit - MIN_MEMORY_BYTES / 2

/**
 * Room no reservation takes: what grows without one (stream buffers, uploads' frames, garbage of finished
 * tiles not yet collected). Measured: three bombs on 512 MiB peers peaked 514 MiB without it, 2 over.
 */
export const slackOf = (limit: number): number => Math.max(32 * MiB, Math.round(limit * 0.1))

export interface Reservation {
  readonly bytes: number
  /** Gives the bytes back; a second call does nothing. */
  release: () => void
}

/** Between two collections a refusal may ask for: a full collection costs tens of ms on a peer's heap. */
export const COLLECT_EVERY_MS = 1000

/** What a budget measures and may do: RSS, and (in a peer) a garbage collection with the time. */
export interface BudgetProbe {
  /** The process's resident set now, in bytes (process.memoryUsage.rss in a peer). */
  rss: () => number
  /**
   * A full garbage collection. RSS holds the buffers of finished work until V8 collects them, which it
   * does late when the CPU is busy (measured: a starved master's RSS 100 MiB over its budget, most of it
   * garbage): before a refusal, or a grant past the limit, it is collected (at most every COLLECT_EVERY_MS).
   */
  collect?: () => void
  now?: () => number
}

export class MemoryBudget {
  readonly limit: number
  private readonly probe: BudgetProbe
  private reservedBytes = 0
  private held = 0
  private waiting = 0
  private collectedAt = -Infinity

  constructor (limit: number, probe: BudgetProbe | (() => number)) {
    this.limit = limit
    this.probe = typeof probe === 'function' ? { rss: probe } : probe
  }

  private rss (): number { return this.probe.rss() }

  /** Collects garbage if it may now; true if it did. */
  private collected (force = false): boolean {
    const { collect, now } = this.probe
    if (collect == null || now == null) return false
    const t = now()
    if (!force && t - this.collectedAt < COLLECT_EVERY_MS) return false
    this.collectedAt = t
    collect()
    return true
  }

  get reserved (): number { return this.reservedBytes }

  /** Bytes a new reservation could take now: the limit less its slack, RSS and what is reserved. */
  headroom (): number {
    return Math.max(0, this.limit - slackOf(this.limit) - this.rss() - this.reservedBytes)
  }

  /**
   * The bytes, if they fit now. A budget holding no reservation for work in progress grants one that fits
   * the limit whatever RSS says: RSS that stays up with nothing running is garbage or allocator slack that
   * work will reuse, and refusing then would stall the peer for good.
   * - waited: for a stage that waits for room (startWaiting), which goes before new tiles;
   * - lasting: held past one piece of work (an input kept decoded for a job's tiles): it must fit as
   *   measured, and does not count as work in progress, so a cached input cannot stall the peer.
   */
  tryReserve (bytes: number, opts: { waited?: boolean, lasting?: boolean } = {}): Reservation | undefined {
    // A stage waiting for room goes first: new tiles would otherwise take each bit of room as it frees.
    if (opts.waited !== true && this.waiting > 0) return undefined
    // Room as measured, or after the garbage is collected; an idle budget grants what could ever fit.
    const idle = opts.lasting !== true && this.held === 0 && bytes <= largestReservation(this.limit)
    // An idle peer over its budget collects before the grant whenever it is asked, not once a second: the
    // pause stops no work of its own, and the garbage is what pushed RSS up (measured: three bombs on
    // peers beside busy loops peaked 528 MiB of 512 when the idle grant trusted an uncollected RSS).
    const fits = bytes <= this.headroom() || (this.collected(idle) && bytes <= this.headroom()) || idle
    if (!fits) return undefined
    const working = opts.lasting === true ? 0 : 1
    this.reservedBytes += bytes
    this.held += working
    let released = false
    return {
      bytes,
      release: () => {
        if (released) return
        released = true
        this.reservedBytes -= bytes
        this.held -= working
      }
    }
  }

  /**
   * Marks a wait for room (a stage that must run, not a tile that can go elsewhere) until the returned
   * function is called: meanwhile only waited reservations are granted.
   */
  startWaiting (): () => void {
    this.waiting++
    let done = false
    return () => {
      if (done) return
      done = true
      this.waiting--
    }
  }

  /** What a refusal says: the limit, what is in use, and what was asked. */
  describe (bytes: number, what: string): string {
    return `this peer's memory budget (${mib(this.limit)}, ${mib(this.rss())} in use, ${mib(this.reservedBytes)} reserved) has no room for ${what} (${mib(bytes)})`
  }
}
