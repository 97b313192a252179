import type { Command } from 'commander'
import { registerJobsCommand } from './jobs.ts'
import { registerKeyCommand } from './key.ts'
import { registerOpsCommand } from './ops.ts'
import { registerResultCommand } from './result.ts'
import { registerRunCommand } from './run.ts'
import { registerStartCommand } from './start.ts'
import { registerStatusCommand } from './status.ts'
import { registerSubmitCommand } from './submit.ts'

export function registerCommands (program: Command): void {
  registerStartCommand(program)
  registerStatusCommand(program)
  registerSubmitCommand(program)
  registerResultCommand(program)
  registerJobsCommand(program)
  registerRunCommand(program)
  registerOpsCommand(program)
  registerKeyCommand(program)
}
