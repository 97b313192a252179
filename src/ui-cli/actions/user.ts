// `swarm user` and `swarm login`'s actions (options: ../commands/user.ts).
import Table from 'cli-table3'
import { resolveSwarmKey } from '../../node/swarm-key.ts'
import { findMaster } from '../../transfer/job-protocol.ts'
import type { UsersReply, UsersRequest } from '../../transfer/messages.ts'
import { DeviceKey } from '../../transfer/request-auth.ts'
import { askUsers } from '../../transfer/users-protocol.ts'
import { connectWithFeedback } from '../connect.ts'
import { readPassword } from '../password-prompt.ts'
import { loadDeviceKey, removeDeviceKey, saveDeviceKey, userKeyPath } from '../user-key.ts'

export interface UserOpts { key?: string, peer?: string[], timeout: number, admin?: boolean, passwordStdin?: boolean, json?: boolean }

async function send (opts: UserOpts, req: UsersRequest): Promise<UsersReply> {
  const client = await connectWithFeedback({ psk: await resolveSwarmKey(opts.key), peers: opts.peer, timeoutMs: opts.timeout }, { say: opts.json === true ? undefined : (l) => { console.error(l) } })
  try {
    return await askUsers(client.node, await findMaster(client.node, client.targets, opts.timeout), req, { signer: client.signer })
  } finally {
    await client.close()
  }
}

async function newPassword (name: string, opts: UserOpts): Promise<string> {
  const password = await readPassword(opts, `password for ${name}: `)
  if (opts.passwordStdin !== true && password !== await readPassword(opts, 'again: ')) throw new Error('the two passwords differ; nothing was changed')
  return password
}

export async function userAdd (name: string, opts: UserOpts): Promise<void> {
  const password = await newPassword(name, opts)
  // A key for the new account goes along: if it is the swarm's first, it is this device's from now on.
  const mine = await loadDeviceKey()
  const key = DeviceKey.generate(name)
  const reply = await send(opts, { op: 'add', name, password, admin: opts.admin === true, ...(mine == null ? { key: key.publicKey } : {}) })
  const made = reply.users.find(u => u.name === name)
  if (mine == null && made != null && made.keys > 0) {
    const path = await saveDeviceKey(key)
    console.log(`account ${name} added: the swarm's first, so its admin; this device is logged in as ${name} (key in ${path})`)
    console.log('from now on every request must be signed by an account: other devices log in with `swarm login NAME`')
    return
  }
  console.log(`account ${name} added${made?.admin === true ? ' (admin)' : ''}; its owner logs in on their device with \`swarm login ${name}\``)
}

export async function userList (opts: UserOpts): Promise<void> {
  const reply = await send(opts, { op: 'list' })
  if (opts.json === true) { console.log(JSON.stringify(reply, null, 2)); return }
  if (reply.open) {
    console.log('no accounts: this swarm is open, every device with the swarm key may submit, see and cancel every job (`swarm user add NAME` makes the first, admin, account)')
    return
  }
  const table = new Table({ head: ['name', 'role', 'device keys', 'created'], style: { head: [], border: [] } })
  for (const u of reply.users) table.push([u.name, u.admin ? 'admin' : 'user', String(u.keys), new Date(u.createdAt).toISOString().slice(0, 16).replace('T', ' ')])
  console.log(table.toString())
}

export async function userRemove (name: string, opts: UserOpts): Promise<void> {
  await send(opts, { op: 'remove', name })
  console.log(`account ${name} removed; its jobs stay, visible to admins`)
}

export async function login (name: string, opts: UserOpts): Promise<void> {
  const password = await readPassword(opts, `password for ${name}: `)
  const key = DeviceKey.generate(name)
  await send(opts, { op: 'login', name, password, key: key.publicKey })
  const path = await saveDeviceKey(key)
  console.log(`logged in as ${name} on this device (key in ${path})`)
}

export async function logout (): Promise<void> {
  const key = await loadDeviceKey()
  await removeDeviceKey()
  console.log(key == null ? 'this device was not logged in' : `logged out: this device no longer signs as ${key.user} (${userKeyPath()} removed)`)
}
