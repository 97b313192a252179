// How hard the fuzz suite works, in one place. By default each property runs the few hundred cases
// given where it is defined (a few thousand across the suite, well under 30 s on two cores, for CI).
//
//   FUZZ_RUNS=1000000 npx vitest run test/fuzz   every property runs that many cases (no test timeout)
//   FUZZ_SEED=<seed> [FUZZ_PATH=<path>]          replays a run: fast-check prints both when a property fails
//
// Without FUZZ_SEED each run draws a new seed, so CI explores new cases every time; the failure message
// ("seed: ..., path: ...") is what reproduces one.
import type { Parameters } from 'fast-check'

function envInt (name: string): number | undefined {
  const raw = process.env[name]
  if (raw == null || raw.trim() === '') return undefined
  const n = Number(raw)
  if (!Number.isSafeInteger(n)) throw new Error(`${name} is ${JSON.stringify(raw)}, expected an integer`)
  return n
}

/** Cases per property when set (FUZZ_RUNS), else each property's own default. */
export const FUZZ_RUNS = envInt('FUZZ_RUNS')
if (FUZZ_RUNS != null && FUZZ_RUNS < 1) throw new Error(`FUZZ_RUNS is ${FUZZ_RUNS}, expected at least 1`)
const FUZZ_SEED = envInt('FUZZ_SEED')
const FUZZ_PATH = process.env.FUZZ_PATH

/** The number of cases a property with this default runs. */
export function runs (defaultRuns: number): number {
  return FUZZ_RUNS ?? defaultRuns
}

/** fast-check's parameters for a property whose default is `defaultRuns` cases. */
export function fuzz<T = unknown> (defaultRuns: number): Parameters<T> {
  return {
    numRuns: runs(defaultRuns),
    ...(FUZZ_SEED != null ? { seed: FUZZ_SEED } : {}),
    ...(FUZZ_SEED != null && FUZZ_PATH != null && FUZZ_PATH !== '' ? { path: FUZZ_PATH } : {})
  }
}

/** A test's timeout: vitest's own at the default run counts; none for a long run (FUZZ_RUNS). */
export function fuzzTimeout (defaultMs = 60_000): number {
  return FUZZ_RUNS != null ? 0 : defaultMs
}
