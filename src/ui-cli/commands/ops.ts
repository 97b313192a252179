// `swarm ops`: the op catalogue, with parameters, defaults and accepted ranges.
import type { Command } from 'commander'

export function registerOpsCommand (program: Command): void {
  program
    .command('ops')
    .description('list the image ops with their parameters, defaults and ranges')
    .option('--json', 'print the catalogue as JSON')
    .action(async (opts: { json?: boolean }) => { const { ops } = await import('../actions/ops.ts'); ops(opts) })
}
