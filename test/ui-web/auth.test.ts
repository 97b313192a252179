// Who may use a dashboard: the token file, loopback names, the cookie or bearer token, login throttling,
// and the cross-site (Origin / Host) checks.
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { crossSiteReason, DashboardAuth, isLoopback, loadToken, MAX_LOGIN_FAILURES_PER_MIN, SESSION_COOKIE, TOKEN_FILE, tokenPath } from '../../src/ui-web/auth.ts'

describe('loadToken', () => {
  let dir: string
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'swarm-auth-')) })
  afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

  it('creates the token file (mode 0600) the first time and returns the same token after', async () => {
    const token = await loadToken(dir)
    expect(token.length).toBeGreaterThanOrEqual(32)
    expect(token).toMatch(/^[A-Za-z0-9_-]+$/)
    const path = tokenPath(dir)
    expect(path).toBe(join(dir, TOKEN_FILE))
    const st = await stat(path)
    expect(st.isFile()).toBe(true)
    expect(st.mode & 0o777).toBe(0o600)
    expect((await readFile(path, 'utf8')).trim()).toBe(token)
    expect(await loadToken(dir)).toBe(token)
    expect(await loadToken(dir)).toBe(token)
  })

  it('two data dirs get different tokens', async () => {
    const other = await mkdtemp(join(tmpdir(), 'swarm-auth-'))
    try {
      expect(await loadToken(dir)).not.toBe(await loadToken(other))
    } finally {
      await rm(other, { recursive: true, force: true })
    }
  })

  it('keeps a token written by hand (trimmed); replaces one too short to be a secret, with mode 0600', async () => {
    await writeFile(tokenPath(dir), '  my-own-long-token-0123456789  \n', { mode: 0o644 })
    expect(await loadToken(dir)).toBe('my-own-long-token-0123456789')
    await writeFile(tokenPath(dir), 'short\n', { mode: 0o644 })
    const made = await loadToken(dir)
    expect(made).not.toBe('short')
    expect(made.length).toBeGreaterThanOrEqual(32)
    expect((await stat(tokenPath(dir))).mode & 0o777).toBe(0o600)
    expect(await loadToken(dir)).toBe(made)
  })
})

describe('isLoopback', () => {
  it.each(['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost'])('%s is loopback', (host) => {
    expect(isLoopback(host)).toBe(true)
  })
  it.each(['0.0.0.0', '192.168.1.2', '::', '[::]', '10.0.0.1', '127.0.0.1.evil.example', 'evil.example', 'localhost.evil.example', ''])('%s is not', (host) => {
    expect(isLoopback(host)).toBe(false)
  })
})

describe('DashboardAuth', () => {
  const TOKEN = 'tok-0123456789abcdefghijklmnopqrstuvwxyz'
  const req = (headers: Record<string, string> = {}): Request => new Request('http://127.0.0.1:7070/api/jobs', { headers })
  /** The cookie a browser sends back for a Set-Cookie value: its first `name=value` pair. */
  const cookieFrom = (setCookie: string): string => setCookie.split(';')[0].trim()

  it('not required: everything is allowed', () => {
    const auth = new DashboardAuth(TOKEN, false, () => 0)
    expect(auth.required).toBe(false)
    expect(auth.allows(req())).toBe(true)
    expect(auth.allows(req({ authorization: 'Bearer wrong' }))).toBe(true)
  })

  it('required: refuses no credentials and a wrong bearer; allows the right bearer', () => {
    const auth = new DashboardAuth(TOKEN, true, () => 0)
    expect(auth.required).toBe(true)
    expect(auth.allows(req())).toBe(false)
    expect(auth.allows(req({ authorization: 'Bearer wrong-token' }))).toBe(false)
    expect(auth.allows(req({ authorization: `Bearer ${TOKEN}x` }))).toBe(false)
    expect(auth.allows(req({ authorization: `Bearer ${TOKEN.slice(0, -1)}` }))).toBe(false)
    expect(auth.allows(req({ authorization: TOKEN }))).toBe(false) // no scheme
    expect(auth.allows(req({ authorization: `Basic ${TOKEN}` }))).toBe(false)
    expect(auth.allows(req({ cookie: `${SESSION_COOKIE}=${TOKEN}` }))).toBe(false) // the token is not the cookie
    expect(auth.allows(req({ authorization: `Bearer ${TOKEN}` }))).toBe(true)
  })

  it('login(token) gives a Set-Cookie whose value is not the token; a request carrying that cookie is allowed', () => {
    const auth = new DashboardAuth(TOKEN, true, () => 0)
    const set = auth.login(TOKEN)
    expect(set).not.toBe('wrong')
    expect(set).not.toBe('throttled')
    expect(set).not.toContain(TOKEN)
    expect(set).toMatch(new RegExp(`^${SESSION_COOKIE}=[^;\\s]+;`))
    expect(set).toMatch(/HttpOnly/)
    expect(set).toMatch(/SameSite=Strict/)
    const cookie = cookieFrom(set)
    expect(cookie.split('=')[1]).not.toBe(TOKEN)
    expect(auth.allows(req({ cookie }))).toBe(true)
    expect(auth.allows(req({ cookie: `theme=dark; ${cookie}; other=1` }))).toBe(true)
    // A changed cookie value, or the right value under another name, is not a session.
    expect(auth.allows(req({ cookie: `${cookie}x` }))).toBe(false)
    expect(auth.allows(req({ cookie: `other_${cookie}` }))).toBe(false)
    // Another dashboard (another token) does not take this one's cookie.
    const other = new DashboardAuth('another-token-0123456789abcdef', true, () => 0)
    expect(other.allows(req({ cookie }))).toBe(false)
    // The same token's session is the same on every start (the cookie survives a restart).
    expect(new DashboardAuth(TOKEN, true, () => 0).allows(req({ cookie }))).toBe(true)
  })

  it('the logout cookie ends the session (same name, empty, Max-Age=0)', () => {
    const out = DashboardAuth.logoutCookie()
    expect(out).toMatch(new RegExp(`^${SESSION_COOKIE}=;`))
    expect(out).toMatch(/Max-Age=0/)
    const auth = new DashboardAuth(TOKEN, true, () => 0)
    expect(auth.allows(req({ cookie: cookieFrom(out) }))).toBe(false)
  })

  it('a wrong login is "wrong"; the token with surrounding whitespace is taken', () => {
    const auth = new DashboardAuth(TOKEN, true, () => 0)
    expect(auth.login('nope')).toBe('wrong')
    expect(auth.login('')).toBe('wrong')
    expect(auth.login(`${TOKEN}x`)).toBe('wrong')
    expect(auth.login(` ${TOKEN}\n`)).toMatch(new RegExp(`^${SESSION_COOKIE}=`))
  })

  it(`after ${MAX_LOGIN_FAILURES_PER_MIN} wrong logins in a minute even the right token is "throttled"; 60 s later it works again`, () => {
    let now = 1_000_000
    const auth = new DashboardAuth(TOKEN, true, () => now)
    for (let i = 0; i < MAX_LOGIN_FAILURES_PER_MIN; i++) {
      expect(auth.login(`wrong-${i}`)).toBe('wrong')
      now += 100
    }
    expect(auth.login(TOKEN)).toBe('throttled')
    expect(auth.login('wrong-again')).toBe('throttled')
    // Throttled logins do not extend the block; the bearer token and an existing cookie still work.
    expect(auth.allows(req({ authorization: `Bearer ${TOKEN}` }))).toBe(true)
    const first = 1_000_000
    now = first + 60_000 - 1
    expect(auth.login(TOKEN)).toBe('throttled') // the first failure is still within the minute
    now = first + (MAX_LOGIN_FAILURES_PER_MIN - 1) * 100 + 60_000
    expect(auth.login(TOKEN)).toMatch(new RegExp(`^${SESSION_COOKIE}=`))
  })

  it('failures spread over more than a minute never throttle', () => {
    let now = 0
    const auth = new DashboardAuth(TOKEN, true, () => now)
    for (let i = 0; i < 3 * MAX_LOGIN_FAILURES_PER_MIN; i++) {
      expect(auth.login('wrong')).toBe('wrong')
      now += 60_000 / (MAX_LOGIN_FAILURES_PER_MIN - 1)
    }
    expect(auth.login(TOKEN)).toMatch(new RegExp(`^${SESSION_COOKIE}=`))
  })
})

describe('crossSiteReason', () => {
  const r = (method: string, headers: Record<string, string>): Request => new Request('http://127.0.0.1:7070/api/jobs', { method, headers })

  it('a GET on loopback with a loopback Host is fine', () => {
    expect(crossSiteReason(r('GET', { host: '127.0.0.1:7070' }), true)).toBeUndefined()
    expect(crossSiteReason(r('GET', { host: 'localhost:7070' }), true)).toBeUndefined()
    expect(crossSiteReason(r('GET', { host: '[::1]:7070' }), true)).toBeUndefined()
    expect(crossSiteReason(r('HEAD', { host: '127.0.0.1' }), true)).toBeUndefined()
  })

  it('on loopback, a Host that is not a loopback name (DNS rebinding) is refused, even for a GET', () => {
    const why = crossSiteReason(r('GET', { host: 'evil.example:7070' }), true)
    expect(why).toBeTypeOf('string')
    expect(why).toMatch(/evil\.example/)
    expect(crossSiteReason(r('GET', { host: '127.0.0.1.evil.example:7070' }), true)).toBeTypeOf('string')
    expect(crossSiteReason(r('POST', { host: 'evil.example:7070', origin: 'http://evil.example:7070' }), true)).toBeTypeOf('string')
    // Served beyond loopback, the Host is whatever name the dashboard is reached by.
    expect(crossSiteReason(r('GET', { host: 'lab-pc.local:7070' }), false)).toBeUndefined()
  })

  it('a POST from another origin is refused; from the dashboard\'s own origin, or with no Origin, it is fine', () => {
    expect(crossSiteReason(r('POST', { host: '127.0.0.1:7070', origin: 'http://evil.example' }), true)).toBeTypeOf('string')
    expect(crossSiteReason(r('POST', { host: '127.0.0.1:7070', origin: 'http://127.0.0.1:7071' }), true)).toBeTypeOf('string')
    expect(crossSiteReason(r('DELETE', { host: '127.0.0.1:7070', origin: 'http://localhost:7070' }), true)).toBeTypeOf('string')
    expect(crossSiteReason(r('POST', { host: '127.0.0.1:7070', origin: 'http://127.0.0.1:7070' }), true)).toBeUndefined()
    expect(crossSiteReason(r('POST', { host: '127.0.0.1:7070' }), true)).toBeUndefined()
    // Beyond loopback the same rule: the Origin must be the Host it was reached by.
    expect(crossSiteReason(r('POST', { host: 'lab-pc.local:7070', origin: 'http://lab-pc.local:7070' }), false)).toBeUndefined()
    expect(crossSiteReason(r('POST', { host: 'lab-pc.local:7070', origin: 'http://evil.example' }), false)).toBeTypeOf('string')
  })

  it('an opaque (null) or malformed Origin is refused', () => {
    expect(crossSiteReason(r('POST', { host: '127.0.0.1:7070', origin: 'null' }), true)).toMatch(/opaque/)
    expect(crossSiteReason(r('POST', { host: '127.0.0.1:7070', origin: 'not a url' }), true)).toMatch(/malformed/)
  })
})
