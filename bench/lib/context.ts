// What run.ts hands to every case.
import type { Scope } from './proc.ts'
import type { Row } from './stats.ts'

export interface Ctx {
  quick: boolean
  /** Cleans up everything the case starts, even when it fails or runs out of time. */
  scope: Scope
  /** Progress lines on stderr. */
  log: (msg: string) => void
  /** Aborted when the case's time bound is reached. */
  signal: AbortSignal
  /** Throws if the case's time is up (call between steps). */
  check: () => void
}

export interface CaseOutput { rows: Row[], notes: string[] }

export interface BenchCase {
  name: string
  title: string
  /** Time bound of the whole case, in ms. */
  budgetMs: (quick: boolean) => number
  run: (ctx: Ctx) => Promise<CaseOutput>
}
