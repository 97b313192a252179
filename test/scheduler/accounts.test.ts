// Who a request is from: a signature over the protocol, the master, the time, a nonce and the request,
// checked against the account's keys; and what each account may do (account-service.ts), on a real
// queue state stepped by the queue machine, persisted and rebuilt as a new master would.
import { describe, expect, it } from 'vitest'
import { AccountService } from '../../src/scheduler/account-service.ts'
import { identify, maySee, ReplayGuard } from '../../src/scheduler/accounts.ts'
import { checkPassword, hashPassword } from '../../src/scheduler/passwords.ts'
import { createQueueState, rebuildQueueState, step, toRecords, type QueueEvent, type QueueState } from '../../src/scheduler/queue-machine.ts'
import { checkOp, RECORD_VERSION, userKey, type UserRecord } from '../../src/scheduler/records.ts'
import { JobRefusal } from '../../src/transfer/job-protocol.ts'
import { ErrorCodes, USERS_PROTOCOL } from '../../src/transfer/messages.ts'
import { AUTH_SKEW_MS, canonicalJson, DeviceKey } from '../../src/transfer/request-auth.ts'

const NOW = 1_700_000_000_000
const MASTER = '12D3KooWMaster'
const P = '/swarm/jobs/1.0.0'

function usersWith (...keys: DeviceKey[]): Map<string, UserRecord> {
  return new Map(keys.map(k => [k.user, { v: RECORD_VERSION, name: k.user, admin: k.user === 'root', keys: [k.publicKey], createdAt: NOW }]))
}

function refusal (fn: () => unknown): string {
  try { fn() } catch (err) { expect(err).toBeInstanceOf(JobRefusal); expect((err as JobRefusal).code).toBe(ErrorCodes.unauthorized); return (err as Error).message }
  throw new Error('not refused')
}

describe('request signatures', () => {
  const alice = DeviceKey.generate('alice')
  const users = usersWith(alice, DeviceKey.generate('root'))
  const check = (request: Record<string, unknown>, opts: { protocol?: string, self?: string, now?: number, guard?: ReplayGuard } = {}): ReturnType<typeof identify> =>
    identify({ users, protocol: opts.protocol ?? P, self: opts.self ?? MASTER, request, now: opts.now ?? NOW, guard: opts.guard ?? new ReplayGuard() })

  it('a signed request names its user; an open swarm asks no one', () => {
    expect(check(alice.sign(P, MASTER, { limit: 5 }, NOW))).toEqual({ name: 'alice', admin: false })
    expect(identify({ users: new Map(), protocol: P, self: MASTER, request: { limit: 5 }, now: NOW, guard: new ReplayGuard() })).toBeNull()
  })

  it('refuses unsigned, tampered, re-aimed, stale, replayed and forged requests, each with its reason', () => {
    expect(refusal(() => check({ limit: 5 }))).toMatch(/not signed: log in with `swarm login NAME`/)
    const signed = alice.sign(P, MASTER, { limit: 5 }, NOW)
    expect(refusal(() => check({ ...signed, limit: 6 }))).toMatch(/matches no key of alice's/)
    expect(refusal(() => check(signed, { protocol: '/swarm/cancel/1.0.0' }))).toMatch(/matches no key/)
    expect(refusal(() => check(signed, { self: '12D3KooWOther' }))).toMatch(/matches no key/)
    expect(refusal(() => check(signed, { now: NOW + AUTH_SKEW_MS + 60_000 }))).toMatch(/signed 6 min ago.*check this device's clock/)
    const guard = new ReplayGuard()
    expect(check(signed, { guard })).toEqual({ name: 'alice', admin: false })
    expect(refusal(() => check(signed, { guard }))).toMatch(/sent before \(a replay\)/)
    const forged = DeviceKey.generate('alice').sign(P, MASTER, { limit: 5 }, NOW)
    expect(refusal(() => check(forged))).toMatch(/matches no key of alice's/)
    expect(refusal(() => check(DeviceKey.generate('eve').sign(P, MASTER, {}, NOW)))).toMatch(/no account "eve"/)
    expect(refusal(() => check({ limit: 5, auth: { user: 'alice' } }))).toMatch(/malformed/)
  })

  it('a key survives its file: toJSON and back signs as the same key', () => {
    const again = DeviceKey.fromJSON(JSON.parse(JSON.stringify(alice.toJSON())))
    expect(again.publicKey).toBe(alice.publicKey)
    expect(check(again.sign(P, MASTER, { limit: 1 }, NOW))).toEqual({ name: 'alice', admin: false })
  })

  it('canonical JSON does not depend on key order', () => {
    expect(canonicalJson({ b: 1, a: [{ y: 2, x: null }] })).toBe(canonicalJson({ a: [{ x: null, y: 2 }], b: 1 }))
    expect(canonicalJson({ a: 1, b: undefined })).toBe('{"a":1}')
  })

  it('a user sees their own jobs, an admin all, a job from before accounts only admins', () => {
    expect(maySee(null, undefined)).toBe(true)
    expect(maySee({ name: 'alice', admin: false }, 'alice')).toBe(true)
    expect(maySee({ name: 'bob', admin: false }, 'alice')).toBe(false)
    expect(maySee({ name: 'bob', admin: false }, undefined)).toBe(false)
    expect(maySee({ name: 'root', admin: true }, 'alice')).toBe(true)
  })
})

describe('passwords', () => {
  it('a stored hash checks the password it was made from and no other', async () => {
    const h = await hashPassword('correct horse')
    expect(h).toMatch(/^scrypt\$32768\$8\$1\$/)
    expect(await checkPassword('correct horse', h)).toBe(true)
    expect(await checkPassword('correct horsf', h)).toBe(false)
    expect(await checkPassword('x', 'scrypt$1073741824$8$1$AA$AA')).toBe(false)
  })
})

describe('accounts in the queue', () => {
  function service (): { svc: AccountService, state: () => QueueState } {
    let s = createQueueState()
    const svc = new AccountService({
      queue: () => s,
      step: async (e: QueueEvent) => { s = step(s, e).state },
      replicated: async () => true,
      identify: (protocol, request) => identify({ users: s.users, protocol, self: MASTER, request, now: Date.now(), guard: new ReplayGuard() })
    })
    return { svc, state: () => s }
  }
  const code = async (p: Promise<unknown>): Promise<string> => await p.then(() => 'ok', (e: JobRefusal) => `${e.code}: ${e.message}`)

  it('the first account is the admin with its device key; after it, only an admin adds, and the last admin stays', async () => {
    const { svc, state } = service()
    const root = DeviceKey.generate('root')
    expect(await code(svc.handle({ op: 'add', name: 'root', password: 'short', admin: false, key: root.publicKey }))).toMatch(/at least 8 characters/)
    expect(await code(svc.handle({ op: 'add', name: 'root', password: 'root-password', admin: false }))).toMatch(/must bring its device key/)
    const first = await svc.handle({ op: 'add', name: 'root', password: 'root-password', admin: false, key: root.publicKey })
    expect(first.users).toEqual([{ name: 'root', admin: true, keys: 1, createdAt: expect.any(Number) }])
    // Unsigned now: refused.
    expect(await code(svc.handle({ op: 'add', name: 'alice', password: 'alice-password', admin: false }))).toMatch(/^unauthorized: .*not signed/)
    const added = await svc.handle(root.sign(USERS_PROTOCOL, MASTER, { op: 'add' as const, name: 'alice', password: 'alice-password', admin: false, key: DeviceKey.generate('alice').publicKey }))
    // A later account never takes the key the admin's device sent.
    expect(added.users.find(u => u.name === 'alice')).toMatchObject({ admin: false, keys: 0 })
    expect(await code(svc.handle(root.sign(USERS_PROTOCOL, MASTER, { op: 'add' as const, name: 'Alice!', password: 'alice-password', admin: false })))).toMatch(/^bad-input: an account name/)
    expect(await code(svc.handle(root.sign(USERS_PROTOCOL, MASTER, { op: 'add' as const, name: 'alice', password: 'alice-password', admin: false })))).toMatch(/already an account alice/)
    // Alice logs in: her device's key is hers; she may not add or remove.
    const alice = DeviceKey.generate('alice')
    expect(await code(svc.handle({ op: 'login', name: 'alice', password: 'wrong-password', key: alice.publicKey }))).toMatch(/^unauthorized: wrong account name or password/)
    expect(await code(svc.handle({ op: 'login', name: 'nobody', password: 'wrong-password', key: alice.publicKey }))).toMatch(/^unauthorized: wrong account name or password/)
    await svc.handle({ op: 'login', name: 'alice', password: 'alice-password', key: alice.publicKey })
    expect(state().users.get('alice')!.keys).toEqual([alice.publicKey])
    expect(await code(svc.handle(alice.sign(USERS_PROTOCOL, MASTER, { op: 'remove' as const, name: 'root' })))).toMatch(/only an admin removes/)
    expect((await svc.handle(alice.sign(USERS_PROTOCOL, MASTER, { op: 'list' as const }))).users.map(u => u.name)).toEqual(['alice'])
    expect((await svc.handle(root.sign(USERS_PROTOCOL, MASTER, { op: 'list' as const }))).users.map(u => u.name)).toEqual(['alice', 'root'])
    expect(await code(svc.handle(root.sign(USERS_PROTOCOL, MASTER, { op: 'remove' as const, name: 'root' })))).toMatch(/root is the last admin/)

    // What a new master rebuilds from the records (and a follower accepts from the log) holds the accounts.
    const records = toRecords(state())
    expect(records.find(([k]) => k === userKey('alice'))).toBeDefined()
    for (const [key, value] of records) checkOp({ type: 'put', key, value })
    const rebuilt = rebuildQueueState(records)
    expect([...rebuilt.users.keys()].sort()).toEqual(['alice', 'root'])
    expect(rebuilt.users.get('alice')!.keys).toEqual([alice.publicKey])

    await svc.handle(root.sign(USERS_PROTOCOL, MASTER, { op: 'remove' as const, name: 'alice' }))
    expect(toRecords(state()).find(([k]) => k === userKey('alice'))).toBeUndefined()
    expect(await code(svc.handle({ op: 'login', name: 'alice', password: 'alice-password', key: alice.publicKey }))).toMatch(/wrong account name or password/)
  })

  it('too many wrong passwords for an account: its logins wait a minute', async () => {
    const { svc } = service()
    const root = DeviceKey.generate('root')
    await svc.handle({ op: 'add', name: 'root', password: 'root-password', admin: false, key: root.publicKey })
    for (let i = 0; i < 10; i++) expect(await code(svc.handle({ op: 'login', name: 'root', password: `guess-${i}-xx`, key: root.publicKey }))).toMatch(/wrong account name or password/)
    expect(await code(svc.handle({ op: 'login', name: 'root', password: 'root-password', key: root.publicKey }))).toMatch(/too many wrong passwords for root/)
  }, 60_000)

  it('a user record with a bad name or key is refused by the queue machine and by a follower', () => {
    const s = createQueueState()
    expect(() => step(s, { type: 'userPut', user: { v: 1, name: 'Bad Name', admin: false, keys: [], createdAt: NOW }, now: NOW })).toThrow(/is not valid/)
    expect(() => checkOp({ type: 'put', key: 'u/alice', value: { v: 1, name: 'alice', admin: false, keys: ['short'], createdAt: NOW } })).toThrow()
    expect(() => checkOp({ type: 'put', key: 'u/../x', value: {} })).toThrow(/unknown key/)
  })
})
