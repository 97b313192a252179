// `npm run bench`: the swarm's benchmarks. Each case runs in its own scope with a time bound and cleans
// up after itself (processes, cgroups, temp dirs) even when it fails; the results are one table of
// medians, each against a baseline measured in the same run, printed and written to
// bench/results/latest.md with a description of the machine.
//
//   node bench/run.ts [--quick] [--only <case>[,<case>...]]
//
// Cases: overhead, scaling, broker, failover, transfer, memory, ops, small-jobs, growth, cli.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { availableParallelism, totalmem, loadavg, release } from 'node:os'
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { installCleanupHandlers, ROOT, Scope } from './lib/proc.ts'
import { benchGroups, benchGroupsError, BENCH_SHARES } from './lib/cgroup.ts'
import type { BenchCase, Ctx } from './lib/context.ts'
import { fmtNum, type CaseResult } from './lib/stats.ts'
import { overheadCase } from './cases/overhead.ts'
import { scalingCase } from './cases/scaling.ts'
import { brokerCase } from './cases/broker.ts'
import { failoverCase } from './cases/failover.ts'
import { transferCase } from './cases/transfer.ts'
import { memoryCase } from './cases/memory.ts'
import { opsCase } from './cases/ops.ts'
import { smallJobsCase } from './cases/small-jobs.ts'
import { growthCase } from './cases/growth.ts'
import { cliStartCase } from './cases/cli-start.ts'
import { cacheCase } from './cases/cache.ts'

const CASES: BenchCase[] = [overheadCase, scalingCase, brokerCase, failoverCase, transferCase, memoryCase, opsCase, smallJobsCase, growthCase, cliStartCase, cacheCase]

interface Args { quick: boolean, only: string[] | null }

function parseArgs (argv: string[]): Args {
  const args: Args = { quick: false, only: null }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--quick') args.quick = true
    else if (a === '--only') {
      const v = argv[++i]
      if (v == null) usage('--only needs a case name')
      args.only = v.split(',').map(s => s.trim()).filter(Boolean)
    } else if (a.startsWith('--only=')) args.only = a.slice(7).split(',').map(s => s.trim()).filter(Boolean)
    else if (a === '--help' || a === '-h') usage()
    else usage(`unknown argument ${a}`)
  }
  for (const o of args.only ?? []) if (!CASES.some(c => c.name === o)) usage(`unknown case "${o}"`)
  return args
}

function usage (err?: string): never {
  if (err != null) console.error(`bench: ${err}`)
  console.error(`usage: node bench/run.ts [--quick] [--only <case>[,<case>...]]\ncases: ${CASES.map(c => c.name).join(', ')}`)
  process.exit(err != null ? 2 : 0)
}

// ---- CPU accounting: how much of the machine other processes used while a case ran (shared machine).
function machineBusyTicks (): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number)
  // user nice system idle iowait irq softirq steal
  return f[0] + f[1] + f[2] + f[5] + f[6] + (f[7] ?? 0)
}
function ownTicks (): number {
  const s = readFileSync('/proc/self/stat', 'utf8')
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ').map(Number)
  // utime stime cutime cstime (fields 14-17): this process and its reaped children.
  return f[11] + f[12] + f[13] + f[14]
}

function machine (): string[] {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8')
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? 'unknown'
  let commit = 'unknown'
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim()
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src', 'bin'], { cwd: ROOT, encoding: 'utf8' }).trim() !== ''
    if (dirty) commit += ' (src/ or bin/ modified)'
  } catch {}
  return [
    `- CPU: ${model}, ${availableParallelism()} cores`,
    `- RAM: ${(totalmem() / 1024 ** 3).toFixed(1)} GiB`,
    `- Node ${process.version}, Linux ${release()}`,
    `- Date: ${new Date().toISOString()}`,
    `- Commit: ${commit}`,
    `- Load average at start (1/5/15 min): ${loadavg().map(x => x.toFixed(2)).join(' / ')}`
  ]
}

async function runCase (c: BenchCase, quick: boolean): Promise<CaseResult> {
  const scope = new Scope(c.name)
  const ac = new AbortController()
  const budget = c.budgetMs(quick)
  const t0 = performance.now()
  const busy0 = machineBusyTicks()
  const own0 = ownTicks()
  const ctx: Ctx = {
    quick,
    scope,
    signal: ac.signal,
    log: (msg) => { process.stderr.write(`[${((performance.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${msg}\n`) },
    check: () => { if (ac.signal.aborted) throw new Error(`time bound of ${budget / 1000} s reached`) }
  }
  let timer: NodeJS.Timeout | undefined
  const result: CaseResult = { name: c.name, title: c.title, rows: [], notes: [], seconds: 0 }
  ctx.log(`== ${c.title} (bound ${budget / 1000} s)`)
  try {
    const out = await Promise.race([
      c.run(ctx),
      new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => { ac.abort(); reject(new Error(`time bound of ${budget / 1000} s reached`)) }, budget)
      })
    ])
    result.rows = out.rows
    result.notes = out.notes
  } catch (err) {
    result.error = (err as Error).message
    ctx.log(`${c.name} FAILED: ${(err as Error).stack ?? String(err)}`)
  } finally {
    clearTimeout(timer)
    ac.abort()
    await scope.close()
  }
  result.seconds = (performance.now() - t0) / 1000
  const foreign = (machineBusyTicks() - busy0) - (ownTicks() - own0)
  const share = foreign / 100 / result.seconds
  result.notes.push(`Case time ${result.seconds.toFixed(0)} s; other processes on the machine used ${(foreign / 100).toFixed(1)} CPU-s meanwhile (${fmtNum(share, 2)} of a core on average).`)
  ctx.log(`== ${c.name} done in ${result.seconds.toFixed(0)} s`)
  return result
}

function table (results: CaseResult[]): string {
  const lines = [
    '| Case | Measure | Median | Baseline (median, same run) | Ratio | Target | Met | Runs |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |'
  ]
  for (const r of results) {
    if (r.error != null) lines.push(`| ${r.name} | **FAILED**: ${r.error.replace(/\|/g, '\\|').replace(/\n/g, ' ').slice(0, 300)} | | | | | | |`)
    for (const row of r.rows) {
      const met = row.met == null ? (row.target === '' ? '' : 'n/a') : row.met ? 'yes' : '**no**'
      lines.push(`| ${row.case} | ${row.measure} | ${row.value} | ${row.baseline} | ${Number.isFinite(row.ratio) ? fmtNum(row.ratio) : ''} | ${row.target} | ${met} | ${row.runs} |`)
    }
  }
  return lines.join('\n')
}

async function main (): Promise<void> {
  const args = parseArgs(process.argv.slice(2))
  installCleanupHandlers()
  process.on('unhandledRejection', (err) => {
    process.stderr.write(`bench: unhandled rejection (ignored): ${(err as Error)?.message ?? String(err)}\n`)
  })
  const selected = CASES.filter(c => args.only == null || args.only.includes(c.name))
  const desc = machine()
  // The bench and all it starts run in a cgroup with a high cpu.shares: on a machine shared with other
  // work, what is measured is the swarm, not the neighbours. (Caps on peers go in child groups.)
  const g = benchGroups()
  desc.push(g != null
    ? `- Isolation: the bench and every process it starts ran in the cgroup v1 cpu group ${g.parent} with cpu.shares=${BENCH_SHARES} (64x a normal process), so other load on the machine cannot take the CPU being measured; the group is removed at the end.`
    : `- Isolation: none (no cgroup v1 cpu controller: ${benchGroupsError()}); other load on the machine can disturb the numbers.`)
  const t0 = performance.now()
  const results: CaseResult[] = []
  for (const c of selected) results.push(await runCase(c, args.quick))
  const total = (performance.now() - t0) / 1000
  const mode = args.quick ? '--quick' : 'full'
  const tbl = table(results)
  const summary = results.flatMap(r => r.rows).filter(r => r.target !== '')
  const met = summary.filter(r => r.met === true).length
  const md = [
    '# swarm benchmarks',
    '',
    `Mode: ${mode}${args.only != null ? ` (only: ${args.only.join(', ')})` : ''}; total ${Math.round(total)} s. Produced by \`npm run bench${args.quick ? ' -- --quick' : ''}\` (bench/run.ts).`,
    '',
    '## Machine',
    '',
    ...desc,
    '',
    '## Results',
    '',
    'Each value is the median over the runs shown; each ratio is against the baseline measured in the same bench run.',
    '',
    tbl,
    '',
    `Targets met: ${met} of ${summary.length}.`,
    '',
    '## Notes',
    '',
    ...results.flatMap(r => [`### ${r.name}: ${r.title}`, '', ...(r.error != null ? [`- FAILED: ${r.error}`] : []), ...r.notes.map(n => n.startsWith('|') ? `\n${n}\n` : `- ${n}`), '']),
  ].join('\n')
  console.log(`\n${tbl}\n\nTargets met: ${met} of ${summary.length}. Total ${Math.round(total)} s (${mode}).`)
  const dir = join(ROOT, 'bench', 'results')
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, 'latest.md'), md)
  console.log(`Written to bench/results/latest.md`)
  g?.removeSync()
  // Exit now: a case that ran out of time may still have work pending; its processes are already
  // stopped, and the exit handler kills anything left.
  process.exit(results.some(r => r.error != null) ? 1 : 0)
}

await main()
