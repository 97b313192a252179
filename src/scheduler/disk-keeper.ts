// The runtime of a peer's disk policy (disk-policy.ts): measures the job files under <data-dir>/jobs,
// asks the peer what each job is and whether it may go, decides, and removes. One pass at a time.
import { lstat, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { decideRemovals, type DiskJob, type DiskJobState, type RemovalReason } from './disk-policy.ts'
import type { JobFiles } from './job-files.ts'

export interface JobOnDisk {
  state: DiskJobState
  finishedAt?: number
  /** the master gave the job's files up (its record's removedAt) */
  removedAt?: number
}

export interface DiskKeeperOptions {
  files: JobFiles
  /** Finished jobs' files go this long after their last use; undefined: kept for ever (unless the cap needs room). */
  retainMs?: number
  /** The cap on the job files' bytes; undefined: none. */
  maxDiskBytes?: number
  now: () => number
  /** The jobs as this peer's queue (master) or replica (follower) has them, by id; read once a pass. */
  jobs: () => Promise<Map<string, JobOnDisk>>
  /** Whether a finished job's files may go from this peer (the rule: src/scheduler/README.md, Decisions). */
  evictable: (jobId: string, job: JobOnDisk) => Promise<boolean>
  /**
   * Called before a job's files go: the master records the retirement of a done job (every peer then drops
   * its copies; false: not recorded, e.g. no longer master, and the files stay). A follower just says yes.
   */
  release: (jobId: string, job: JobOnDisk) => Promise<boolean>
  log: (level: 'info' | 'warn', msg: string) => void
}

export interface GcReport {
  removed: Array<{ jobId: string, reason: RemovalReason, bytes: number }>
  freedBytes: number
  usedBytes: number
  maxDiskBytes?: number
  /** Still over the cap: why, in one sentence. */
  overCap?: string
}

/** Names under jobs/ that are not a job: a tree being removed (renamed aside) or a file being written. */
const TRANSIENT = /\.(drop|tmp)$/

async function treeBytes (path: string): Promise<number> {
  const st = await lstat(path).catch(() => undefined)
  if (st == null) return 0
  if (!st.isDirectory()) return st.size
  let total = 0
  for (const name of await readdir(path).catch(() => [] as string[])) total += await treeBytes(join(path, name))
  return total
}

export class DiskKeeper {
  readonly opts: DiskKeeperOptions
  /** Last use of a finished job here (a download, a cache hit), beside its end; in memory, as LRU needs no more. */
  private readonly lastUsed = new Map<string, number>()
  /** Jobs whose result was fetched from this peer: the cap takes these before ones nobody has fetched yet. */
  private readonly delivered = new Set<string>()
  private used = 0
  private running?: Promise<GcReport>
  /** The over-cap sentence last logged: said again only when it changes (a pass runs after every job). */
  private saidOverCap?: string

  constructor (opts: DiskKeeperOptions) {
    this.opts = opts
  }

  /** The job files' bytes at the last pass (the heartbeat's diskUsed). */
  get usedBytes (): number { return this.used }

  /** The job was used now (its output read for a client): the last to go for the cap. */
  touch (jobId: string, delivered = true): void {
    this.lastUsed.set(jobId, this.opts.now())
    if (delivered) this.delivered.add(jobId)
  }

  /** One pass: measure, decide, remove. A pass asked for while one runs gets that pass's report. */
  async run (): Promise<GcReport> {
    if (this.running != null) return await this.running
    this.running = this.pass().finally(() => { this.running = undefined })
    return await this.running
  }

  private async pass (): Promise<GcReport> {
    const { files, retainMs, maxDiskBytes } = this.opts
    const names = await readdir(files.root).catch(() => [] as string[])
    const jobs: DiskJob[] = []
    const known = new Map<string, JobOnDisk>()
    const records = names.length === 0 ? new Map<string, JobOnDisk>() : await this.opts.jobs()
    let used = 0
    for (const name of names) {
      const bytes = await treeBytes(join(files.root, name))
      used += bytes
      if (TRANSIENT.test(name)) continue
      const job = records.get(name)
      if (job == null) {
        // An upload being checked, or a job whose record is gone: counted, never removed here.
        jobs.push({ id: name, state: undefined, bytes, evictable: false })
        continue
      }
      known.set(name, job)
      const evictable = await this.opts.evictable(name, job).catch(() => false)
      jobs.push({
        id: name, state: job.state, finishedAt: job.finishedAt, lastUsed: this.lastUsed.get(name), bytes, evictable,
        retired: job.removedAt != null, delivered: this.delivered.has(name)
      })
    }
    const decision = decideRemovals({ jobs, now: this.opts.now(), retainMs, maxDiskBytes, usedBytes: used })
    const removed: GcReport['removed'] = []
    for (const r of decision.remove) {
      const job = known.get(r.id)
      if (job == null || !await this.opts.release(r.id, job).catch(() => false)) continue
      await files.remove(r.id).then(() => {
        removed.push({ jobId: r.id, reason: r.reason, bytes: r.bytes })
        used -= r.bytes
        this.lastUsed.delete(r.id)
        this.delivered.delete(r.id)
      }, (err: Error) => { this.opts.log('warn', `cannot remove the files of job ${r.id}: ${err.message}`) })
    }
    this.used = Math.max(0, used)
    if (removed.length > 0) {
      const freed = removed.reduce((n, r) => n + r.bytes, 0)
      this.opts.log('info', `disk: removed the files of ${removed.length} finished job(s), ${freed} bytes (${removed.map(r => `${r.jobId}: ${r.reason}`).join(', ')})`)
    }
    if (decision.overCap != null && decision.overCap !== this.saidOverCap) this.opts.log('warn', `disk: ${decision.overCap}`)
    this.saidOverCap = decision.overCap
    return {
      removed,
      freedBytes: removed.reduce((n, r) => n + r.bytes, 0),
      usedBytes: this.used,
      ...(maxDiskBytes != null ? { maxDiskBytes } : {}),
      ...(decision.overCap != null && this.used > (maxDiskBytes ?? Infinity) ? { overCap: decision.overCap } : {})
    }
  }
}
