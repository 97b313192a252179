// The people logged in to this dashboard: a session cookie (random, HttpOnly) names a key made for that
// login, whose public half the master added to the account. Requests the page sends to the master are
// signed with it (server.ts), so the master checks the person as it checks the CLI's. Kept in memory: a
// restarted peer asks its users to log in again.
import { randomBytes } from 'node:crypto'
import type { DeviceKey } from '../transfer/request-auth.ts'
import { cookieOf } from './auth.ts'

export const USER_COOKIE = 'swarm_user'
/** A dashboard login lasts this long, as the token's cookie does. */
export const USER_SESSION_MAX_AGE_S = 30 * 24 * 3600
/** Sessions one dashboard keeps; the oldest ends first (its key stays on the account until pushed out there). */
export const MAX_SESSIONS = 1000

export class UserSessions {
  readonly #sessions = new Map<string, { key: DeviceKey, until: number }>()
  readonly #now: () => number

  constructor (now: () => number) {
    this.#now = now
  }

  /** A new session for this key: the Set-Cookie value. */
  begin (key: DeviceKey): string {
    const id = randomBytes(24).toString('base64url')
    this.#sessions.set(id, { key, until: this.#now() + USER_SESSION_MAX_AGE_S * 1000 })
    for (const old of this.#sessions.keys()) {
      if (this.#sessions.size <= MAX_SESSIONS) break
      this.#sessions.delete(old)
    }
    return `${USER_COOKIE}=${id}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${USER_SESSION_MAX_AGE_S}`
  }

  keyOf (request: Request): DeviceKey | undefined {
    const id = cookieOf(request.headers.get('cookie'), USER_COOKIE)
    const s = id == null ? undefined : this.#sessions.get(id)
    if (s == null || id == null) return undefined
    if (s.until < this.#now()) { this.#sessions.delete(id); return undefined }
    return s.key
  }

  /** Who is logged in with this request, if anyone. */
  userOf (request: Request): string | undefined { return this.keyOf(request)?.user }

  end (request: Request): void {
    const id = cookieOf(request.headers.get('cookie'), USER_COOKIE)
    if (id != null) this.#sessions.delete(id)
  }

  static logoutCookie (): string { return `${USER_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0` }
}
