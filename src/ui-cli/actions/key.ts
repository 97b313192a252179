// `swarm key generate`'s action: a new swarm key on stdout (options: ../commands/key.ts).
import { generateSwarmKey } from '../../node/swarm-key.ts'

export function keyGenerate (): void {
  process.stdout.write(`${generateSwarmKey()}\n`)
  if (process.stdout.isTTY) process.stderr.write('\nsave it: swarm key generate > swarm.key, then start every peer with --key swarm.key\n')
}
