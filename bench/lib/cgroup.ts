// CPU caps with the cgroup v1 `cpu` controller (cfs bandwidth): each capped process gets its own group
// with cpu.cfs_quota_us / cpu.cfs_period_us = its share of one CPU. (cgroup v2 cpu.max and systemd-run
// do not work on these machines; cgroup v1 does.) If no v1 hierarchy with the cpu controller is
// mounted, one is mounted for the bench and unmounted at the end. Needs root.
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { execFileSync } from 'node:child_process'
import { onExitSync, sleepSync } from './proc.ts'

export const CFS_PERIOD_US = 100_000

/** The mount point of a cgroup v1 hierarchy that has the `cpu` controller, if any. */
export function findCpuV1Root (): string | null {
  let mounts = ''
  try { mounts = readFileSync('/proc/mounts', 'utf8') } catch { return null }
  for (const line of mounts.split('\n')) {
    const [, dir, type, options] = line.split(' ')
    if (type !== 'cgroup' || options == null) continue
    if (options.split(',').includes('cpu') && existsSync(join(dir, 'cpu.cfs_quota_us'))) return dir
  }
  return null
}

export interface CpuGroupStat { nrPeriods: number, nrThrottled: number, throttledMs: number }

/** One parent group per bench run, one child group per capped process. */
export class CpuGroups {
  readonly root: string
  readonly parent: string
  private readonly mountedHere: string | null
  private readonly groups: string[] = []
  private removed = false

  private constructor (root: string, mountedHere: string | null, label: string) {
    this.root = root
    this.mountedHere = mountedHere
    this.parent = join(root, `swarm-bench-${process.pid}-${label}`)
    mkdirSync(this.parent)
    onExitSync(() => { this.removeSync() })
  }

  /**
   * Finds (or mounts) the v1 cpu controller and makes this run's parent group, with `shares` as its
   * cpu.shares (its weight against the other processes of the machine, 1024 each). Throws with the
   * reason if impossible.
   */
  static create (label: string, shares?: number): CpuGroups {
    let root = findCpuV1Root()
    let mounted: string | null = null
    if (root == null) {
      const dir = `/tmp/swarm-bench-cgroup-cpu-${process.pid}`
      mkdirSync(dir, { recursive: true })
      try {
        execFileSync('mount', ['-t', 'cgroup', '-o', 'cpu', 'cgroup', dir], { stdio: 'pipe' })
      } catch (err) {
        rmdirSync(dir)
        throw new Error(`no cgroup v1 cpu controller mounted, and mounting one failed (needs root, and the cpu controller not bound to cgroup v2): ${(err as Error).message.split('\n')[0]}`)
      }
      root = dir
      mounted = dir
    }
    const g = new CpuGroups(root, mounted, label)
    if (shares != null) writeFileSync(join(g.parent, 'cpu.shares'), String(shares))
    return g
  }

  /** A group capped at `cpus` CPUs (e.g. 0.2): a quota of cpus x periodUs in every period. */
  group (name: string, cpus: number, periodUs = CFS_PERIOD_US): string {
    const dir = join(this.parent, name)
    mkdirSync(dir)
    this.groups.push(dir)
    writeFileSync(join(dir, 'cpu.cfs_period_us'), String(periodUs))
    writeFileSync(join(dir, 'cpu.cfs_quota_us'), String(Math.round(cpus * periodUs)))
    return dir
  }

  /** Moves a process (all its threads, and its future threads and children) into the group. */
  add (dir: string, pid: number): void {
    writeFileSync(join(dir, 'cgroup.procs'), String(pid))
  }

  /** Removes one group now (its processes, if any are left, go back to the parent). */
  removeGroupSync (dir: string): void {
    for (let attempt = 0; attempt < 50; attempt++) {
      try {
        for (const pid of readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) {
          try { writeFileSync(join(this.parent, 'cgroup.procs'), pid) } catch {}
        }
        rmdirSync(dir)
        this.groups.splice(this.groups.indexOf(dir), 1)
        return
      } catch {
        if (!existsSync(dir)) return
        sleepSync(20)
      }
    }
  }

  stat (dir: string): CpuGroupStat {
    const s = Object.fromEntries(readFileSync(join(dir, 'cpu.stat'), 'utf8').trim().split('\n').map(l => l.split(' ')).map(([k, v]) => [k, Number(v)]))
    return { nrPeriods: s.nr_periods ?? 0, nrThrottled: s.nr_throttled ?? 0, throttledMs: (s.throttled_time ?? 0) / 1e6 }
  }

  /** Moves any process left back to the root group, removes every group (and the mount, if made here). */
  removeSync (): void {
    if (this.removed) return
    this.removed = true
    for (const dir of [...this.groups.reverse(), this.parent]) {
      if (!existsSync(dir)) continue
      for (let attempt = 0; attempt < 50; attempt++) {
        try {
          for (const pid of readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) {
            try { writeFileSync(join(this.root, 'cgroup.procs'), pid) } catch {}
          }
          rmdirSync(dir)
          break
        } catch {
          sleepSync(20) // a killed process may take a moment to leave
        }
      }
    }
    if (this.mountedHere != null) {
      try { execFileSync('umount', [this.mountedHere], { stdio: 'pipe' }) } catch {}
      try { rmdirSync(this.mountedHere) } catch {}
    }
  }
}

let shared: CpuGroups | null | undefined
let sharedError = ''

/**
 * The bench's own group, made once: high cpu.shares, and the bench process moved into it, so every
 * process it starts (children inherit the group) gets the CPU it measures on a machine shared with
 * other work; capped peers go into child groups of it. null when cgroups are unavailable.
 */
export function benchGroups (shares = BENCH_SHARES): CpuGroups | null {
  if (shared !== undefined) return shared
  try {
    shared = CpuGroups.create('bench', shares)
    shared.add(shared.parent, process.pid)
  } catch (err) {
    sharedError = (err as Error).message
    shared = null
  }
  return shared
}
export function benchGroupsError (): string { return sharedError }

/** cpu.shares of the bench's group: 64x a normal process. */
export const BENCH_SHARES = 65_536

/** CPU time (user + system) a process has used so far, in ms, from /proc/<pid>/stat. */
export function cpuMsOf (pid: number): number {
  return ticksMsOf(`/proc/${pid}/stat`)
}

/**
 * CPU time of a process's main thread alone (its task whose id is the pid): for a peer, its JavaScript
 * event loop (libp2p, heartbeats, replication, files), apart from the kernel worker thread and libvips.
 */
export function mainThreadCpuMsOf (pid: number): number {
  return ticksMsOf(`/proc/${pid}/task/${pid}/stat`)
}

/** A process's CPU-ms so far, whole and of its main thread: two marks apart give a stage's CPU and its split. */
export interface CpuMark { all: number, main: number }

export function cpuMarkOf (pid: number): CpuMark {
  return { all: cpuMsOf(pid), main: mainThreadCpuMsOf(pid) }
}

function ticksMsOf (file: string): number {
  try {
    const stat = readFileSync(file, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // fields[0] is field 3 (state); utime is field 14, stime field 15.
    const ticks = Number(fields[11]) + Number(fields[12])
    return ticks * 10 // USER_HZ is 100 on Linux
  } catch {
    return NaN
  }
}
