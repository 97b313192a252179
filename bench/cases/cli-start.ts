// 10. CLI start: how long the `swarm` command takes to print its help or refuse an option, through the
// bin/swarm.js wrapper on Node 22, against `node -e 0` (Node starting and doing nothing) measured in the
// same run. A command's module registers its options only; what it runs (libp2p, libvips, LevelDB, zod)
// is imported when the action starts, so help and option errors load none of it. Wall time, median of
// 5 runs (3 with --quick) after a warm-up; the commands are interleaved run by run so that a change in
// the machine's load touches all of them alike.
import type { BenchCase, Ctx } from '../lib/context.ts'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { NODE, ROOT, runCommand, startProcess, stopProcess, SWARM_BIN } from '../lib/proc.ts'
import { check, fmtMs, fmtNum, median, spread, type Row } from '../lib/stats.ts'

/** The issue's bound: help and option errors in under 0.3 s. */
const TARGET = '<= 0.3 s'
/** And `swarm status` against a peer on the LAN in under 1 s. */
const STATUS_TARGET = '<= 1 s'

interface Probe {
  measure: string
  args: string[]
  /** The exit code it must end with, and a piece of what it must print (else it measured something else). */
  code: number
  prints: string
}

const PROBES: Probe[] = [
  { measure: '`swarm --help`', args: ['--help'], code: 0, prints: 'Usage: swarm' },
  { measure: '`swarm start --help`', args: ['start', '--help'], code: 0, prints: 'Usage: swarm start' },
  { measure: '`swarm submit --help`', args: ['submit', '--help'], code: 0, prints: 'Usage: swarm submit' },
  { measure: '`swarm top --help`', args: ['top', '--help'], code: 0, prints: 'Usage: swarm top' },
  { measure: '`swarm submit x.png --op nosuchop` (option error)', args: ['submit', 'x.png', '--op', 'nosuchop'], code: 1, prints: 'unknown op "nosuchop"' }
]

async function timeOnce (ctx: Ctx, args: string[], probe?: Probe): Promise<number> {
  ctx.check()
  const r = await runCommand(NODE, args, 30_000, { cwd: ROOT })
  if (probe != null) {
    const out = `${r.stdout}\n${r.stderr}`
    if (r.code !== probe.code || !out.includes(probe.prints)) throw new Error(`${probe.measure}: exit ${r.code ?? r.signal}, expected ${probe.code} and "${probe.prints}"; got: ${out.slice(0, 300)}`)
  } else if (r.code !== 0) throw new Error(`node -e 0 exited ${r.code ?? r.signal}`)
  return r.ms
}

export const cliStartCase: BenchCase = {
  name: 'cli',
  title: 'CLI start: help and option errors through bin/swarm.js, against node -e 0',
  budgetMs: () => 120_000,
  async run (ctx) {
    const runs = ctx.quick ? 3 : 5
    const baseline: number[] = []
    const times = PROBES.map(() => [] as number[])
    // Warm-up: the file system cache and Node's compile cache, once each.
    await timeOnce(ctx, ['-e', '0'])
    for (const p of PROBES) await timeOnce(ctx, [SWARM_BIN, ...p.args], p)
    for (let i = 0; i < runs; i++) {
      baseline.push(await timeOnce(ctx, ['-e', '0']))
      for (const [k, p] of PROBES.entries()) times[k].push(await timeOnce(ctx, [SWARM_BIN, ...p.args], p))
      ctx.log(`run ${i + 1}/${runs}: node -e 0 ${fmtMs(baseline[i])}, ${PROBES.map((p, k) => `${p.args.join(' ')} ${fmtMs(times[k][i])}`).join(', ')}`)
    }
    const base = median(baseline)
    const rows: Row[] = PROBES.map((p, k) => {
      const m = median(times[k])
      return { case: 'cli', measure: p.measure, value: fmtMs(m), baseline: fmtMs(base), ratio: m / base, target: TARGET, met: check(m / 1000, TARGET), runs }
    })
    const status = await timeStatus(ctx, runs)
    rows.push({ case: 'cli', measure: '`swarm status --peer <a peer on 127.0.0.1>`', value: fmtMs(median(status)), baseline: fmtMs(base), ratio: median(status) / base, target: STATUS_TARGET, met: check(median(status) / 1000, STATUS_TARGET), runs })
    const version = (await runCommand(NODE, ['--version'], 10_000)).stdout.trim()
    const notes = [
      `Node ${version} (${NODE}), started on ${SWARM_BIN} as \`swarm\` does on Node 22; baseline \`node -e 0\` (${spread(baseline, fmtMs)}).`,
      ...PROBES.map((p, k) => `${p.measure}: ${spread(times[k], fmtMs)}, ${fmtNum(median(times[k]) - base, 0)} ms over bare Node.`),
      `\`swarm status\` asks one peer started for the case (--no-mdns, on 127.0.0.1; with mDNS the search adds its own wait): ${spread(status, fmtMs)}.`,
      'What is left over bare Node: commander, the command modules with their options (all nine for `swarm --help`), env-paths for the default data dir; for an --op error also the op catalogue (its kernels and zod, which validates the parameters).'
    ]
    return { rows, notes }
  }
}

/** `swarm status` against a running peer, `runs` times: libp2p's client, one connection, one query. */
async function timeStatus (ctx: Ctx, runs: number): Promise<number[]> {
  const dir = await mkdtemp(join(tmpdir(), 'swarm-bench-cli-'))
  const peer = startProcess('status-peer', NODE, [SWARM_BIN, 'start', '--no-mdns', '--no-dashboard', '--listen', '/ip4/127.0.0.1/tcp/0', '--data-dir', dir, '--log-json'], { env: { ...process.env, SWARM_KEY: '' } })
  try {
    const addr = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`the peer did not start: ${peer.stderrTail.slice(-3).join(' | ')}`)) }, 30_000)
      peer.onLine((l) => {
        try {
          const e = JSON.parse(l) as { event?: string, addrs?: string[] }
          if (e.event === 'started' && e.addrs?.[0] != null) { clearTimeout(timer); resolve(e.addrs[0]) }
        } catch { /* not JSON */ }
      })
    })
    const probe: Probe = { measure: 'status', args: ['status', '--peer', addr], code: 0, prints: 'master' }
    await timeOnce(ctx, [SWARM_BIN, ...probe.args], probe)
    const times: number[] = []
    for (let i = 0; i < runs; i++) times.push(await timeOnce(ctx, [SWARM_BIN, ...probe.args], probe))
    return times
  } finally {
    await stopProcess(peer)
    await rm(dir, { recursive: true, force: true })
  }
}
