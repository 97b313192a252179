// `swarm key generate`: a new swarm key on stdout.
import type { Command } from 'commander'
import { generateSwarmKey } from '../../node/swarm-key.ts'

export function registerKeyCommand (program: Command): void {
  const key = program.command('key').description('manage the swarm key (private network)')
  key.command('generate')
    .description('print a new random swarm key; save it (`> swarm.key`) and copy it to every device')
    .action(() => {
      process.stdout.write(`${generateSwarmKey()}\n`)
      if (process.stdout.isTTY) process.stderr.write('\nsave it: swarm key generate > swarm.key, then start every peer with --key swarm.key\n')
    })
}
