// `swarm gc`: every peer removes now what retention and --max-disk would remove on their next pass.
import type { Command } from 'commander'
import { keyOption, peerOption, positiveInt } from '../shared-options.ts'
import type { GcOpts } from '../actions/gc.ts'

export function registerGcCommand (program: Command): void {
  program.command('gc')
    .description('remove finished jobs\' files now on every peer, as --retain and --max-disk allow, and print what went and the bytes freed')
    .option('--json', 'print every peer\'s report as JSON', false)
    .addOption(keyOption())
    .addOption(peerOption())
    .option('--timeout <ms>', 'how long to look for the swarm and its master', positiveInt('--timeout'), 15_000)
    .addHelpText('after', `
Each peer applies its own --retain and --max-disk (set with swarm start) to its own data dir. The master
relays the request to every live peer it knows. Never removed: a queued or running job's files, and a
done job's before its output is stored on the master and a standby. The jobs' records stay (swarm jobs
lists them; swarm prune removes records too).

Examples:
  swarm gc                     clean up now
  swarm gc --json              one report per peer, for scripts`)
    .action(async (opts: GcOpts) => { const { gc } = await import('../actions/gc.ts'); process.exitCode = await gc(opts) })
}
