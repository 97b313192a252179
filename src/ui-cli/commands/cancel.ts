// `swarm cancel <job...>`: end jobs in the queue, queued or running; their tiles in flight stop.
import type { Command } from 'commander'
import { keyOption, peerOption, positiveInt } from '../shared-options.ts'
import type { CancelOpts } from '../actions/cancel.ts'

export function registerCancelCommand (program: Command): void {
  program.command('cancel')
    .description('cancel jobs, queued or running: their tiles stop and `swarm submit` following them says so')
    .argument('<job...>', 'the job ids (from `swarm submit` or `swarm jobs`)')
    .addOption(keyOption())
    .addOption(peerOption())
    .option('--timeout <ms>', 'how long to look for the swarm and its master', positiveInt('--timeout'), 15_000)
    .addHelpText('after', '\nExits 0 when every job named is cancelled (or already was), 1 when one had already ended or is unknown.')
    .action(async (jobIds: string[], opts: CancelOpts) => { const { cancel } = await import('../actions/cancel.ts'); process.exitCode = await cancel(jobIds, opts) })
}
