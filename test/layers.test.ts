// The house points one way. src/ops is the ground floor; each folder may import only from its own floor
// and the ones below it; the composition root (src/ui-cli/swarm-node.ts) is at the top. Pure decision
// files (state machines, kernels) import no I/O and read no clock or randomness: those are passed in.
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'

const SRC = resolve(import.meta.dirname, '..', 'src')
/** Lower floors first. */
export const LAYERS = ['ops', 'transfer', 'node', 'scheduler', 'ui-web', 'ui-cli'] as const

/** Decision code: pure functions and state machines, tested with injected time and I/O. */
const PURE: RegExp[] = [
  /^ops\/(?!(image-io|decoded-file|stitch-file|pool|kernel-worker|local|index)\.ts$)[^/]+\.ts$/,
  /^ops\/kernels\//,
  /^ops\/wasm\/(?!as\/)/,
  /^node\/(membership|election|heartbeat-routing)\.ts$/,
  /^scheduler\/(queue-machine|records|master-planner)\.ts$/
]
const IO_MODULES = /^(libp2p|@libp2p\/|@chainsafe\/|@multiformats\/|level|classic-level|sharp|pino|(node:)?(fs|fs\/promises|timers|timers\/promises|net|dgram|child_process|worker_threads|os|http|https|crypto|perf_hooks))$/
const CLOCK_OR_CHANCE = /\b(Date\.now|new Date\(\)|performance\.now|setTimeout|setInterval|setImmediate|Math\.random|process\.hrtime)\b/

function files (dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap(e => {
    const p = join(dir, e.name)
    if (e.isDirectory()) return p.includes(join('ops', 'wasm', 'as')) ? [] : files(p)
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [p] : []
  })
}

function imports (text: string): string[] {
  const out: string[] = []
  for (const m of text.matchAll(/^\s*(?:import|export)\b[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/gm)) out.push(m[1] ?? m[2])
  return out
}

const layerOf = (rel: string): number => LAYERS.indexOf(rel.split('/')[0] as typeof LAYERS[number])
const all = files(SRC).map(p => ({ path: p, rel: relative(SRC, p).split('\\').join('/'), text: readFileSync(p, 'utf8') }))

describe('layers', () => {
  it('every source file sits in one of the six folders', () => {
    expect(all.length).toBeGreaterThan(40)
    expect(all.filter(f => layerOf(f.rel) < 0).map(f => f.rel)).toEqual([])
  })

  it('imports point down or sideways, never up', () => {
    const wrong: string[] = []
    for (const f of all) {
      for (const spec of imports(f.text)) {
        if (!spec.startsWith('.')) continue
        const target = relative(SRC, resolve(dirname(f.path), spec)).split('\\').join('/')
        if (target.startsWith('..')) { wrong.push(`${f.rel} -> ${spec} (outside src)`); continue }
        if (layerOf(target) > layerOf(f.rel)) wrong.push(`${f.rel} -> ${target}`)
      }
    }
    expect(wrong).toEqual([])
  })

  it('pure files import no I/O and read no clock or randomness', () => {
    const pure = all.filter(f => PURE.some(r => r.test(f.rel)))
    expect(pure.map(f => f.rel)).toEqual(expect.arrayContaining(['node/election.ts', 'node/membership.ts', 'scheduler/queue-machine.ts', 'scheduler/master-planner.ts', 'ops/kernels/gaussian.ts']))
    const wrong: string[] = []
    for (const f of pure) {
      for (const spec of imports(f.text)) if (IO_MODULES.test(spec)) wrong.push(`${f.rel} imports ${spec}`)
      const code = f.text.replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '')
      const m = CLOCK_OR_CHANCE.exec(code)
      if (m) wrong.push(`${f.rel} uses ${m[0]}`)
    }
    expect(wrong).toEqual([])
  })
})
