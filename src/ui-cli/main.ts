// The `swarm` command. Each sub-command lives in its own file under ./commands and registers itself here.
import { Command, CommanderError } from 'commander'
import { registerCommands } from './commands/index.ts'
import { version } from '../node/version.ts'

const program = new Command()
  .name('swarm')
  .description('A peer-to-peer image-processing swarm for a LAN: every device runs `swarm start`, any device submits work.')
  .version(version)
  .showHelpAfterError('(run with --help for usage)')

// The first word that is not an option names the command (the program itself has none but --version and --help).
await registerCommands(program, process.argv.slice(2).find(a => !a.startsWith('-')))

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
