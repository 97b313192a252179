import type { Command } from 'commander'

type Register = (program: Command) => void

/**
 * Each command's module, loaded only when it runs: `swarm submit` needs a libp2p client, not libvips, LevelDB
 * and the kernels that `swarm start` brings (measured: every command imported eagerly took 502 ms of a client's
 * start). In the order `swarm --help` lists them.
 */
const COMMANDS: Record<string, () => Promise<Register>> = {
  start: async () => (await import('./start.ts')).registerStartCommand,
  status: async () => (await import('./status.ts')).registerStatusCommand,
  submit: async () => (await import('./submit.ts')).registerSubmitCommand,
  result: async () => (await import('./result.ts')).registerResultCommand,
  resubmit: async () => (await import('./resubmit.ts')).registerResubmitCommand,
  jobs: async () => (await import('./jobs.ts')).registerJobsCommand,
  history: async () => (await import('./history.ts')).registerHistoryCommand,
  top: async () => (await import('./top.ts')).registerTopCommand,
  cancel: async () => (await import('./cancel.ts')).registerCancelCommand,
  prune: async () => (await import('./prune.ts')).registerPruneCommand,
  gc: async () => (await import('./gc.ts')).registerGcCommand,
  run: async () => (await import('./run.ts')).registerRunCommand,
  ops: async () => (await import('./ops.ts')).registerOpsCommand,
  key: async () => (await import('./key.ts')).registerKeyCommand,
  user: async () => (await import('./user.ts')).registerUserCommand,
  login: async () => (await import('./user.ts')).registerLoginCommand,
  logout: async () => (await import('./user.ts')).registerLogoutCommand,
  service: async () => (await import('./service.ts')).registerServiceCommand
}

/** Registers the command `name` alone when it is one, else all of them (help, a typo to suggest for). */
export async function registerCommands (program: Command, name?: string): Promise<void> {
  const names = name != null && Object.hasOwn(COMMANDS, name) ? [name] : Object.keys(COMMANDS)
  for (const register of await Promise.all(names.map(async n => await COMMANDS[n]()))) register(program)
}
