// `swarm prune`: remove finished jobs (done, failed, cancelled) from the queue, and their files from every peer.
import { InvalidArgumentError, type Command } from 'commander'
import { keyOption, peerOption, positiveInt } from '../shared-options.ts'
import type { PruneOpts } from '../actions/prune.ts'

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }
const FINISHED = ['done', 'failed', 'cancelled']

/** "7d", "12h", "30m", "0": an age, in ms. */
export function age (value: string): number {
  const m = /^(\d+(?:\.\d+)?)([smhdw]?)$/.exec(value.trim())
  if (m == null || (m[2] === '' && Number(m[1]) !== 0)) throw new InvalidArgumentError(`--older-than must be an age such as 30m, 12h, 7d or 0, got "${value}"`)
  return Math.round(Number(m[1]) * (UNITS[m[2]] ?? 0))
}

function states (value: string): string[] {
  const list = value.split(',').map(s => s.trim()).filter(Boolean)
  const bad = list.find(s => !FINISHED.includes(s))
  if (list.length === 0 || bad != null) throw new InvalidArgumentError(`--state must be a comma-separated list of ${FINISHED.join(', ')}, got "${value}"`)
  return [...new Set(list)]
}

export function registerPruneCommand (program: Command): void {
  program.command('prune')
    .description('remove finished jobs from the queue and their files (inputs, tiles, outputs) from every peer')
    .option('--older-than <age>', 'only jobs that ended longer ago than this (30m, 12h, 7d; 0 = every finished job)', age, 0)
    .option('--state <states>', `only jobs in these states, comma-separated (${FINISHED.join(', ')})`, states, FINISHED)
    .option('--dry-run', 'list what would be removed, remove nothing', false)
    .option('-y, --yes', 'do not ask for confirmation (needed without a terminal)', false)
    .addOption(keyOption())
    .addOption(peerOption())
    .option('--timeout <ms>', 'how long to look for the swarm and its master', positiveInt('--timeout'), 15_000)
    .addHelpText('after', `
Queued and running jobs are never removed: cancel them first (\`swarm cancel <job>\`).

Examples:
  swarm prune --dry-run                       what would go
  swarm prune --older-than 7d --yes           every job that ended over a week ago
  swarm prune --state failed,cancelled        only the ones that did not succeed`)
    .action(async (opts: PruneOpts) => { const { prune } = await import('../actions/prune.ts'); process.exitCode = await prune(opts) })
}
