// `swarm start` processes on 127.0.0.1 for the dashboard tests: no multicast (--no-mdns, the peers are
// told of each other with --peer), JSON logs read as they come, each in its own process group so that a
// kill -9 takes the peer whole, and every one ended by stopAll().
import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'swarm.js')

export interface LogEvent { event?: string, [k: string]: unknown }

export class LocalPeer {
  readonly events: LogEvent[] = []
  readonly proc: ChildProcess
  readonly dataDir: string
  stderr = ''
  exited = false

  constructor (dataDir: string, args: string[]) {
    this.dataDir = dataDir
    this.proc = spawn(process.execPath, [BIN, 'start', '--no-mdns', '--listen', '/ip4/127.0.0.1/tcp/0', '--data-dir', dataDir, '--log-json', '--slots', '1', ...args], {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, SWARM_LOG_LEVEL: 'debug' }
    })
    let buf = ''
    this.proc.stdout!.on('data', (d: Buffer) => {
      buf += d.toString()
      let i
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i)
        buf = buf.slice(i + 1)
        try { this.events.push(JSON.parse(line) as LogEvent) } catch { /* not JSON */ }
      }
    })
    this.proc.stderr!.on('data', (d: Buffer) => { this.stderr = (this.stderr + d.toString()).slice(-20_000) })
    this.proc.on('exit', () => { this.exited = true })
  }

  find (event: string): LogEvent | undefined { return this.events.find(e => e.event === event) }
  peerId (): string | undefined { return this.find('started')?.peerId as string | undefined }
  addr (): string | undefined { return (this.find('started')?.addrs as string[] | undefined)?.[0] }
  url (): string | undefined { return this.find('dashboard')?.url as string | undefined }
  /** The master this peer last said it follows. */
  master (): string | undefined {
    const last = this.events.filter(e => e.event === 'master').at(-1)
    return last?.master == null ? undefined : String(last.master)
  }

  kill9 (): void {
    if (this.exited || this.proc.pid == null) return
    try { process.kill(-this.proc.pid, 'SIGKILL') } catch { /* gone */ }
  }

  async stop (): Promise<void> {
    if (this.exited || this.proc.pid == null) return
    const exited = new Promise<void>(resolve => { this.proc.once('exit', () => { resolve() }) })
    try { process.kill(-this.proc.pid, 'SIGTERM') } catch { return }
    const timer = setTimeout(() => { this.kill9() }, 10_000)
    await exited
    clearTimeout(timer)
  }
}

/** Polls cond every 100 ms until it holds or timeoutMs passes. */
export async function waitFor<T> (what: string, cond: () => T | undefined | null | false | Promise<T | undefined | null | false>, timeoutMs: number, debug: () => string = () => ''): Promise<T> {
  const start = Date.now()
  for (let i = 0; i < Math.ceil(timeoutMs / 100) + 1; i++) {
    const v = await cond()
    if (v != null && v !== false) return v
    if (Date.now() - start > timeoutMs) break
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${debug()}`)
}
