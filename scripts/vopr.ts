// The VOPR: a deterministic simulation of the swarm's core (the membership, election and queue
// machines) under a hostile network, many seeds at a time. `npm run vopr` runs 10 000 seeds;
// `npm run vopr -- --seed N` replays one with its trace; `--seeds N`, `--from S` choose the range.
// Flags for experiments: --mark-holders-dead (master.ts's activation today), --strict-handover and
// --strict-sticky (fail on the two findings the default run only counts; see test/sim/vopr/found-*).
import { runSeed, type RunResult } from '../test/sim/vopr/sim.ts'
import { newStats, type Stats } from '../test/sim/vopr/oracle.ts'

const args = process.argv.slice(2)
const flag = (name: string): boolean => args.includes(name)
const value = (name: string): number | undefined => {
  const i = args.indexOf(name)
  return i >= 0 ? Number(args[i + 1]) : undefined
}
const cfg = { markHoldersDead: flag('--mark-holders-dead'), strictHandover: flag('--strict-handover'), strictSticky: flag('--strict-sticky') }
const one = value('--seed')

if (one !== undefined) {
  const r = runSeed({ seed: one, cfg, keepTrace: true })
  for (const line of r.trace ?? []) console.log(line)
  console.log(`\nseed ${one}: ${r.ok ? 'ok' : 'FAILED'}, ${r.events} events, ${r.simMs} ms simulated, ${r.jobs} jobs, trace hash ${r.traceHash.toString(16)}`)
  console.log(JSON.stringify(r.stats))
  if (!r.ok) { console.log(`\n${r.error ?? ''}`); process.exitCode = 1 }
} else {
  const seeds = value('--seeds') ?? 10_000
  const from = value('--from') ?? 1
  const total: Stats = newStats()
  const failures: RunResult[] = []
  let events = 0
  let simMs = 0
  let converge = 0
  let convergeMax = 0
  const t0 = performance.now()
  for (let s = from; s < from + seeds; s++) {
    const r = runSeed({ seed: s, cfg })
    events += r.events
    simMs += r.simMs
    if (r.convergedAfter !== undefined) { converge += r.convergedAfter; convergeMax = Math.max(convergeMax, r.convergedAfter) }
    for (const k of Object.keys(total) as Array<keyof Stats>) total[k] += r.stats[k]
    if (!r.ok) {
      failures.push(r)
      if (failures.length <= 10) console.log(`FAIL seed ${s}: ${r.error ?? ''}\n`)
    }
  }
  const wall = performance.now() - t0
  const ok = seeds - failures.length
  console.log(`${seeds} seeds (${from}..${from + seeds - 1}): ${ok} ok, ${failures.length} failed, in ${(wall / 1000).toFixed(1)} s = ${Math.round(seeds / wall * 60_000)} seeds/minute in one process`)
  console.log(`simulated ${(simMs / 3_600_000).toFixed(1)} h, ${events} events; converged after the faults in ${ok > 0 ? Math.round(converge / ok) : 0} ms on average, ${convergeMax} ms at most`)
  console.log(JSON.stringify(total))
  if (failures.length > 0) {
    console.log(`failed seeds: ${failures.slice(0, 50).map(r => r.seed).join(' ')}${failures.length > 50 ? ' ...' : ''}`)
    process.exitCode = 1
  }
}
