// What the master decides about accounts (the users protocol, src/transfer/users-protocol.ts): the first
// account made in a swarm is its admin and needs no signature (there is no one to sign yet; its device
// key comes with it); after that only an admin adds or removes accounts, a user lists themself (an admin,
// everyone), and a login with the right password adds the device's key to the account. Each change is a
// queue step, so it is persisted and replicated like a job, and answered once a live follower has it: the
// account then survives this master.
import { systemClock, type Clock } from '../transfer/clock.ts'
import { JobRefusal } from '../transfer/job-protocol.ts'
import { ErrorCodes, USERS_PROTOCOL, type UserSummary, type UsersReply, type UsersRequest } from '../transfer/messages.ts'
import type { Caller } from '../transfer/request-auth.ts'
import { checkPassword, hashPassword, passwordError } from './passwords.ts'
import { MAX_USER_KEYS, RECORD_VERSION, USER_NAME_RE, type UserRecord } from './records.ts'
import { listUsers, type QueueEvent, type QueueState } from './queue-machine.ts'

/** Wrong passwords for one account per minute before its logins are refused for the rest of it. */
export const MAX_LOGIN_FAILURES_PER_MIN = 10
/** Accounts in one swarm: a school's worth; each is in every replica and checked on every request. */
export const MAX_USERS = 1000

export interface AccountComponents {
  /** The queue this master holds (undefined while it holds none). */
  queue: () => QueueState | undefined
  step: (event: QueueEvent) => Promise<unknown>
  /** Whether a live follower has the queue as far as now (false at once when there is none). */
  replicated: () => Promise<boolean>
  identify: (protocol: string, request: Record<string, unknown>) => Caller
  clock?: Clock
}

const refuse = (code: string, message: string): JobRefusal => new JobRefusal(code, message)

export class AccountService {
  readonly #c: AccountComponents
  readonly #clock: Clock
  readonly #failures = new Map<string, number[]>()

  constructor (components: AccountComponents) {
    this.#c = components
    this.#clock = components.clock ?? systemClock
  }

  async handle (req: UsersRequest): Promise<UsersReply> {
    const state = this.#c.queue()
    if (state == null) throw refuse(ErrorCodes.busy, 'this master has not loaded its queue yet; try again')
    switch (req.op) {
      case 'login': return await this.login(state, req)
      case 'list': return this.list(state, this.#c.identify(USERS_PROTOCOL, req))
      case 'add': return await this.add(state, req, this.#c.identify(USERS_PROTOCOL, req))
      case 'remove': return await this.remove(state, req, this.#c.identify(USERS_PROTOCOL, req))
    }
  }

  private list (state: QueueState, who: Caller): UsersReply {
    const all = listUsers(state).filter(u => who == null || who.admin || u.name === who.name)
    return { users: all.map(summaryOf), open: state.users.size === 0 }
  }

  private async add (state: QueueState, req: Extract<UsersRequest, { op: 'add' }>, who: Caller): Promise<UsersReply> {
    const first = state.users.size === 0
    if (!first && who?.admin !== true) throw refuse(ErrorCodes.unauthorized, `only an admin adds accounts, and ${who?.name ?? 'this request'} is not one`)
    if (!USER_NAME_RE.test(req.name)) throw refuse(ErrorCodes.badInput, `an account name is 1-32 characters: a lowercase letter, then lowercase letters, digits, '.', '_' or '-'; got ${JSON.stringify(req.name)}`)
    if (state.users.has(req.name)) throw refuse(ErrorCodes.badInput, `there is already an account ${req.name}`)
    if (state.users.size >= MAX_USERS) throw refuse(ErrorCodes.badInput, `this swarm has ${MAX_USERS} accounts, the most it keeps; remove one first`)
    const bad = passwordError(req.password)
    if (bad != null) throw refuse(ErrorCodes.badInput, bad)
    if (first && req.key == null) throw refuse(ErrorCodes.badInput, 'the first account is the swarm\'s admin and must bring its device key (swarm user add does)')
    const user: UserRecord = {
      v: RECORD_VERSION, name: req.name, admin: first || req.admin, password: await hashPassword(req.password),
      // Only the first account takes the key it brings (the CLI sends one in case it is first): a later one's
      // keys come from its owner's login, never from the admin's device.
      keys: first && req.key != null ? [req.key] : [], createdAt: this.#clock.now()
    }
    // Checked again after the slow hash: another add may have made the first account meanwhile.
    if ((this.#c.queue()?.users.size ?? 0) > 0 && first) throw refuse(ErrorCodes.busy, 'another account was made at the same moment; try again (signed by an admin)')
    await this.put(user)
    return this.list(this.#c.queue() ?? state, who ?? { name: user.name, admin: true })
  }

  private async remove (state: QueueState, req: Extract<UsersRequest, { op: 'remove' }>, who: Caller): Promise<UsersReply> {
    if (who == null) throw refuse(ErrorCodes.badInput, 'this swarm has no accounts yet')
    if (!who.admin) throw refuse(ErrorCodes.unauthorized, `only an admin removes accounts, and ${who.name} is not one`)
    const user = state.users.get(req.name)
    if (user == null) throw refuse(ErrorCodes.badInput, `there is no account ${JSON.stringify(req.name)}`)
    const admins = listUsers(state).filter(u => u.admin).length
    if (user.admin && admins <= 1) throw refuse(ErrorCodes.badInput, `${req.name} is the last admin; add another admin before removing it`)
    await this.#c.step({ type: 'userRemove', name: req.name, now: this.#clock.now() })
    await this.#c.replicated()
    return this.list(this.#c.queue() ?? state, who)
  }

  private async login (state: QueueState, req: Extract<UsersRequest, { op: 'login' }>): Promise<UsersReply> {
    const now = this.#clock.now()
    const recent = (this.#failures.get(req.name) ?? []).filter(t => now - t < 60_000)
    if (recent.length >= MAX_LOGIN_FAILURES_PER_MIN) throw refuse(ErrorCodes.unauthorized, `too many wrong passwords for ${req.name}: wait a minute`)
    const user = state.users.get(req.name)
    // The same answer, after the same work, for a wrong name as for a wrong password: names are not probed.
    const ok = await checkPassword(req.password, user?.password ?? DUMMY_HASH)
    if (user == null || !ok) {
      this.#failures.set(req.name, [...recent, now])
      if (this.#failures.size > MAX_USERS * 2) this.#failures.delete(this.#failures.keys().next().value!)
      throw refuse(ErrorCodes.unauthorized, `wrong account name or password for ${JSON.stringify(req.name)}`)
    }
    this.#failures.delete(req.name)
    const current = this.#c.queue()?.users.get(req.name) ?? user
    const keys = [...current.keys.filter(k => k !== req.key), req.key].slice(-MAX_USER_KEYS)
    await this.put({ ...current, keys })
    return { users: [summaryOf({ ...current, keys })], open: false }
  }

  private async put (user: UserRecord): Promise<void> {
    await this.#c.step({ type: 'userPut', user, now: this.#clock.now() })
    // Answered once a live follower has it (or none answered in time: the others' replicas will have it).
    await this.#c.replicated()
  }
}

/** A hash of nothing anyone types, checked for unknown names so they take as long as known ones. */
const DUMMY_HASH = 'scrypt$32768$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'

function summaryOf (u: UserRecord): UserSummary {
  return { name: u.name, admin: u.admin, keys: u.keys.length, createdAt: u.createdAt }
}
