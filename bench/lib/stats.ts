// Small statistics and formatting helpers, and the shape of a case's result.

export function median (xs: readonly number[]): number {
  const v = xs.filter(x => Number.isFinite(x)).sort((a, b) => a - b)
  if (v.length === 0) return NaN
  const m = v.length >> 1
  return v.length % 2 === 1 ? v[m] : (v[m - 1] + v[m]) / 2
}

export function min (xs: readonly number[]): number { return Math.min(...xs.filter(Number.isFinite)) }
export function max (xs: readonly number[]): number { return Math.max(...xs.filter(Number.isFinite)) }

/** "1.23 s", "456 ms" */
export function fmtMs (ms: number): string {
  if (!Number.isFinite(ms)) return 'n/a'
  return ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`
}

export function fmtMiB (bytes: number): string {
  if (!Number.isFinite(bytes)) return 'n/a'
  return `${(bytes / 1024 ** 2).toFixed(0)} MiB`
}

export function fmtNum (x: number, digits = 2): string {
  return Number.isFinite(x) ? x.toFixed(digits) : 'n/a'
}

/** The spread of a sample, for notes: "min-max over n". */
export function spread (xs: readonly number[], fmt: (x: number) => string): string {
  const v = xs.filter(Number.isFinite)
  if (v.length === 0) return 'no successful run'
  if (v.length === 1) return `1 run: ${fmt(v[0])}`
  return `${v.length} runs: ${fmt(min(v))} .. ${fmt(max(v))}`
}

export interface Row {
  /** The case's short name (overhead, scaling...). */
  case: string
  measure: string
  /** Median of the measured value, formatted. */
  value: string
  /** Median of the baseline measured in the same bench run, formatted ('' when there is none). */
  baseline: string
  /** value / baseline as a number (or the target's quantity), NaN when there is none. */
  ratio: number
  /** e.g. "<= 1.10"; '' when the row has no target. */
  target: string
  /** true/false against the target; null when there is no target or no measurement. */
  met: boolean | null
  runs: number
}

export interface CaseResult {
  name: string
  title: string
  rows: Row[]
  notes: string[]
  error?: string
  seconds: number
}

/** Checks a value against a target written as "<= x" or ">= x". */
export function check (value: number, target: string): boolean | null {
  if (!Number.isFinite(value)) return null
  const m = /^\s*(<=|>=|<|>)\s*([\d.]+)/.exec(target)
  if (m == null) return null
  const t = Number(m[2])
  switch (m[1]) {
    case '<=': return value <= t
    case '>=': return value >= t
    case '<': return value < t
    default: return value > t
  }
}
