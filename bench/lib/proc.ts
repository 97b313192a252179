// Child processes with guaranteed cleanup. Every process the bench starts is registered here and is
// stopped by the scope that started it (a case's `finally`), and, as a last resort, killed
// synchronously when the bench exits for any reason (normal end, uncaught error, SIGINT, SIGTERM).
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
export const SWARM_BIN = join(ROOT, 'bin', 'swarm.js')
/** The Node the bench runs on (Node 22 from node_modules when started through npm or node_modules/.bin/node). */
export const NODE = process.execPath

export interface Exit { code: number | null, signal: NodeJS.Signals | null }

export interface Proc {
  name: string
  pid: number
  child: ChildProcess
  /** The last lines of stderr (for error messages). */
  stderrTail: string[]
  /** Resolves when the process has exited. */
  exited: Promise<Exit>
  exit: Exit | null
  /** Called with every stdout line. */
  onLine: (fn: (line: string) => void) => void
}

const live = new Set<Proc>()

export interface SpawnOptions {
  cwd?: string
  env?: NodeJS.ProcessEnv
}

export function startProcess (name: string, cmd: string, args: string[], opts: SpawnOptions = {}): Proc {
  const child = spawn(cmd, args, { cwd: opts.cwd ?? ROOT, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] })
  if (child.pid == null) {
    // A missing program (ENOENT) is reported by an 'error' event after this returns: without a listener
    // it would crash the whole bench instead of failing this case with the sentence below.
    child.once('error', () => {})
    throw new Error(`${name}: could not start ${cmd}`)
  }
  const listeners: Array<(line: string) => void> = []
  const stderrTail: string[] = []
  let outBuf = ''
  child.stdout!.setEncoding('utf8')
  child.stdout!.on('data', (chunk: string) => {
    outBuf += chunk
    let i: number
    while ((i = outBuf.indexOf('\n')) >= 0) {
      const line = outBuf.slice(0, i)
      outBuf = outBuf.slice(i + 1)
      for (const fn of listeners) fn(line)
    }
  })
  let errBuf = ''
  child.stderr!.setEncoding('utf8')
  child.stderr!.on('data', (chunk: string) => {
    errBuf += chunk
    const lines = errBuf.split('\n')
    errBuf = lines.pop() ?? ''
    stderrTail.push(...lines.filter(l => l.trim() !== ''))
    if (stderrTail.length > 40) stderrTail.splice(0, stderrTail.length - 40)
  })
  const proc: Proc = {
    name,
    pid: child.pid,
    child,
    stderrTail,
    exit: null,
    exited: new Promise<Exit>((resolve) => {
      child.once('exit', (code, signal) => {
        proc.exit = { code, signal }
        live.delete(proc)
        resolve(proc.exit)
      })
      child.once('error', () => {
        proc.exit ??= { code: -1, signal: null }
        live.delete(proc)
        resolve(proc.exit)
      })
    }),
    onLine: (fn) => { listeners.push(fn) }
  }
  live.add(proc)
  return proc
}

/** SIGTERM (graceful), then SIGKILL after graceMs. Resolves once the process is gone. */
export async function stopProcess (p: Proc, graceMs = 3000): Promise<void> {
  if (p.exit != null) return
  try { p.child.kill('SIGTERM') } catch {}
  const timer = setTimeout(() => { try { p.child.kill('SIGKILL') } catch {} }, graceMs)
  await p.exited
  clearTimeout(timer)
}

export async function killProcess (p: Proc): Promise<void> {
  if (p.exit != null) return
  try { p.child.kill('SIGKILL') } catch {}
  await p.exited
}

/** CPU time (ms) of this process's children that have exited and been reaped (cutime + cstime). */
export function reapedChildrenCpuMs (): number {
  const s = readFileSync('/proc/self/stat', 'utf8')
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ').map(Number)
  return (f[13] + f[14]) * 10 // USER_HZ = 100
}

/**
 * Runs a command to completion, with a time bound; resolves with its output, exit, wall time and CPU
 * time (from the reaped-children counters: exact when no other child exits meanwhile).
 */
export async function runCommand (cmd: string, args: string[], timeoutMs: number, opts: SpawnOptions = {}): Promise<{ code: number | null, signal: NodeJS.Signals | null, stdout: string, stderr: string, ms: number, cpuMs: number }> {
  const c0 = reapedChildrenCpuMs()
  const t0 = performance.now()
  const p = startProcess(`${cmd} ${args[0] ?? ''}`, cmd, args, opts)
  let stdout = ''
  p.onLine((l) => { stdout += `${l}\n` })
  const timer = setTimeout(() => { try { p.child.kill('SIGKILL') } catch {} }, timeoutMs)
  const exit = await p.exited
  clearTimeout(timer)
  const ms = performance.now() - t0
  return { ...exit, stdout, stderr: p.stderrTail.join('\n'), ms, cpuMs: reapedChildrenCpuMs() - c0 }
}

export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = createServer()
    srv.unref()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address()
      const port = typeof addr === 'object' && addr != null ? addr.port : 0
      srv.close(() => { resolve(port) })
    })
  })
}

export const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

/** A synchronous sleep, for exit handlers (no event loop there). */
export function sleepSync (ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)
}

/** Kills every process still running, synchronously (exit handler). */
export function killAllSync (): void {
  for (const p of live) {
    try { p.child.kill('SIGKILL') } catch {}
  }
}

export function liveProcesses (): Proc[] { return [...live] }

/**
 * A set of resources with their cleanups: processes, temp dirs, cgroups, servers. close() runs the
 * cleanups in reverse order, each bounded in time, and never throws. Open scopes are closed on SIGINT.
 */
export class Scope {
  readonly name: string
  private readonly cleanups: Array<{ what: string, fn: () => Promise<void> | void }> = []
  private closed = false
  static readonly open = new Set<Scope>()

  constructor (name: string) {
    this.name = name
    Scope.open.add(this)
  }

  defer (what: string, fn: () => Promise<void> | void): void {
    if (this.closed) { void Promise.resolve().then(fn).catch(() => {}); return }
    this.cleanups.push({ what, fn })
  }

  spawn (name: string, cmd: string, args: string[], opts: SpawnOptions = {}): Proc {
    const p = startProcess(name, cmd, args, opts)
    this.defer(`stop ${name}`, async () => { await stopProcess(p) })
    return p
  }

  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    Scope.open.delete(this)
    for (const c of this.cleanups.reverse()) {
      let timer: NodeJS.Timeout | undefined
      try {
        await Promise.race([
          Promise.resolve().then(c.fn),
          new Promise((_resolve, reject) => { timer = setTimeout(() => { reject(new Error('timed out')) }, 10_000) })
        ])
      } catch (err) {
        process.stderr.write(`bench: cleanup "${c.what}" of ${this.name} failed: ${(err as Error).message}\n`)
      } finally {
        clearTimeout(timer)
      }
    }
  }
}

const exitHooks: Array<() => void> = []
/** Synchronous last-resort cleanups run when the process exits (after processes are killed). */
export function onExitSync (fn: () => void): void { exitHooks.push(fn) }

let installed = false
export function installCleanupHandlers (): void {
  if (installed) return
  installed = true
  process.on('exit', () => {
    killAllSync()
    for (const fn of exitHooks) { try { fn() } catch {} }
  })
  const onSignal = (signal: NodeJS.Signals): void => {
    process.stderr.write(`\nbench: ${signal}: stopping every process and removing cgroups and temp dirs\n`)
    const all = [...Scope.open].map(async s => { await s.close() })
    const hard = setTimeout(() => { process.exit(130) }, 15_000)
    void Promise.allSettled(all).then(() => { clearTimeout(hard); process.exit(130) })
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  process.on('SIGHUP', onSignal)
}

/** Resolves when the process prints a stdout line containing `text`; rejects if it exits first or after timeoutMs. */
export async function waitForLine (p: Proc, text: string, timeoutMs: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`${p.name}: no "${text}" within ${timeoutMs} ms; ${p.stderrTail.slice(-5).join(' | ')}`)) }, timeoutMs)
    p.onLine((l) => { if (l.includes(text)) { clearTimeout(timer); resolve() } })
    void p.exited.then(() => { clearTimeout(timer); reject(new Error(`${p.name} exited: ${p.stderrTail.slice(-5).join(' | ')}`)) })
  })
}
