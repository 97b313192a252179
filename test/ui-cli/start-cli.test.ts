// `swarm start` as a person reads it: addresses refused by the option parser before the data dir exists,
// each default said once in --help, and a start log in plain words (who this peer is, who joins, who is
// master, what to do next, private or open), without colour codes in a pipe. Peers on 127.0.0.1 only,
// without multicast, each ended by the test.
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { generateSwarmKey } from '../../src/node/swarm-key.ts'
import { useColour } from '../../src/ui-cli/logger.ts'
import { tableStyle } from '../../src/ui-cli/actions/jobs.ts'

const run = promisify(execFile)
const BIN = join(import.meta.dirname, '../../bin/swarm.js')
// FORCE_COLOR: the colour libraries would colour a pipe with it; the log must not (not a terminal).
const ENV: NodeJS.ProcessEnv = { ...process.env, SWARM_KEY: '', FORCE_COLOR: '1' }
delete ENV.SWARM_DATA_DIR
delete ENV.NO_COLOR

async function swarm (args: string[]): Promise<{ code: number, stdout: string, stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], { timeout: 30_000, env: ENV })
    return { code: 0, stdout, stderr }
  } catch (err) {
    const e = err as { code?: number, stdout?: string, stderr?: string }
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' }
  }
}

/** A `swarm start` process with its plain-text log (stdout, a pipe), ended by stop(). */
class Peer {
  out = ''
  readonly proc: ChildProcess
  constructor (args: string[]) {
    this.proc = spawn(process.execPath, [BIN, 'start', '--no-mdns', '--listen', '/ip4/127.0.0.1/tcp/0', '--dashboard', '127.0.0.1:0', '--slots', '1', '--heartbeat-ms', '200', '--dead-after-ms', '1000', ...args], { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: ENV })
    this.proc.stdout!.on('data', (d: Buffer) => { this.out += d.toString() })
    this.proc.stderr!.on('data', (d: Buffer) => { this.out += d.toString() })
  }

  async waitFor (re: RegExp, ms = 20_000): Promise<RegExpExecArray> {
    for (let i = 0; i < ms / 100; i++) {
      const m = re.exec(this.out)
      if (m != null) return m
      if (this.proc.exitCode != null) break
      await new Promise(resolve => setTimeout(resolve, 100))
    }
    throw new Error(`no line matching ${String(re)} within ${ms} ms:\n${this.out}`)
  }

  async stop (): Promise<void> {
    if (this.proc.exitCode != null || this.proc.pid == null) return
    const exited = new Promise<void>(resolve => { this.proc.once('exit', () => { resolve() }) })
    try { process.kill(-this.proc.pid, 'SIGTERM') } catch { return }
    const timer = setTimeout(() => { try { process.kill(-this.proc.pid!, 'SIGKILL') } catch {} }, 10_000)
    await exited
    clearTimeout(timer)
  }
}

let root: string
const started: Peer[] = []
beforeAll(async () => { root = await mkdtemp(join(tmpdir(), 'swarm-start-cli-')) })
afterEach(async () => { await Promise.all(started.splice(0).map(async p => { await p.stop() })) })
afterAll(async () => { await rm(root, { recursive: true, force: true }) })

describe('swarm start, as read', () => {
  it('--listen or --peer that is not a multiaddr: exit 1, the option named, and no data dir made', async () => {
    for (const [flag, value, example] of [['--listen', 'garbage', '/ip4/0.0.0.0/tcp/4001'], ['--listen', '/ip4/999.1.1.1/tcp/0', '/ip4/0.0.0.0/tcp/4001'], ['--peer', 'nope', '/ip4/192.168.1.20/tcp/4001/p2p/12D3Koo...']]) {
      const dir = join(root, `never-${flag.slice(2)}-${value.length}`)
      const args = ['start', '--no-mdns', '--data-dir', dir, ...(flag === '--listen' ? [] : ['--listen', '/ip4/127.0.0.1/tcp/0']), flag, value]
      const r = await swarm(args)
      expect(r.code, r.stderr).toBe(1)
      expect(r.stderr).toContain(`${flag} must be a multiaddr such as ${example}, got "${value}"`)
      expect(r.stderr).not.toContain('String multiaddr must start with')
      expect(existsSync(dir), `${flag} ${value}: data dir`).toBe(false)
    }
  })

  it('colours only on a terminal without NO_COLOR: the log and the tables', () => {
    expect(useColour({ isTTY: true }, {})).toBe(true)
    expect(useColour({ isTTY: true }, { NO_COLOR: '1' })).toBe(false)
    expect(useColour({ isTTY: false }, {})).toBe(false)
    expect(useColour({}, {})).toBe(false)
    // cli-table3 colours its header red and its border grey unless told not to.
    expect(tableStyle({ isTTY: true }, {})).toEqual({})
    expect(tableStyle({ isTTY: true }, { NO_COLOR: '1' })).toEqual({ style: { head: [], border: [] } })
    expect(tableStyle({ isTTY: false }, {})).toEqual({ style: { head: [], border: [] } })
  })

  it('--help says each default once', async () => {
    const r = await swarm(['start', '--help'])
    expect(r.code).toBe(0)
    const help = r.stdout.replace(/\s+/g, ' ')
    const dataDir = /--data-dir <dir> (.*?) --port/.exec(help)?.[1] ?? ''
    expect(dataDir.match(/default/g), dataDir).toHaveLength(1)
    const port = /--port <n> (.*?) --listen/.exec(help)?.[1] ?? ''
    expect(port.match(/default/g), port).toHaveLength(1)
  })

  it('a keyed swarm says it is private; who this peer is, who joins, who is master, and what to do next, in a pipe without colours', async () => {
    const keyFile = join(root, 'swarm.key')
    await writeFile(keyFile, generateSwarmKey())
    const a = new Peer(['--data-dir', join(root, 'ka'), '--key', keyFile, '--name', 'keyed-a'])
    started.push(a)
    await a.waitFor(/private swarm: only devices with this key can join/)
    await a.waitFor(/this peer is keyed-a \(PeerId 12D3\w+\)/)
    await a.waitFor(/this peer is master at epoch \d+: 0 job\(s\) in the queue/)
    await a.waitFor(/ready: submit from any device with `swarm submit photo\.jpg --op grayscale`; dashboard on http:\/\/127\.0\.0\.1:\d+/)
    const addr = (await a.waitFor(/listening on (\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/\w+)/))[1]
    const b = new Peer(['--data-dir', join(root, 'kb'), '--key', keyFile, '--name', 'keyed-b', '--peer', addr])
    started.push(b)
    await b.waitFor(/\+ keyed-a \(…\w+\) joined/)
    await b.waitFor(/master is keyed-a \(…\w+\) at epoch \d+/)
    await b.waitFor(/ready: submit from any device/)
    await a.waitFor(/\+ keyed-b \(…\w+\) joined/)
    for (const p of [a, b]) {
      expect(p.out).not.toContain('NO SWARM KEY')
      expect(p.out, 'no colour codes in a pipe').not.toContain('\u001b[')
      expect(p.out.match(/ready:/g), 'ready said once').toHaveLength(1)
    }
    await b.stop()
    await a.waitFor(/- keyed-b \(…\w+\) left/)
  })

  it('an open swarm says so; --log-json keeps its events and adds the name and ready', async () => {
    const o = new Peer(['--data-dir', join(root, 'open'), '--name', 'open-a', '--log-json'])
    started.push(o)
    await o.waitFor(/"event":"ready"/)
    const events = o.out.split('\n').flatMap(l => { try { return [JSON.parse(l) as Record<string, unknown>] } catch { return [] } })
    expect(events.find(e => e.event === 'open-swarm')?.msg).toMatch(/NO SWARM KEY: this swarm is OPEN/)
    expect(events.find(e => e.event === 'private-swarm')).toBeUndefined()
    const s = events.find(e => e.event === 'started')!
    expect(s).toMatchObject({ name: 'open-a', private: false })
    expect(typeof s.peerId).toBe('string')
    expect(events.find(e => e.event === 'master')).toMatchObject({ self: true, master: s.peerId })
    expect(events.find(e => e.event === 'queue')?.msg).toMatch(/master at epoch \d+/)
    expect(events.find(e => e.event === 'ready')).toMatchObject({ master: s.peerId })
    expect(String(events.find(e => e.event === 'ready')?.dashboard)).toMatch(/^http:\/\/127\.0\.0\.1:\d+/)
  })
})
