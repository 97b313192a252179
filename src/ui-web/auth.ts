// Who may use a dashboard. On 127.0.0.1 (the default) only this device's users reach it, and nothing is
// asked. Served beyond it (--dashboard 0.0.0.0:7070), nobody gets in without the token kept in the data
// dir: a login page takes it once and sets a cookie (an HMAC of the token, so the cookie is not the
// token); scripts send it as `Authorization: Bearer <token>`. The token is never logged.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { chmod, readFile, writeFile } from 'node:fs/promises'
import { isIP } from 'node:net'
import { join } from 'node:path'

export const TOKEN_FILE = 'dashboard-token'
export const SESSION_COOKIE = 'swarm_session'
/** A login lasts this long on a device (a classroom's term is longer; logging in again is cheap). */
export const SESSION_MAX_AGE_S = 30 * 24 * 3600
/** Wrong tokens accepted per minute before the login page refuses for the rest of it: guessing is slow. */
export const MAX_LOGIN_FAILURES_PER_MIN = 10

export const tokenPath = (dataDir: string): string => join(dataDir, TOKEN_FILE)

/** The data dir's token, made (32 random bytes, readable by this user only) the first time. */
export async function loadToken (dataDir: string): Promise<string> {
  const path = tokenPath(dataDir)
  try {
    const t = (await readFile(path, 'utf8')).trim()
    if (t.length >= 16) return t
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  const token = randomBytes(32).toString('base64url')
  await writeFile(path, `${token}\n`, { mode: 0o600 })
  await chmod(path, 0o600)
  return token
}

/** 127.0.0.0/8, ::1 and "localhost": reachable from this device only. */
export function isLoopback (host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '')
  if (h === 'localhost' || h === '::1') return true
  return isIP(h) === 4 && h.startsWith('127.')
}

const equal = (a: string, b: string): boolean => {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

export function cookieOf (header: string | null, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=')
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim()
  }
  return undefined
}

export class DashboardAuth {
  /** Whether requests must carry the token (the dashboard is served beyond this device). */
  readonly required: boolean
  readonly #token: string
  readonly #session: string
  readonly #now: () => number
  #failures: number[] = []

  constructor (token: string, required: boolean, now: () => number) {
    this.required = required
    this.#token = token
    this.#session = createHmac('sha256', token).update('swarm dashboard session').digest('base64url')
    this.#now = now
  }

  /** Whether the request may go on: always when not required, else with the cookie or the bearer token. */
  allows (request: Request): boolean {
    if (!this.required) return true
    const cookie = cookieOf(request.headers.get('cookie'), SESSION_COOKIE)
    if (cookie != null && equal(cookie, this.#session)) return true
    const auth = request.headers.get('authorization') ?? ''
    return auth.startsWith('Bearer ') && equal(auth.slice(7).trim(), this.#token)
  }

  /** A login attempt: the Set-Cookie value when the token is right; 'throttled' after too many wrong ones. */
  login (token: string): string | 'wrong' | 'throttled' {
    const now = this.#now()
    this.#failures = this.#failures.filter(t => now - t < 60_000)
    if (this.#failures.length >= MAX_LOGIN_FAILURES_PER_MIN) return 'throttled'
    if (!equal(token.trim(), this.#token)) {
      this.#failures.push(now)
      return 'wrong'
    }
    return `${SESSION_COOKIE}=${this.#session}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${SESSION_MAX_AGE_S}`
  }

  static logoutCookie (): string { return `${SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0` }
}

/**
 * A write from another site's page (cross-site request forgery: a page in the same browser posting to
 * 127.0.0.1:7070) or a page reached by a name that resolves here (DNS rebinding) is refused: the Origin,
 * when sent, must be this dashboard's own, and on loopback the Host must be a loopback name.
 */
export function crossSiteReason (request: Request, loopbackOnly: boolean): string | undefined {
  const host = request.headers.get('host') ?? ''
  if (loopbackOnly && host !== '' && !isLoopback(host.replace(/:\d+$/, ''))) return `this dashboard is served to this device only; the host ${JSON.stringify(host)} is not a loopback address`
  if (request.method === 'GET' || request.method === 'HEAD') return undefined
  const origin = request.headers.get('origin')
  if (origin == null || origin === 'null') return origin === 'null' ? 'a write from an opaque origin is refused' : undefined
  try {
    if (new URL(origin).host !== host) return `a write from ${origin} is refused: only this dashboard's own page may submit or cancel`
  } catch {
    return 'a write with a malformed Origin is refused'
  }
  return undefined
}
