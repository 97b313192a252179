// `swarm result <job>`: wait for a job (with a progress bar) and write its output.
import type { Command } from 'commander'
import { keyOption, peerOption, positiveInt } from '../shared-options.ts'
import type { ResultOpts } from '../actions/result.ts'

export function registerResultCommand (program: Command): void {
  program.command('result')
    .description('wait for a job submitted with --detach and write its output')
    .argument('<job>', 'the job id printed by `swarm submit --detach`')
    .option('-o, --output <file>', 'where to write it (default: <job>.<format> here)')
    .addOption(keyOption())
    .addOption(peerOption())
    .option('--timeout <ms>', 'how long to look for the swarm and its master', positiveInt('--timeout'), 15_000)
    .action(async (job: string, opts: ResultOpts) => { const { result } = await import('../actions/result.ts'); process.exitCode = await result(job, opts) })
}
