// `swarm status`: the peer table, as one peer of the swarm sees it.
import type { Command } from 'commander'
import { keyOption, peerOption, positiveInt } from '../shared-options.ts'
import type { StatusOpts } from '../actions/status.ts'

export function registerStatusCommand (program: Command): void {
  program.command('status')
    .description('show the peers of the swarm, as a peer on this device sees it: name, PeerId, role, address, load, tile speed, last seen')
    .addOption(keyOption())
    .addOption(peerOption())
    .option('--json', 'print the full table as JSON', false)
    .option('--timeout <ms>', 'how long to look for a peer', positiveInt('--timeout'), 5000)
    .action(async (opts: StatusOpts) => { const { status } = await import('../actions/status.ts'); await status(opts) })
}
