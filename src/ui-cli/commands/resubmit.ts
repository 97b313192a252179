// `swarm resubmit <job>`: run a recorded job again from the input the swarm kept, and write its output.
import { Option, type Command } from 'commander'
import { OUTPUT_FORMATS } from '../../ops/limits.ts'
import { keyOption, peerOption, positiveInt } from '../shared-options.ts'
import type { ResubmitOpts } from '../actions/resubmit.ts'

export function registerResubmitCommand (program: Command): void {
  program.command('resubmit')
    .description('run a job again (see `swarm history`) from the input the swarm kept, with its pipeline, and write the output')
    .argument('<job>', 'the id of the job to run again')
    .option('-o, --output <path>', 'where to write it: a file (its extension picks the format), or a directory for <new job>.<format> (default: <new job>.<format> here)')
    .addOption(new Option('--format <format>', 'output format (default: the job\'s, or -o\'s extension)').choices(OUTPUT_FORMATS))
    .option('--no-cache', 'compute it again even if the result cache holds its output (as the original job\'s, when that is kept)')
    .option('--force', 'overwrite an output file that exists (else it is refused before any work)', false)
    .option('--detach', 'print the new job id and return at once; fetch later with `swarm result <job>`', false)
    .addOption(new Option('--json', 'NDJSON events on stdout (accepted, progress, result, failed, error), one per line; no bar').conflicts('quiet'))
    .option('-q, --quiet', 'nothing but errors on stderr, and the path written (or job id) on stdout')
    .addOption(keyOption())
    .addOption(peerOption())
    .option('--timeout <ms>', 'how long to look for the swarm and its master', positiveInt('--timeout'), 15_000)
    .addHelpText('after', `
The input is the one the swarm kept for the job (you need not have the file): a job removed by
\`swarm prune\`, or whose input no live peer holds, cannot run again. The result cache answers as for a
submit ("cached": the same input, pipeline and format ran before); --no-cache computes it again.

Examples:
  swarm resubmit j1a2b3c4d5e6f7 -o again.png
  swarm resubmit j1a2b3c4d5e6f7 --format webp --no-cache`)
    .action(async (job: string, opts: ResubmitOpts) => { const { resubmit } = await import('../actions/resubmit.ts'); process.exitCode = await resubmit(job, opts) })
}
