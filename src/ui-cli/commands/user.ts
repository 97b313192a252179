// `swarm user add|list|remove`: the swarm's accounts. The first account made is the swarm's admin, and
// this device logs in as it; after that an admin adds and removes them.
import type { Command } from 'commander'
import { keyOption, peerOption, positiveInt } from '../shared-options.ts'
import type { UserOpts } from '../actions/user.ts'

export function registerUserCommand (program: Command): void {
  const user = program.command('user')
    .description('manage accounts: who may submit, see and cancel jobs (a swarm with none is open to every keyed device)')
  const common = (c: Command): Command => c
    .addOption(keyOption())
    .addOption(peerOption())
    .option('--timeout <ms>', 'how long to look for the swarm and its master', positiveInt('--timeout'), 15_000)
  common(user.command('add')
    .description('add an account (the first one made is the swarm\'s admin, and this device logs in as it; later ones need an admin logged in here)')
    .argument('<name>', 'the account name: a lowercase letter, then up to 31 lowercase letters, digits, ".", "_" or "-"')
    .option('--admin', 'an admin: sees and cancels every job, adds and removes accounts', false)
    .option('--password-stdin', 'read the password from the first line of stdin (for scripts) instead of asking on the terminal', false))
    .action(async (name: string, opts: UserOpts) => { const { userAdd } = await import('../actions/user.ts'); await userAdd(name, opts) })
  common(user.command('list')
    .description('list the accounts (an admin sees all, a user their own)')
    .option('--json', 'print JSON', false))
    .action(async (opts: UserOpts) => { const { userList } = await import('../actions/user.ts'); await userList(opts) })
  common(user.command('remove')
    .description('remove an account (admins only; the last admin stays); its jobs stay, visible to admins')
    .argument('<name>', 'the account name'))
    .action(async (name: string, opts: UserOpts) => { const { userRemove } = await import('../actions/user.ts'); await userRemove(name, opts) })
}

export function registerLoginCommand (program: Command): void {
  program.command('login')
    .description('log this device in as an account: asks its password, and keeps a key for it in the config dir ($SWARM_CONFIG_DIR)')
    .argument('<name>', 'the account name')
    .addOption(keyOption())
    .addOption(peerOption())
    .option('--password-stdin', 'read the password from the first line of stdin (for scripts) instead of asking on the terminal', false)
    .option('--timeout <ms>', 'how long to look for the swarm and its master', positiveInt('--timeout'), 15_000)
    .action(async (name: string, opts: UserOpts) => { const { login } = await import('../actions/user.ts'); await login(name, opts) })
}

export function registerLogoutCommand (program: Command): void {
  program.command('logout')
    .description('forget the account this device is logged in as (removes its key from the config dir)')
    .action(async () => { const { logout } = await import('../actions/user.ts'); await logout() })
}
