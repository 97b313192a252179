// `swarm key generate`: a new swarm key on stdout.
import type { Command } from 'commander'

export function registerKeyCommand (program: Command): void {
  const key = program.command('key').description('manage the swarm key (private network)')
  key.command('generate')
    .description('print a new random swarm key; save it (`> swarm.key`) and copy it to every device')
    .action(async () => { const { keyGenerate } = await import('../actions/key.ts'); keyGenerate() })
}
