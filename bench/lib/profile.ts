// V8 CPU profiles of peer processes (NODE_OPTIONS=--cpu-prof, written when the process exits), summed
// into the few functions that took the most time, for a case's notes on what limits it.
import { readdirSync, readFileSync } from 'node:fs'
import { basename, join } from 'node:path'

/** NODE_OPTIONS for a process whose main thread (and worker threads) should be profiled into `dir`. */
export function cpuProfEnv (dir: string): NodeJS.ProcessEnv {
  const prev = process.env.NODE_OPTIONS ?? ''
  return { ...process.env, NODE_OPTIONS: `${prev} --cpu-prof --cpu-prof-dir=${dir}`.trim() }
}

interface ProfileNode { id: number, callFrame: { functionName: string, url: string, lineNumber: number }, children?: number[] }
interface CpuProfile { nodes: ProfileNode[], samples: number[], timeDeltas: number[], startTime: number, endTime: number }

export interface ProfileSummary {
  file: string
  /** Sampled time, ms. */
  totalMs: number
  /** Sampled time not idle (waiting in the event loop), ms: the shares below are of this. */
  busyMs: number
  /** Functions by self time, largest first. */
  top: Array<{ name: string, ms: number, share: number }>
  /** The project's own functions (src/) by inclusive time (themselves and all they call), largest first. */
  ownInclusive: Array<{ name: string, ms: number, share: number }>
  /** Self time grouped by where the code lives (node_modules package, src/ dir, node internals, idle, GC). */
  byArea: Array<{ area: string, ms: number, share: number }>
}

/** The main thread's profile of `pid` in `dir` (Node names them CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile). */
export function mainThreadProfile (dir: string, pid: number): string | null {
  let names: string[] = []
  try { names = readdirSync(dir) } catch { return null }
  const f = names.find(n => n.endsWith('.cpuprofile') && n.split('.')[3] === String(pid) && n.split('.')[4] === '0')
  return f == null ? null : join(dir, f)
}

export function summariseProfile (file: string, topN = 10): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile
  const byId = new Map(p.nodes.map(n => [n.id, n]))
  const self = new Map<number, number>()
  for (let i = 0; i < p.samples.length; i++) self.set(p.samples[i], (self.get(p.samples[i]) ?? 0) + (p.timeDeltas[i] ?? 0) / 1000)
  const fns = new Map<string, number>()
  const areas = new Map<string, number>()
  let total = 0
  for (const [id, ms] of self) {
    const cf = byId.get(id)?.callFrame
    if (cf == null) continue
    total += ms
    const where = cf.url === '' ? '' : ` ${shortUrl(cf.url)}:${cf.lineNumber + 1}`
    const name = `${cf.functionName === '' ? '(anonymous)' : cf.functionName}${where}`
    fns.set(name, (fns.get(name) ?? 0) + ms)
    const area = areaOf(cf.url, cf.functionName)
    areas.set(area, (areas.get(area) ?? 0) + ms)
  }
  // Inclusive time of the project's functions: each sample counts once for every distinct src/ frame on its stack.
  const parent = new Map<number, number>()
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const own = new Map<string, number>()
  for (const [id, ms] of self) {
    const seen = new Set<string>()
    for (let at: number | undefined = id; at != null; at = parent.get(at)) {
      const cf = byId.get(at)?.callFrame
      if (cf == null || !cf.url.includes('/src/') || cf.url.includes('node_modules/')) continue
      const name = `${cf.functionName === '' ? '(anonymous)' : cf.functionName} ${shortUrl(cf.url)}:${cf.lineNumber + 1}`
      if (seen.has(name)) continue
      seen.add(name)
      own.set(name, (own.get(name) ?? 0) + ms)
    }
  }
  const idle = areas.get('(idle)') ?? 0
  fns.delete('(idle)')
  areas.delete('(idle)')
  const busy = total - idle
  const rank = (m: Map<string, number>): Array<[string, number]> => [...m].sort((a, b) => b[1] - a[1])
  return {
    file,
    totalMs: total,
    busyMs: busy,
    top: rank(fns).slice(0, topN).map(([name, ms]) => ({ name, ms, share: ms / busy })),
    ownInclusive: rank(own).slice(0, topN).map(([name, ms]) => ({ name, ms, share: ms / busy })),
    byArea: rank(areas).map(([area, ms]) => ({ area, ms, share: ms / busy }))
  }
}

function shortUrl (url: string): string {
  const nm = url.lastIndexOf('node_modules/')
  if (nm >= 0) return url.slice(nm + 'node_modules/'.length)
  const src = url.lastIndexOf('/src/')
  if (src >= 0) return url.slice(src + 1)
  return basename(url)
}

function areaOf (url: string, fn: string): string {
  if (url === '') return fn.startsWith('(') ? fn : '(native)'
  if (url.startsWith('node:')) return 'node internals'
  const nm = url.lastIndexOf('node_modules/')
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/')
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]
  }
  const src = url.lastIndexOf('/src/')
  if (src >= 0) return url.slice(src + 1).split('/').slice(0, 2).join('/')
  return basename(url)
}
