// bin/swarm.js under a system Node older than 22 hands over to the Node 22 that npm brought. A signal
// sent to the wrapper alone (systemd's stop, `kill`) must end the peer too: it used to end the wrapper
// and leave the peer running, orphaned, holding its port and data dir.
import { execFileSync, spawn } from 'node:child_process'
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { describe, expect, it } from 'vitest'

const bin = join(import.meta.dirname, '../../bin/swarm.js')

/** A `node` on PATH older than 22 (CI's system Node 20), outside node_modules; undefined if none. */
function olderNode (): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir.includes('node_modules')) continue
    const node = join(dir, 'node')
    if (!existsSync(node)) continue
    const version = execFileSync(node, ['--version'], { encoding: 'utf8', timeout: 10_000 }).trim()
    if (Number(version.slice(1).split('.')[0]) < 22) return node
  }
  return undefined
}

/** Pids whose parent is `pid`, from /proc. */
function childrenOf (pid: number): number[] {
  const out: number[] = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      // /proc/<pid>/stat: "pid (comm) state ppid ..."; comm may hold spaces, so split after its ')'.
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8')
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(name))
    } catch { /* gone meanwhile */ }
  }
  return out
}

const alive = (pid: number): boolean => {
  try { process.kill(pid, 0); return true } catch { return false }
}

async function until (what: string, ok: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}

const older = olderNode()

describe('bin/swarm.js hand-over to Node 22', () => {
  it.skipIf(older == null)('SIGTERM to the wrapper ends the Node 22 peer it started, and the wrapper exits', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'swarm-wrapper-'))
    // Loopback, no multicast, a scratch data dir.
    const wrapper = spawn(older!, [bin, 'start', '--no-mdns', '--listen', '/ip4/127.0.0.1/tcp/0', '--data-dir', dir, '--name', 'wrapped'], {
      stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SWARM_KEY: '' }
    })
    let out = ''
    wrapper.stdout.on('data', (d: Buffer) => { out += d.toString() })
    wrapper.stderr.on('data', (d: Buffer) => { out += d.toString() })
    const exited = new Promise<void>(resolve => { wrapper.on('exit', () => { resolve() }) })
    let peer: number | undefined
    try {
      await until('the peer to lead its swarm of one', () => /MASTER/.test(out), 60_000)
      peer = childrenOf(wrapper.pid!)[0]
      expect(peer, out).toBeDefined()
      wrapper.kill('SIGTERM')
      await until('the peer to exit', () => !alive(peer!), 30_000)
      await exited
      expect(out).toMatch(/SIGTERM: leaving the swarm/)
    } finally {
      if (peer != null && alive(peer)) process.kill(peer, 'SIGKILL')
      wrapper.kill('SIGKILL')
      await rm(dir, { recursive: true, force: true })
    }
  }, 120_000)

  // Under Node 22 too, `swarm start` is started again by the wrapper (with MALLOC_ARENA_MAX=2): a test's
  // kill -9 of the peer it spawned reaches the wrapper, which cannot pass SIGKILL on.
  it('SIGKILL to the wrapper ends the peer it started too (no peer left running unseen)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'swarm-wrapper-'))
    const env: NodeJS.ProcessEnv = { ...process.env, SWARM_KEY: '' }
    delete env.MALLOC_ARENA_MAX
    const wrapper = spawn(older ?? process.execPath, [bin, 'start', '--no-mdns', '--listen', '/ip4/127.0.0.1/tcp/0', '--data-dir', dir, '--name', 'wrapped9'], {
      stdio: ['ignore', 'pipe', 'pipe'], env
    })
    let out = ''
    wrapper.stdout.on('data', (d: Buffer) => { out += d.toString() })
    wrapper.stderr.on('data', (d: Buffer) => { out += d.toString() })
    let peer: number | undefined
    try {
      await until('the peer to lead its swarm of one', () => /MASTER/.test(out), 60_000)
      peer = childrenOf(wrapper.pid!)[0]
      expect(peer, out).toBeDefined()
      expect(readFileSync(`/proc/${peer!}/environ`, 'utf8').split('\0')).toContain('MALLOC_ARENA_MAX=2')
      wrapper.kill('SIGKILL')
      await until('the peer to exit', () => !alive(peer!), 30_000)
    } finally {
      if (peer != null && alive(peer)) process.kill(peer, 'SIGKILL')
      wrapper.kill('SIGKILL')
      await rm(dir, { recursive: true, force: true })
    }
  }, 120_000)
})
