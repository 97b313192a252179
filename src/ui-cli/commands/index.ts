import type { Command } from 'commander'
import { registerKeyCommand } from './key.ts'
import { registerStartCommand } from './start.ts'
import { registerStatusCommand } from './status.ts'

export function registerCommands (program: Command): void {
  registerStartCommand(program)
  registerStatusCommand(program)
  registerKeyCommand(program)
}
