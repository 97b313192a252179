// `swarm top`: a live view of the swarm (peers, tiles in flight, throughput, running jobs) until q or Ctrl-C.
import type { Command } from 'commander'
import { keyOption, peerOption, positiveInt } from '../shared-options.ts'
import type { TopOpts } from '../actions/top.ts'

export function registerTopCommand (program: Command): void {
  program.command('top')
    .description('watch the swarm live: peers and their load, tiles in flight, throughput, running jobs (q or Ctrl-C quits)')
    .addOption(keyOption())
    .addOption(peerOption())
    .option('--interval <ms>', 'refresh every ms milliseconds', positiveInt('--interval'), 1000)
    .option('--once', 'print one frame and exit (also what it does without a terminal)', false)
    .option('--timeout <ms>', 'how long to look for the swarm', positiveInt('--timeout'), 5000)
    .addHelpText('after', '\nThroughput is measured between refreshes, from the running jobs\' tiles done: tiles/s and megapixels/s (MP/s).\nA peer\'s tile speed is its tiles per second over its last minute.')
    .action(async (opts: TopOpts) => { const { top } = await import('../actions/top.ts'); process.exitCode = await top(opts) })
}
