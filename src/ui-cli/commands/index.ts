import type { Command } from 'commander'
import { registerKeyCommand } from './key.ts'
import { registerOpsCommand } from './ops.ts'
import { registerRunCommand } from './run.ts'
import { registerStartCommand } from './start.ts'
import { registerStatusCommand } from './status.ts'

export function registerCommands (program: Command): void {
  registerStartCommand(program)
  registerStatusCommand(program)
  registerRunCommand(program)
  registerOpsCommand(program)
  registerKeyCommand(program)
}
