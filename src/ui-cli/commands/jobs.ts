// `swarm jobs`: the master's queue: queued, running, done and failed jobs with their progress.
import type { Command } from 'commander'
import { keyOption, peerOption, positiveInt } from '../shared-options.ts'
import type { JobsOpts } from '../actions/jobs.ts'

export function registerJobsCommand (program: Command): void {
  program.command('jobs')
    .description('list the queue: jobs queued, running, done and failed, with their progress')
    .addOption(keyOption())
    .addOption(peerOption())
    .option('--json', 'print JSON', false)
    .option('--limit <n>', 'the most recent n jobs', positiveInt('--limit'), 50)
    .option('--timeout <ms>', 'how long to look for the swarm and its master', positiveInt('--timeout'), 15_000)
    .action(async (opts: JobsOpts) => { const { jobs } = await import('../actions/jobs.ts'); await jobs(opts) })
}
