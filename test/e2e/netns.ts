// A LAN of network namespaces for end-to-end tests with real mDNS, made and removed by the test:
// a bridge in a namespace of its own, and one namespace per host joined to it by a veth pair, so
// nothing appears on (or leaves through) the machine's real interfaces.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/**
 * Removes the LAN when the test process ends in any way: normally, or interrupted (Ctrl-C, a CI
 * timeout's SIGTERM), which skips 'exit' handlers unless the signal is caught.
 */
export function cleanupOnExit (lan: NetnsLan | undefined): () => void {
  const cleanup = (): void => { lan?.teardown() }
  process.once('exit', cleanup)
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      cleanup()
      process.exit(130)
    })
  }
  return cleanup
}

export function canMakeNamespaces (): boolean {
  if (process.getuid?.() !== 0) return false
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

function ip (...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] })
}

export interface LogEvent { event?: string, [k: string]: unknown }

export class NetnsPeer {
  readonly events: LogEvent[] = []
  output = ''
  child?: ChildProcess
  readonly index: number
  readonly ns: string
  readonly hostVeth: string
  readonly dataDir: string
  constructor (index: number, ns: string, hostVeth: string, dataDir: string) {
    this.index = index
    this.ns = ns
    this.hostVeth = hostVeth
    this.dataDir = dataDir
  }

  get pid (): number | undefined { return this.child?.pid }
  get running (): boolean { return this.child != null && this.child.exitCode == null && this.child.signalCode == null }

  /** The master this peer last announced, from its JSON log. */
  lastMaster (): { master: string | null, epoch: number } | undefined {
    for (let i = this.events.length - 1; i >= 0; i--) {
      const e = this.events[i]
      if (e.event === 'master') return { master: e.master as string | null, epoch: e.epoch as number }
    }
    return undefined
  }

  peerId (): string | undefined {
    return this.events.find(e => e.event === 'started')?.peerId as string | undefined
  }
}

export class NetnsLan {
  readonly id = randomBytes(3).toString('hex')
  readonly bridgeNs = `swb-${this.id}`
  readonly peers: NetnsPeer[] = []
  readonly root = mkdtempSync(join(tmpdir(), 'swarm-netns-'))

  readonly hosts: number
  constructor (hosts: number) {
    this.hosts = hosts
  }

  setup (): void {
    ip('netns', 'add', this.bridgeNs)
    ip('-n', this.bridgeNs, 'link', 'add', 'br0', 'type', 'bridge')
    ip('-n', this.bridgeNs, 'link', 'set', 'br0', 'up')
    for (let i = 0; i < this.hosts; i++) {
      const ns = `swp-${this.id}-${i}`
      const hostVeth = `v${i}`
      ip('netns', 'add', ns)
      ip('-n', this.bridgeNs, 'link', 'add', hostVeth, 'type', 'veth', 'peer', 'name', `e${i}`)
      ip('-n', this.bridgeNs, 'link', 'set', `e${i}`, 'netns', ns)
      ip('-n', this.bridgeNs, 'link', 'set', hostVeth, 'master', 'br0')
      ip('-n', this.bridgeNs, 'link', 'set', hostVeth, 'up')
      ip('-n', ns, 'link', 'set', 'lo', 'up')
      ip('-n', ns, 'link', 'set', `e${i}`, 'name', 'eth0')
      ip('-n', ns, 'addr', 'add', `10.231.0.${i + 1}/24`, 'dev', 'eth0')
      ip('-n', ns, 'link', 'set', 'eth0', 'up', 'multicast', 'on')
      // With no default route, multicast sends fail unless told which interface to use.
      ip('-n', ns, 'route', 'add', '224.0.0.0/4', 'dev', 'eth0')
      this.peers.push(new NetnsPeer(i, ns, hostVeth, join(this.root, `peer-${i}`)))
    }
  }

  /**
   * `ip netns exec` execs the command, so the child's PID is the peer's own: kill -9 hits the peer.
   * `runner` runs the peer another way (arm64 node under qemu-user, from a copy of the sources).
   */
  start (p: NetnsPeer, args: string[] = [], env: NodeJS.ProcessEnv = {}, runner?: { command: string[], bin: string, cwd: string }): void {
    p.events.length = 0
    const bin = runner?.bin ?? join(import.meta.dirname, '..', '..', 'bin', 'swarm.js')
    const command = runner?.command ?? [process.execPath]
    const child = spawn('ip', ['netns', 'exec', p.ns, ...command, bin, 'start', '--log-json', '--data-dir', p.dataDir, '--port', '4001', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env }, ...(runner != null ? { cwd: runner.cwd } : {}) })
    p.child = child
    let buf = ''
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString()
      p.output += d.toString()
      let nl: number
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl)
        buf = buf.slice(nl + 1)
        try { p.events.push(JSON.parse(line) as LogEvent) } catch { /* not a log line */ }
      }
    })
    child.stderr.on('data', (d: Buffer) => { p.output += d.toString() })
  }

  /** Runs a `swarm` command in a host's namespace to its end (bounded by timeoutMs). */
  async run (p: NetnsPeer, args: string[], timeoutMs: number): Promise<{ code: number | null, stdout: string, stderr: string }> {
    const bin = join(import.meta.dirname, '..', '..', 'bin', 'swarm.js')
    const child = spawn('ip', ['netns', 'exec', p.ns, process.execPath, bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    const timer = setTimeout(() => { child.kill('SIGKILL') }, timeoutMs)
    const code = await new Promise<number | null>(resolve => { child.on('close', resolve) })
    clearTimeout(timer)
    return { code, stdout, stderr }
  }

  kill9 (p: NetnsPeer): void {
    if (p.running) p.child!.kill('SIGKILL')
  }

  /** Unplugs a host's cable: its bridge port goes down, no socket is closed, nothing is said. */
  cut (p: NetnsPeer): void { ip('-n', this.bridgeNs, 'link', 'set', p.hostVeth, 'down') }
  plug (p: NetnsPeer): void { ip('-n', this.bridgeNs, 'link', 'set', p.hostVeth, 'up') }

  /** Kills every process left in the namespaces, then removes them; safe to call twice. */
  teardown (): void {
    for (const p of this.peers) this.kill9(p)
    for (const ns of [...this.peers.map(p => p.ns), this.bridgeNs]) {
      try {
        const pids = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).split(/\s+/).filter(Boolean)
        for (const pid of pids) { try { process.kill(Number(pid), 'SIGKILL') } catch { /* gone */ } }
      } catch { /* namespace already gone */ }
      try { ip('netns', 'delete', ns) } catch { /* already gone */ }
    }
    rmSync(this.root, { recursive: true, force: true })
  }
}

/** Polls cond every 50 ms until it holds or timeoutMs passes. */
export async function waitUntil<T> (what: string, cond: () => T | undefined | null | false, timeoutMs: number, debug: () => string = () => ''): Promise<T> {
  const start = Date.now()
  for (let i = 0; i < Math.ceil(timeoutMs / 50) + 1; i++) {
    const v = cond()
    if (v != null && v !== false) return v
    if (Date.now() - start > timeoutMs) break
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${debug()}`)
}
