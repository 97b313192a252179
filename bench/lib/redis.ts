// A real redis-server for the broker case: installed from the Debian packages if missing (apt-get; the
// package's service is not started: policy-rc.d / no init here, and we check nothing listens on 6379
// because of us), then started on 127.0.0.1 on a free port with no persistence, stopped with the scope.
import { existsSync } from 'node:fs'
import { createConnection } from 'node:net'
import { freePort, runCommand, sleep, type Scope } from './proc.ts'
import { tempDir } from './swarm.ts'

const CANDIDATES = ['/usr/bin/redis-server', '/usr/local/bin/redis-server', '/usr/sbin/redis-server']

function findRedis (): string | null {
  return CANDIDATES.find(p => existsSync(p)) ?? null
}

/** Path to redis-server, installing the Debian package first if needed. */
export async function ensureRedis (log: (m: string) => void): Promise<{ bin: string, installed: boolean }> {
  const found = findRedis()
  if (found != null) return { bin: found, installed: false }
  log('redis-server not found: installing it with apt-get (Debian package redis-server)')
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  let r = await runCommand('apt-get', ['install', '-y', '--no-install-recommends', 'redis-server'], 300_000, { env })
  if (r.code !== 0) {
    log('apt-get install failed; running apt-get update once and retrying')
    const u = await runCommand('apt-get', ['update'], 300_000, { env })
    if (u.code !== 0) throw new Error(`apt-get update failed: ${u.stderr.slice(-300)}`)
    r = await runCommand('apt-get', ['install', '-y', '--no-install-recommends', 'redis-server'], 300_000, { env })
  }
  const bin = findRedis()
  if (r.code !== 0 || bin == null) throw new Error(`could not install redis-server: ${r.stderr.slice(-300)}`)
  return { bin, installed: true }
}

export async function startRedis (scope: Scope, bin: string): Promise<{ port: number, version: string, pid: number }> {
  const port = await freePort()
  const dir = await tempDir(scope, 'redis')
  const p = scope.spawn('redis-server', bin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no', '--loglevel', 'warning'])
  const deadline = Date.now() + 15_000
  for (;;) {
    if (p.exit != null) throw new Error(`redis-server exited: ${p.stderrTail.join(' | ')}`)
    const pong = await ping(port)
    if (pong) break
    if (Date.now() > deadline) throw new Error('redis-server did not answer PING within 15 s')
    await sleep(100)
  }
  const v = await runCommand(bin, ['--version'], 10_000)
  return { port, version: /v=(\S+)/.exec(v.stdout)?.[1] ?? 'unknown', pid: p.pid }
}

async function ping (port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const s = createConnection({ host: '127.0.0.1', port })
    const done = (ok: boolean): void => { s.destroy(); resolve(ok) }
    s.setTimeout(1000, () => { done(false) })
    s.once('error', () => { done(false) })
    s.once('connect', () => { s.write('PING\r\n') })
    s.once('data', (d) => { done(d.toString().startsWith('+PONG')) })
  })
}
