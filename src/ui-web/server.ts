// The dashboard every peer serves (`swarm start`, http://127.0.0.1:7070 by default): the page, the HTTP
// API it uses, and /metrics. What every peer knows (the peers, their heartbeats, elections) is answered
// here; the master's part (jobs, tiles, results, job events) by the master: this peer's own MasterApi
// when it is master, else the master's through the HTTP tunnel. When the master changes, the next
// request goes to the new one and the page's event streams reconnect there: it follows failovers.
import type { AddressInfo } from 'node:net'
import { readFile } from 'node:fs/promises'
import { extname, join, normalize } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createAdaptorServer, type ServerType } from '@hono/node-server'
import { Hono } from 'hono'
import type { Libp2p } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { describeOps } from '../ops/catalogue.ts'
import type { Clock } from '../transfer/clock.ts'
import { tunnelFetch } from '../transfer/http-tunnel.ts'
import type { StatusSnapshot } from '../transfer/status.ts'
import type { SwarmPeer } from '../node/peer.ts'
import type { MasterEventData, PeerEventData, SwarmView } from './api-types.ts'
import { crossSiteReason, DashboardAuth, isLoopback } from './auth.ts'
import { errorResponse } from './http-errors.ts'
import { eventStream } from './sse.ts'
import { dashboardRequestBody, DASHBOARD_AUTH_PROTOCOL, USER_AUTH_HEADER, VIA_HEADER } from './master-api.ts'
import { UserSessions } from './user-sessions.ts'
import type { DeviceKey } from '../transfer/request-auth.ts'

// In defaults.ts, which imports nothing: `swarm start --help` prints them.
export { DEFAULT_DASHBOARD_HOST, DEFAULT_DASHBOARD_PORT } from './defaults.ts'
/** The swarm view is pushed to open pages this often (peers' load and last-seen times move all the time). */
export const SWARM_PUSH_MS = 2000

const PUBLIC_DIR = fileURLToPath(new URL('./public/', import.meta.url))
/** The page's libraries, served as ES modules from node_modules: no build step (see the README's Decisions). */
const VENDOR: Record<string, string> = {
  'preact.mjs': fileURLToPath(import.meta.resolve('preact')),
  'hooks.mjs': fileURLToPath(import.meta.resolve('preact/hooks')),
  'htm.mjs': fileURLToPath(import.meta.resolve('htm'))
}
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.svg': 'image/svg+xml', '.png': 'image/png', '.ico': 'image/x-icon', '.json': 'application/json'
}
/** What a page may load (its own scripts, styles and images) and nothing else: a dashboard runs no one else's code. */
const CSP = "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'; form-action 'self'"

const TOKEN_FIELDS = `<p class="muted">This dashboard is served beyond this device, so it asks for the swarm's dashboard token: the file <code>dashboard-token</code> in the peer's data dir.</p>
      <label for="token">Token</label>
      <input id="token" type="password" name="token" data-testid="login-token" autocomplete="off" required>`

const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, c => `&#${c.charCodeAt(0)};`)

export interface DashboardComponents {
  peer: Pick<SwarmPeer, 'peerId' | 'master' | 'epoch' | 'snapshot' | 'on' | 'off'>
  libp2p: () => Pick<Libp2p, 'dialProtocol' | 'getConnections'>
  /** The master's part of the API, answered here when this peer is master. */
  masterFetch: (request: Request) => Promise<Response>
  /** /metrics, when metrics are kept. */
  metrics?: { text: () => Promise<string>, contentType: string }
  clock: Clock
  /** Logs a person in with the master (users protocol): a fresh key of theirs for this session. */
  login?: (name: string, password: string) => Promise<DeviceKey>
}

export interface DashboardInit {
  host: string
  port: number
  /** The token asked when the dashboard is served beyond this device. */
  token: string
}

export class DashboardServer {
  readonly app = new Hono()
  readonly auth: DashboardAuth
  readonly sessions: UserSessions
  readonly #c: DashboardComponents
  readonly #init: DashboardInit
  #server?: ServerType

  constructor (components: DashboardComponents, init: DashboardInit) {
    this.#c = components
    this.#init = init
    const loopbackOnly = isLoopback(init.host)
    this.auth = new DashboardAuth(init.token, !loopbackOnly, () => components.clock.now())
    this.sessions = new UserSessions(() => components.clock.now())
    const app = this.app
    app.use('*', async (c, next) => {
      const refused = crossSiteReason(c.req.raw, loopbackOnly)
      if (refused != null) return errorResponse(403, refused, { code: 'forbidden' })
      const path = c.req.path
      if (path === '/login' || path === '/app/style.css' || this.auth.allows(c.req.raw)) {
        await next()
        c.header('content-security-policy', CSP)
        c.header('x-content-type-options', 'nosniff')
        // Not no-referrer: with it a browser sends "Origin: null" on the page's own form posts.
        c.header('referrer-policy', 'same-origin')
        return
      }
      if (path.startsWith('/api/') || path === '/metrics') return errorResponse(401, 'log in first: open /login and give the token from the data dir (or send Authorization: Bearer <token>)', { code: 'unauthorized' })
      return c.redirect('/login', 302)
    })
    app.get('/login', async (c) => await this.loginPage(undefined, 200, c.req.raw))
    app.post('/login', async (c) => await this.login(c.req.raw))
    app.post('/logout', (c) => {
      this.sessions.end(c.req.raw)
      const headers = new Headers({ location: '/login' })
      headers.append('set-cookie', DashboardAuth.logoutCookie())
      headers.append('set-cookie', UserSessions.logoutCookie())
      return new Response(null, { status: 303, headers })
    })
    app.get('/', async () => await this.file(join(PUBLIC_DIR, 'index.html')))
    app.get('/app/*', async (c) => {
      const rel = normalize(c.req.path.slice('/app/'.length))
      if (rel.startsWith('..') || rel.includes('\0')) return errorResponse(404, 'no such file')
      return await this.file(join(PUBLIC_DIR, rel))
    })
    app.get('/vendor/:name', async (c) => {
      const path = VENDOR[c.req.param('name')]
      return path == null ? errorResponse(404, 'no such file') : await this.file(path)
    })
    app.get('/api/swarm', () => Response.json(this.view()))
    app.get('/api/ops', () => Response.json(describeOps()))
    app.get('/api/events', () => this.swarmEvents())
    app.get('/metrics', async () => {
      const m = this.#c.metrics
      if (m == null) return errorResponse(404, 'metrics are off on this peer')
      return new Response(await m.text(), { headers: { 'content-type': m.contentType } })
    })
    app.all('/api/jobs', async (c) => await this.toMaster(c.req.raw))
    app.all('/api/jobs/*', async (c) => await this.toMaster(c.req.raw))
    app.notFound(() => errorResponse(404, 'no such page or route (see README: the HTTP API)'))
    app.onError((err) => errorResponse(500, err.message, { code: 'internal' }))
  }

  /** Starts serving; resolves with the address it listens on (port 0: a free one). */
  async start (): Promise<{ host: string, port: number, url: string }> {
    const server = createAdaptorServer({ fetch: this.app.fetch, overrideGlobalObjects: false })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.#init.port, this.#init.host, () => { server.off('error', reject); resolve() })
    })
    this.#server = server
    const port = (server.address() as AddressInfo).port
    const host = this.#init.host.includes(':') ? `[${this.#init.host}]` : this.#init.host
    return { host: this.#init.host, port, url: `http://${host}:${port}/` }
  }

  async stop (): Promise<void> {
    const server = this.#server
    if (server == null) return
    this.#server = undefined
    // Event streams never end by themselves: their connections are closed, not waited for.
    ;(server as { closeAllConnections?: () => void }).closeAllConnections?.()
    await new Promise<void>((resolve) => { server.close(() => { resolve() }) })
  }

  private async file (path: string): Promise<Response> {
    try {
      const body = await readFile(path)
      return new Response(body, { headers: { 'content-type': TYPES[extname(path)] ?? 'application/octet-stream', 'cache-control': 'no-cache' } })
    } catch {
      return errorResponse(404, 'no such file')
    }
  }

  /**
   * The login form: the dashboard token when the page is served beyond this device and not yet given, and
   * an account's name and password (needed once the swarm has accounts; the master checks them).
   */
  private async login (request: Request): Promise<Response> {
    const form = await request.clone().formData().catch(() => new FormData())
    const field = (k: string): string => { const v = form.get(k); return typeof v === 'string' ? v : '' }
    const headers = new Headers({ location: '/' })
    if (this.auth.required && !this.auth.allows(request)) {
      const outcome = this.auth.login(field('token'))
      if (outcome === 'wrong') return await this.loginPage('That is not this swarm\'s dashboard token.', 401, request)
      if (outcome === 'throttled') return await this.loginPage('Too many wrong tokens: wait a minute.', 429, request)
      headers.append('set-cookie', outcome)
    }
    const name = field('user').trim()
    if (name !== '') {
      if (this.#c.login == null) return await this.loginPage('This peer cannot log accounts in.', 500, request)
      try {
        headers.append('set-cookie', this.sessions.begin(await this.#c.login(name, field('password'))))
      } catch (err) {
        return await this.loginPage(escapeHtml((err as Error).message), 401, request)
      }
    }
    return new Response(null, { status: 303, headers })
  }

  private async loginPage (error: string | undefined, status: number, request: Request): Promise<Response> {
    const page = await readFile(join(PUBLIC_DIR, 'login.html'), 'utf8')
    const tokenAsked = this.auth.required && !this.auth.allows(request)
    const html = page.replace('<!--error-->', error == null ? '' : `<p class="login-error">${error}</p>`)
      .replace('<!--token-->', tokenAsked ? TOKEN_FIELDS : '')
    return new Response(html, { status, headers: { 'content-type': TYPES['.html'] } })
  }

  /** The master's part: here when this peer is master, else the master's through the tunnel. */
  private async toMaster (request: Request): Promise<Response> {
    const master = this.#c.peer.master
    if (master == null) return errorResponse(503, 'the swarm has no master right now (electing one); try again in a few seconds', { code: 'no-master' })
    // Which dashboard a submit came through, for the job's "submitted by".
    const headers = new Headers(request.headers)
    headers.set(VIA_HEADER, this.#c.peer.snapshot().peers.find(p => p.self)?.name ?? this.#c.peer.peerId)
    // The logged-in person, signed for this master with the session's key (a header sent by the browser is not trusted).
    headers.delete(USER_AUTH_HEADER)
    const key = this.sessions.keyOf(request)
    if (key != null) {
      const { auth } = key.sign(DASHBOARD_AUTH_PROTOCOL, master, dashboardRequestBody(request.method, request.url), this.#c.clock.now())
      headers.set(USER_AUTH_HEADER, Buffer.from(JSON.stringify(auth)).toString('base64url'))
    }
    // Built afresh: the adapter's own request objects cannot be copied by the global Request constructor.
    const hasBody = request.method !== 'GET' && request.method !== 'HEAD'
    request = new Request(request.url, { method: request.method, headers, signal: request.signal, ...(hasBody ? { body: request.body, duplex: 'half' } : {}) } as RequestInit)
    if (master === this.#c.peer.peerId) return await this.#c.masterFetch(request)
    try {
      return await tunnelFetch(this.#c.libp2p(), peerIdFromString(master), request, { clock: this.#c.clock, signal: request.signal })
    } catch (err) {
      return errorResponse(503, `the master ${master} could not be reached (${(err as Error).message}); try again`, { code: 'no-master' })
    }
  }

  view (): SwarmView {
    const snap: StatusSnapshot = this.#c.peer.snapshot()
    const self = this.#c.peer.peerId
    // A peer not heard from draws no line: its last heartbeat's connections are gone with it.
    const known = new Set(snap.peers.filter(p => p.alive).map(p => p.peerId))
    const links = new Map<string, [string, string]>()
    const add = (a: string, b: string): void => {
      if (a === b || !known.has(a) || !known.has(b)) return
      const pair: [string, string] = a < b ? [a, b] : [b, a]
      links.set(pair.join(' '), pair)
    }
    for (const c of this.#c.libp2p().getConnections()) add(self, c.remotePeer.toString())
    for (const p of snap.peers) if (p.alive) for (const other of p.links ?? []) add(p.peerId, other)
    return { self, master: snap.master, epoch: snap.epoch, peers: snap.peers, links: [...links.values()], distrusted: snap.distrusted ?? [] }
  }

  private swarmEvents (): Response {
    const peer = this.#c.peer
    const clock = this.#c.clock
    return eventStream((sink) => {
      const onJoined = (e: { peerId: string, hb: { name: string } }): void => {
        const d: PeerEventData = { type: 'joined', peerId: e.peerId, name: e.hb.name, at: clock.now() }
        sink.send('peer', d)
        sink.send('swarm', this.view())
      }
      const onLeft = (e: { peerId: string, reason: string }): void => {
        const d: PeerEventData = { type: 'left', peerId: e.peerId, reason: e.reason, at: clock.now() }
        sink.send('peer', d)
        sink.send('swarm', this.view())
      }
      const onMaster = (e: { master: string | null, epoch: number, previous: string | null }): void => {
        const d: MasterEventData = { master: e.master, epoch: e.epoch, previous: e.previous, at: clock.now() }
        sink.send('master', d)
        sink.send('swarm', this.view())
      }
      peer.on('peer:joined', onJoined)
      peer.on('peer:left', onLeft)
      peer.on('master', onMaster)
      sink.send('swarm', this.view())
      const push = clock.every(SWARM_PUSH_MS, () => { sink.send('swarm', this.view()) })
      return () => {
        push.cancel()
        peer.off('peer:joined', onJoined)
        peer.off('peer:left', onLeft)
        peer.off('master', onMaster)
      }
    }, clock)
  }
}
