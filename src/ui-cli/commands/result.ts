// `swarm result <job>`: wait for a job (with a progress bar) and write its output.
import { Option, type Command } from 'commander'
import { keyOption, peerOption, positiveInt } from '../shared-options.ts'
import type { ResultOpts } from '../actions/result.ts'

export function registerResultCommand (program: Command): void {
  program.command('result')
    .description('wait for a job submitted with --detach and write its output')
    .argument('<job>', 'the job id printed by `swarm submit --detach`')
    .option('-o, --output <path>', 'where to write it: a file, or a directory for <job>.<format> (default: <job>.<format> here)')
    .option('--force', 'overwrite an output file that exists (else it is refused)', false)
    .addOption(new Option('--json', 'NDJSON events on stdout (progress, result, failed, error), one per line; no bar').conflicts('quiet'))
    .option('-q, --quiet', 'nothing but errors on stderr, and the path written on stdout')
    .addOption(keyOption())
    .addOption(peerOption())
    .option('--timeout <ms>', 'how long to look for the swarm and its master', positiveInt('--timeout'), 15_000)
    .action(async (job: string, opts: ResultOpts) => { const { result } = await import('../actions/result.ts'); process.exitCode = await result(job, opts) })
}
