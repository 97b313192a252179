// The `swarm` command. Each sub-command lives in its own file under ./commands and registers itself here.
import { Command, CommanderError } from 'commander'
import { registerCommands } from './commands/index.ts'
import { version } from '../node/version.ts'

const program = new Command()
  .name('swarm')
  .description('A peer-to-peer image-processing swarm for a LAN: every device runs `swarm start`, any device submits work.')
  .version(version)
  .showHelpAfterError('(run with --help for usage)')

registerCommands(program)

try {
  await program.parseAsync(process.argv)
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode)
  // A user-facing error: print its message, not a stack trace, unless SWARM_DEBUG asks for it.
  const e = err as Error
  console.error(`swarm: ${e.message}`)
  if (process.env.SWARM_DEBUG) console.error(e.stack)
  process.exit(1)
}
