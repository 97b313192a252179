// `swarm ops`'s action: the op catalogue, with parameters, defaults and accepted ranges (options: ../commands/ops.ts).
import { describeOps } from '../../ops/catalogue.ts'
import type { OpInfo, ParamInfo } from '../../ops/catalogue.ts'

function range (p: ParamInfo): string {
  if (p.values) return p.values.join(' | ')
  if (p.min !== undefined && p.max !== undefined) return `${p.type} ${p.min}..${p.max}`
  return p.type
}

/** The catalogue as text: one block per op. */
export function formatOps (ops: readonly OpInfo[]): string {
  const lines: string[] = []
  const width = Math.max(...ops.map(o => o.name.length))
  for (const op of ops) {
    lines.push(`${op.name.padEnd(width)}  ${op.description}${op.global ? ' [whole-image statistics]' : ''}`)
    const rows = op.params.map(p => [p.name, range(p), `default ${p.default}`, p.description])
    const cols = [0, 1, 2].map(i => Math.max(0, ...rows.map(r => r[i].length)))
    for (const r of rows) lines.push(`${' '.repeat(width + 2)}${r.slice(0, 3).map((c, i) => c.padEnd(cols[i])).join('  ')}  ${r[3]}`)
  }
  lines.push('', 'Use in a pipeline as --op name or --op name:key=value,key=value (e.g. --op canny:low=40,high=100).')
  return lines.join('\n')
}

export function ops (opts: { json?: boolean }): void {
  const ops = describeOps()
  console.log(opts.json ? JSON.stringify(ops, null, 2) : formatOps(ops))
}
