// The arm64 environment the tests share: scripts/arm64-env.sh prepares qemu-user, an arm64 sysroot, arm64
// Node and arm64 node_modules (in .cache/arm64, or $SWARM_ARM64_DIR), and writes env.json naming them. Where
// it cannot be had (no network for the downloads, not an x86_64 Linux host), prepare() says why instead.
import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = fileURLToPath(new URL('../..', import.meta.url))
export const ENV_TIMEOUT = 8 * 60_000

export interface Env { qemu: string; sysroot: string; node: string; project: string }
export interface Done { code: number | null; signal: string | null; stdout: string; stderr: string; timedOut: boolean }

export const running = new Set<number>()

/** Ends a child's whole process group (apt-get, npm and qemu under it too); quiet if it is gone already. */
export function endGroup (pid: number): void {
  try { process.kill(-pid, 'SIGKILL') } catch {}
  running.delete(pid)
}

// Each child leads a process group of its own, so a timeout or the end of the file ends all it started.
export function run (cmd: string, args: string[], cwd: string, timeout: number): Promise<Done> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
    const pid = child.pid
    if (pid === undefined) return child.once('error', reject)
    running.add(pid)
    let stdout = ''
    let stderr = ''
    let timedOut = false
    child.stdout.on('data', d => { stdout += d })
    child.stderr.on('data', d => { stderr += d })
    const timer = setTimeout(() => { timedOut = true; endGroup(pid) }, timeout)
    child.once('close', (code, signal) => {
      clearTimeout(timer)
      endGroup(pid)
      resolve({ code, signal, stdout, stderr, timedOut })
    })
  })
}

/** The script's own summary line, else the last line it printed. */
function summary (out: string): string {
  const lines = out.trim().split('\n')
  return lines.findLast(l => l.startsWith('arm64-env:')) ?? lines.at(-1) ?? ''
}

export async function prepare (): Promise<Env | string> {
  if (process.platform !== 'linux' || process.arch !== 'x64') return `the host is ${process.platform}/${process.arch}; the arm64 recipe needs x86_64 Linux`
  const r = await run('bash', [join(ROOT, 'scripts/arm64-env.sh')], ROOT, ENV_TIMEOUT)
  if (r.timedOut) return `scripts/arm64-env.sh did not finish within ${ENV_TIMEOUT / 60_000} minutes`
  if (r.code !== 0) return summary(r.stdout + '\n' + r.stderr) || `scripts/arm64-env.sh exited with ${r.code ?? r.signal}`
  const file = join(process.env.SWARM_ARM64_DIR ?? join(ROOT, '.cache/arm64'), 'env.json')
  if (!existsSync(file)) return `scripts/arm64-env.sh succeeded but wrote no ${file}`
  return JSON.parse(readFileSync(file, 'utf8')) as Env
}

