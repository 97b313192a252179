// Swarm peers as separate processes (`swarm start --log-json`), their JSON log events, and an
// in-process client to submit jobs to them.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { appendFileSync, mkdirSync, readFileSync, statSync } from 'node:fs'
import { connectClient, type SwarmClient } from '../../src/node/client.ts'
import { parsePipeline, type OutputFormat } from '../../src/ops/index.ts'
import type { JobOutcome } from '../../src/transfer/job-protocol.ts'
import { runSubmit } from '../../src/ui-cli/job-session.ts'
import type { JobEvent } from '../../src/transfer/messages.ts'
import { freePort, NODE, SWARM_BIN, type Proc, type Scope } from './proc.ts'

export interface LogEvent {
  event?: string
  /** ms since the epoch, from the log line's own timestamp. */
  t: number
  msg?: string
  [k: string]: unknown
}

export interface PeerProc {
  name: string
  proc: Proc
  pid: number
  peerId: string
  /** /ip4/127.0.0.1/tcp/<port>/p2p/<peerId> */
  addr: string
  dataDir: string
  events: LogEvent[]
  /** Resolves with the first event (already logged or future) that matches, or rejects after timeoutMs. */
  waitEvent: (pred: (e: LogEvent) => boolean, timeoutMs: number, what?: string) => Promise<LogEvent>
  /** PeerIds this peer currently counts as members (joined and not left). */
  members: () => Set<string>
  /** The master this peer last announced, or undefined before any. */
  master: () => string | null | undefined
}

export interface PeerStartOptions {
  name: string
  bootstrap?: string[]
  slots?: number
  extraArgs?: string[]
  /** Parent for the data dir (a fresh temp dir under it, removed with the scope). */
  tmpRoot?: string
  /** The peer process's environment (default: the bench's), e.g. NODE_OPTIONS=--cpu-prof to profile it. */
  env?: NodeJS.ProcessEnv
}

/** A temp dir removed when the scope closes. */
export async function tempDir (scope: Scope, prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `swarm-bench-${prefix}-`))
  scope.defer(`remove ${dir}`, async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

export async function startPeer (scope: Scope, o: PeerStartOptions): Promise<PeerProc> {
  const dataDir = o.tmpRoot != null ? await mkdtemp(join(o.tmpRoot, `${o.name}-`)) : await tempDir(scope, o.name)
  const port = await freePort()
  const args = [SWARM_BIN, 'start', '--no-mdns', '--listen', `/ip4/127.0.0.1/tcp/${port}`, '--data-dir', dataDir,
    '--log-json', '--slots', String(o.slots ?? 1), '--name', o.name, ...(o.extraArgs ?? [])]
  for (const b of o.bootstrap ?? []) args.push('--peer', b)
  const proc = scope.spawn(o.name, NODE, args, { env: o.env })
  const events: LogEvent[] = []
  const waiters = new Set<{ pred: (e: LogEvent) => boolean, resolve: (e: LogEvent) => void }>()
  const logDir = process.env.BENCH_LOG_DIR
  if (logDir != null && logDir !== '') {
    // Debugging: every peer's log lines, as they come, in <BENCH_LOG_DIR>/<name>.log.
    mkdirSync(logDir, { recursive: true })
    const file = join(logDir, `${o.name}.log`)
    proc.onLine((line) => { appendFileSync(file, `${line}\n`) })
  }
  proc.onLine((line) => {
    if (!line.startsWith('{')) return
    let raw: Record<string, unknown>
    try { raw = JSON.parse(line) as Record<string, unknown> } catch { return }
    const e: LogEvent = { ...raw, t: typeof raw.time === 'string' ? Date.parse(raw.time) : Date.now() }
    events.push(e)
    for (const w of [...waiters]) if (w.pred(e)) { waiters.delete(w); w.resolve(e) }
  })
  const waitEvent = async (pred: (e: LogEvent) => boolean, timeoutMs: number, what = 'an event'): Promise<LogEvent> => {
    const found = events.find(pred)
    if (found != null) return found
    return await new Promise<LogEvent>((resolve, reject) => {
      const w = { pred, resolve: (e: LogEvent) => { clearTimeout(timer); resolve(e) } }
      const timer = setTimeout(() => {
        waiters.delete(w)
        reject(new Error(`${o.name}: no ${what} within ${timeoutMs} ms${proc.exit != null ? ` (exited: ${JSON.stringify(proc.exit)})` : ''}; stderr: ${proc.stderrTail.slice(-5).join(' | ')}`))
      }, timeoutMs)
      waiters.add(w)
      void proc.exited.then((x) => {
        if (!waiters.has(w)) return
        waiters.delete(w)
        clearTimeout(timer)
        reject(new Error(`${o.name} exited (${JSON.stringify(x)}) before ${what}; stderr: ${proc.stderrTail.slice(-5).join(' | ')}`))
      })
    })
  }
  const started = await waitEvent(e => e.event === 'started', 30_000, '"started" event')
  const peerId = String(started.peerId)
  return {
    name: o.name,
    proc,
    pid: proc.pid,
    peerId,
    addr: `/ip4/127.0.0.1/tcp/${port}/p2p/${peerId}`,
    dataDir,
    events,
    waitEvent,
    members: () => {
      const m = new Set<string>()
      for (const e of events) {
        if (e.event === 'peer-joined') m.add(String(e.peerId))
        else if (e.event === 'peer-left') m.delete(String(e.peerId))
      }
      return m
    },
    master: () => {
      for (let i = events.length - 1; i >= 0; i--) if (events[i].event === 'master') return (events[i].master as string | null) ?? null
      return undefined
    }
  }
}

/** Waits until every peer counts all the others as members and all follow the same master. */
export async function waitFormed (peers: PeerProc[], timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const masters = new Set(peers.map(p => p.master()))
    const full = peers.every(p => peers.every(q => q === p || p.members().has(q.peerId)))
    const m = [...masters][0]
    if (full && masters.size === 1 && m != null) return m
    if (Date.now() > deadline) {
      throw new Error(`swarm of ${peers.length} not formed within ${timeoutMs} ms: members ${peers.map(p => p.members().size).join(',')}, masters ${[...masters].map(x => x?.slice(-6) ?? String(x)).join(',')}`)
    }
    for (const p of peers) if (p.proc.exit != null) throw new Error(`${p.name} exited: ${JSON.stringify(p.proc.exit)}; ${p.proc.stderrTail.slice(-5).join(' | ')}`)
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}

/**
 * n peers: the first starts alone and becomes master (after its 1.5 s listening grace), then the others
 * join it with --peer. Returns them with the master first.
 */
export async function startSwarm (scope: Scope, n: number, o: { prefix: string, slots?: number, extraArgs?: string[], env?: NodeJS.ProcessEnv }): Promise<PeerProc[]> {
  const root = await tempDir(scope, o.prefix)
  const first = await startPeer(scope, { name: `${o.prefix}-0`, slots: o.slots, extraArgs: o.extraArgs, tmpRoot: root, env: o.env })
  await first.waitEvent(e => e.event === 'master' && e.self === true, 30_000, 'election as master')
  const rest = await Promise.all(Array.from({ length: n - 1 }, async (_, i) =>
    await startPeer(scope, { name: `${o.prefix}-${i + 1}`, slots: o.slots, extraArgs: o.extraArgs, bootstrap: [first.addr], tmpRoot: root, env: o.env })))
  const peers = [first, ...rest]
  await waitFormed(peers, 30_000 + 3000 * n)
  return peers
}

/** A client node (not a member) that talks to the given peers; closed with the scope. */
export async function openClient (scope: Scope, addrs: string[]): Promise<SwarmClient> {
  const client = await connectClient({ peers: addrs })
  scope.defer('close client', async () => { await client.close() })
  return client
}

export interface Timed {
  outcome: JobOutcome
  /** All ms, from the start of the call. */
  totalMs: number
  acceptedMs: number
  /** When the last tile was reported done (progress done == total of the last phase). */
  tilesDoneMs: number
  tiles: number
  /** Times the client had to find a new master during the job. */
  retries: number
}

/**
 * Submits a file and follows the job to its result, with timings of its stages. Follows the job across
 * a change of master, as `swarm submit` does (runSubmit); `retries` counts those changes.
 */
export async function submitTimed (client: SwarmClient, path: string, ops: string[], o: { format?: OutputFormat, tileSize?: number, timeoutMs?: number, onStage?: (stage: 'accepted' | 'tilesDone') => void, cache?: boolean } = {}): Promise<Timed> {
  const t0 = performance.now()
  let acceptedMs = NaN
  let tilesDoneMs = NaN
  let tiles = 0
  let retries = 0
  const bytes = statSync(path).size
  const run = runSubmit({
    // The benches measure computing: the same input submitted again would be answered by the result cache.
    path, name: path.split('/').pop()!, bytes, pipeline: parsePipeline(ops), format: o.format ?? 'png', tileSize: o.tileSize, watch: true, noCache: o.cache !== true
  }, {
    node: client.node,
    targets: client.targets,
    masterTimeoutMs: 20_000,
    onRetry: () => { retries++ },
    onEvent: (e: JobEvent) => {
      if (e.type === 'accepted') { acceptedMs = performance.now() - t0; tiles = e.tiles; o.onStage?.('accepted') }
      if (e.type === 'progress' && e.total > 0 && e.done === e.total && e.phase === e.phaseCount - 1 && Number.isNaN(tilesDoneMs)) { tilesDoneMs = performance.now() - t0; o.onStage?.('tilesDone') }
    }
  })
  let timer: NodeJS.Timeout | undefined
  const outcome = await Promise.race([
    run,
    new Promise<never>((_resolve, reject) => { timer = setTimeout(() => { reject(new Error(`job not done within ${o.timeoutMs ?? 600_000} ms`)) }, o.timeoutMs ?? 600_000) })
  ]).finally(() => { clearTimeout(timer) })
  if (outcome.failure != null) throw new Error(`job failed: ${outcome.failure}`)
  return { outcome, totalMs: performance.now() - t0, acceptedMs, tilesDoneMs, tiles, retries }
}

/** The distinct master epochs the peers have announced (more than one = the master changed). */
export function epochsSeen (peers: PeerProc[]): number[] {
  const s = new Set<number>()
  for (const p of peers) for (const e of p.events) if (e.event === 'master' && e.master != null) s.add(Number(e.epoch))
  return [...s].sort((a, b) => a - b)
}

/** Peak resident set (VmHWM) and current RSS of a process, in bytes. */
export function memoryOf (pid: number): { hwm: number, rss: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? NaN) * 1024
  return { hwm: kb('VmHWM'), rss: kb('VmRSS') }
}
