// Busy-loop processes beside a test, one pinned to each of the first N cores (taskset where it exists):
// the overloaded machine that a busy Raspberry Pi or a shared lab PC is. Each ends by itself after
// `maxMs` and is killed by stop(), so a crashed test leaves nothing spinning.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { availableParallelism } from 'node:os'

export interface Hogs { count: number, stop: () => void }

/** SWARM_SIM_HOGS=N asks the sim suites to run beside N hogs. */
export function hogsFromEnv (): number {
  const n = Number(process.env.SWARM_SIM_HOGS ?? 0)
  return Number.isInteger(n) && n > 0 ? Math.min(n, 16) : 0
}

export function startHogs (count: number, maxMs: number): Hogs {
  const pin = spawnSync('taskset', ['--version']).status === 0
  const cores = availableParallelism()
  const loop = `const end = Date.now() + ${Math.floor(maxMs)}; while (Date.now() < end) {}`
  const procs: ChildProcess[] = []
  for (let i = 0; i < count; i++) {
    const args = ['-e', loop]
    const p = pin
      ? spawn('taskset', ['-c', String(i % cores), process.execPath, ...args], { stdio: 'ignore' })
      : spawn(process.execPath, args, { stdio: 'ignore' })
    procs.push(p)
  }
  const stop = (): void => { for (const p of procs) if (p.exitCode == null) p.kill('SIGKILL') }
  process.once('exit', stop)
  return { count, stop }
}
