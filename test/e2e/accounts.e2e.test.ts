// Accounts with real processes: three `swarm start` peers on 127.0.0.1 (no mDNS: told of each other with
// --peer) and the CLI run as different people (each with their own $SWARM_CONFIG_DIR). Checks that an open
// swarm says so, that the first account is the admin, that once accounts exist an unsigned or forged
// request is refused, that a user's job is invisible to and cannot be cancelled by another user (CLI and
// dashboard), and that the accounts survive a kill -9 of the master.
import { spawn } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { DeviceKey } from '../../src/transfer/request-auth.ts'
import { makeImage } from '../sim/jobs.ts'
import { LocalPeer, waitFor } from '../ui-web/local-peers.ts'

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'swarm.js')
/** One CLI command's bound: it looks for the master for --timeout (15 s) at most, and a job here takes seconds. */
const COMMAND_MS = 90_000

let root = ''
const peers: LocalPeer[] = []
afterAll(async () => {
  await Promise.all(peers.map(async p => { await p.stop() }))
  if (root !== '') await rm(root, { recursive: true, force: true })
})

interface Ran { code: number | null, stdout: string, stderr: string }

/** Runs `swarm args...` as the person whose config dir is `who`, with `input` on stdin, against the live peers. */
async function swarm (who: string, args: string[], input = ''): Promise<Ran> {
  const live = peers.filter(p => !p.exited).map(p => p.addr()!)
  const child = spawn(process.execPath, [BIN, ...args, ...live.flatMap(a => ['--peer', a])], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, SWARM_CONFIG_DIR: join(root, 'people', who) }
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  child.stdin.end(input)
  const timer = setTimeout(() => { child.kill('SIGKILL') }, COMMAND_MS)
  const code = await new Promise<number | null>(resolve => { child.on('close', resolve) })
  clearTimeout(timer)
  return { code, stdout, stderr }
}

const ok = (r: Ran): Ran => { expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0); return r }
const jobsOf = async (who: string): Promise<Array<{ id: string, owner?: string, state: string }>> =>
  (JSON.parse(ok(await swarm(who, ['jobs', '--json'])).stdout) as { jobs: Array<{ id: string, owner?: string, state: string }> }).jobs

describe('e2e: accounts (processes on 127.0.0.1)', () => {
  it('the first account is the admin; users see and cancel only their own jobs; unsigned and forged requests are refused; accounts survive kill -9 of the master', async () => {
    root = await mkdtemp(join(tmpdir(), 'swarm-accounts-'))
    const debug = (): string => peers.map(p => `--- peer ${p.dataDir}\n${p.stderr.slice(-3000)}`).join('\n')
    const a = new LocalPeer(join(root, 'a'), ['--name', 'alpha', '--dashboard', '127.0.0.1:0'])
    peers.push(a)
    await waitFor('alpha is master', () => a.master() != null && a.master() === a.peerId() && a.url() != null, 30_000, debug)
    for (const name of ['bravo', 'charlie']) {
      const p = new LocalPeer(join(root, name), ['--name', name, '--peer', a.addr()!])
      peers.push(p)
    }
    await waitFor('3 peers follow alpha', () => peers.every(p => p.master() === a.peerId() && p.addr() != null), 30_000, debug)
    // Said at start: no accounts, an open swarm.
    expect(a.events.some(e => /no accounts: an open swarm/.test(String(e.msg))), 'the master says the swarm is open').toBe(true)
    expect((await jobsOf('nobody')).length).toBe(0)

    // The first account: made unsigned, admin, and this device is logged in as it.
    const made = ok(await swarm('root', ['user', 'add', 'root', '--password-stdin'], 'root-password-1\n'))
    expect(made.stdout).toMatch(/first, so its admin/)
    expect(ok(await swarm('root', ['user', 'add', 'alice', '--password-stdin'], 'alice-password\n')).stdout).toMatch(/account alice added/)
    ok(await swarm('root', ['user', 'add', 'bob', '--password-stdin'], 'bob-password\n'))

    // Once accounts exist: unsigned refused, a wrong password refused, a forged key refused.
    const unsigned = await swarm('nobody', ['jobs'])
    expect(unsigned.code).toBe(1)
    expect(unsigned.stderr).toMatch(/this swarm has accounts, and the request is not signed/)
    const wrong = await swarm('alice', ['login', 'alice', '--password-stdin'], 'not-her-password\n')
    expect(wrong.code).toBe(1)
    expect(wrong.stderr).toMatch(/wrong account name or password/)
    const forger = join(root, 'people', 'forger')
    await mkdir(forger, { recursive: true })
    await writeFile(join(forger, 'user-key.json'), JSON.stringify(DeviceKey.generate('alice').toJSON()))
    const forged = await swarm('forger', ['jobs'])
    expect(forged.code).toBe(1)
    expect(forged.stderr).toMatch(/matches no key of alice's/)
    // A user may not add accounts.
    ok(await swarm('alice', ['login', 'alice', '--password-stdin'], 'alice-password\n'))
    ok(await swarm('bob', ['login', 'bob', '--password-stdin'], 'bob-password\n'))
    const notAdmin = await swarm('alice', ['user', 'add', 'mallory', '--password-stdin'], 'mallory-password\n')
    expect(notAdmin.code).toBe(1)
    expect(notAdmin.stderr).toMatch(/only an admin adds accounts/)

    // Alice's job and Bob's job: each sees their own, the admin both.
    const img = await makeImage(root, 'a.png', 160, 120, 3)
    const imgB = await makeImage(root, 'b.png', 120, 90, 4)
    ok(await swarm('alice', ['submit', img, '--op', 'invert', '-o', join(root, 'alice-out.png')]))
    ok(await swarm('bob', ['submit', imgB, '--op', 'grayscale', '-o', join(root, 'bob-out.png')]))
    const alices = await jobsOf('alice')
    const bobs = await jobsOf('bob')
    expect(alices.map(j => j.owner)).toEqual(['alice'])
    expect(bobs.map(j => j.owner)).toEqual(['bob'])
    const all = await jobsOf('root')
    expect(all.map(j => j.owner).sort()).toEqual(['alice', 'bob'])
    const aliceJob = alices[0].id

    // Bob cannot cancel, watch or download Alice's job: to him it does not exist.
    const cancel = await swarm('bob', ['cancel', aliceJob])
    expect(cancel.code).toBe(1)
    expect(cancel.stderr).toMatch(new RegExp(`no job ${aliceJob}`))
    const result = await swarm('bob', ['result', aliceJob, '-o', join(root, 'stolen.png')])
    expect(result.code).not.toBe(0)
    expect(result.stderr).toMatch(new RegExp(`no job ${aliceJob}`))
    // The same image and pipeline from Bob is computed for him, not answered from Alice's job.
    ok(await swarm('bob', ['submit', img, '--op', 'invert', '-o', join(root, 'bob-again.png')]))
    expect((await jobsOf('bob')).map(j => j.id)).not.toContain(aliceJob)
    expect(Buffer.compare(await readFile(join(root, 'bob-again.png')), await readFile(join(root, 'alice-out.png')))).toBe(0)

    // The dashboard: nothing without a login; with Alice's password, Alice's jobs only.
    const dash = a.url()!
    expect((await fetch(`${dash}api/jobs`, { signal: AbortSignal.timeout(20_000) })).status).toBe(401)
    const badLogin = await fetch(`${dash}login`, { method: 'POST', body: new URLSearchParams({ user: 'alice', password: 'nope-nope-nope' }), redirect: 'manual', signal: AbortSignal.timeout(20_000) })
    expect(badLogin.status).toBe(401)
    const login = await fetch(`${dash}login`, { method: 'POST', body: new URLSearchParams({ user: 'alice', password: 'alice-password' }), redirect: 'manual', signal: AbortSignal.timeout(20_000) })
    expect(login.status).toBe(303)
    const cookie = login.headers.getSetCookie().map(c => c.split(';')[0]).join('; ')
    expect(cookie).toMatch(/swarm_user=/)
    const listed = await fetch(`${dash}api/jobs?state=all`, { headers: { cookie }, signal: AbortSignal.timeout(20_000) })
    expect(listed.status).toBe(200)
    const view = await listed.json() as { jobs: Array<{ id: string, owner?: string }> }
    expect(view.jobs.map(j => j.id)).toEqual([aliceJob])
    const bobJob = bobs[0].id
    expect((await fetch(`${dash}api/jobs/${bobJob}`, { headers: { cookie }, signal: AbortSignal.timeout(20_000) })).status).toBe(404)
    const forgedHeader = await fetch(`${dash}api/jobs?state=all`, { headers: { 'x-swarm-user': 'e30' }, signal: AbortSignal.timeout(20_000) })
    expect(forgedHeader.status).toBe(401)

    // kill -9 of the master: the next one has every account, and checks them as before.
    a.kill9()
    const next = await waitFor('a new master', () => {
      const m = peers.filter(p => !p.exited).map(p => p.master())
      return m.every(x => x != null && x !== a.peerId() && x === m[0]) ? m[0] : null
    }, 60_000, debug)
    expect(next).not.toBe(a.peerId())
    const users = JSON.parse(ok(await swarm('root', ['user', 'list', '--json'])).stdout) as { users: Array<{ name: string, admin: boolean }> }
    expect(users.users.map(u => `${u.name}:${u.admin ? 'admin' : 'user'}`)).toEqual(['alice:user', 'bob:user', 'root:admin'])
    expect((await jobsOf('alice')).map(j => j.id)).toEqual([aliceJob])
    const after = await swarm('nobody', ['jobs'])
    expect(after.code).toBe(1)
    expect(after.stderr).toMatch(/not signed/)
    expect((await swarm('forger', ['jobs'])).code).toBe(1)
    ok(await swarm('bob', ['login', 'bob', '--password-stdin'], 'bob-password\n'))
    expect((await swarm('bob', ['cancel', aliceJob])).stderr).toMatch(new RegExp(`no job ${aliceJob}`))
  })
})
