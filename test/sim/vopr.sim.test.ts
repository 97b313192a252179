// The VOPR in CI: a few hundred seeds of the deterministic simulation (test/sim/vopr), bounded in time,
// and the replay guarantee that makes a failing seed worth having. `npm run vopr` runs 10 000.
import { describe, expect, it } from 'vitest'
import { runSeed } from './vopr/sim.ts'

const SEEDS = Number(process.env.SWARM_VOPR_SEEDS ?? 300)
const BUDGET_MS = Number(process.env.SWARM_VOPR_MS ?? 60_000)
const FROM = Number(process.env.SWARM_VOPR_FROM ?? 1)

describe('VOPR: the pure machines under a hostile simulated network', () => {
  it(`${SEEDS} seeds (or ${BUDGET_MS / 1000} s): every invariant after every step, then convergence`, () => {
    const t0 = performance.now()
    const failures: string[] = []
    let ran = 0
    let jobs = 0
    for (let s = FROM; s < FROM + SEEDS && performance.now() - t0 < BUDGET_MS; s++) {
      const r = runSeed({ seed: s })
      ran++
      jobs += r.jobs
      if (!r.ok) failures.push(`seed ${s}: ${r.error ?? ''}`)
    }
    expect(failures.slice(0, 3).join('\n\n')).toBe('')
    expect(ran).toBeGreaterThan(0)
    expect(jobs).toBeGreaterThan(ran) // the seeds do run jobs
  }, BUDGET_MS + 30_000)

  it('a seed replays exactly: same trace hash, same events, same stats', () => {
    for (const seed of [7, 1234, 99_991]) {
      const a = runSeed({ seed, keepTrace: true })
      const b = runSeed({ seed, keepTrace: true })
      expect(b.traceHash).toBe(a.traceHash)
      expect(b.events).toBe(a.events)
      expect(b.stats).toEqual(a.stats)
      expect(b.trace).toEqual(a.trace)
    }
    expect(runSeed({ seed: 7 }).traceHash).not.toBe(runSeed({ seed: 8 }).traceHash)
  })

  it('a failure names its seed and the command that replays it', () => {
    // Tiles slower than the liveness bound: the run cannot converge, and must say how to replay it.
    const r = runSeed({ seed: 5, livenessMs: 5000, cfg: { computeMs: [100_000, 100_000] } })
    expect(r.ok).toBe(false)
    expect(r.error).toMatch(/reproduce with seed=5: npm run vopr -- --seed 5$/)
  })
})
