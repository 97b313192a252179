// The simulation's only source of randomness: a seeded xoshiro128** (mulberry32 seeds its state), so a
// seed replays the same schedule bit for bit. Math.random is never used by the VOPR.
export class Rng {
  private a: number
  private b: number
  private c: number
  private d: number

  constructor (seed: number) {
    let s = seed >>> 0
    const next = (): number => {
      s = (s + 0x6d2b79f5) >>> 0
      let t = s
      t = Math.imul(t ^ (t >>> 15), t | 1)
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
      return (t ^ (t >>> 14)) >>> 0
    }
    this.a = next(); this.b = next(); this.c = next(); this.d = next()
  }

  /** uniform 32-bit unsigned */
  u32 (): number {
    const r = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0
    const t = this.b << 9
    this.c ^= this.a; this.d ^= this.b; this.b ^= this.c; this.a ^= this.d
    this.c ^= t
    this.d = rotl(this.d, 11)
    return r
  }

  /** [0, 1) */
  float (): number { return this.u32() / 4294967296 }
  /** integer in [lo, hi] */
  int (lo: number, hi: number): number { return lo + Math.floor(this.float() * (hi - lo + 1)) }
  chance (p: number): boolean { return p > 0 && this.float() < p }
  pick<T> (items: readonly T[]): T { return items[Math.floor(this.float() * items.length)] as T }
  /** an independent stream, so adding draws in one part of the sim does not shift another's */
  fork (): Rng { return new Rng(this.u32()) }
}

function rotl (x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0
}

/** FNV-1a over strings: the trace hash two runs of one seed must agree on. */
export function fnv (h: number, s: string): number {
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619) >>> 0
  return h
}

export const FNV_START = 2166136261
