// Which jobs' files a peer removes from its data dir: retention and the --max-disk cap, decided in one
// pure place (no fs, no clock). The runtime (disk-keeper.ts) measures the data dir, says which jobs may
// go (`evictable`: the rule is in src/scheduler/README.md, Decisions) and deletes what this returns.

export type DiskJobState = 'queued' | 'running' | 'done' | 'failed' | 'cancelled'

export interface DiskJob {
  id: string
  /** Its state in this peer's queue (master) or replica (follower); undefined: a directory no queue names. */
  state: DiskJobState | undefined
  finishedAt?: number
  /** The last time the job was used here: finished, its result downloaded, a cache hit. */
  lastUsed?: number
  /** Bytes its files take here. */
  bytes: number
  /** Whether its files may go at all (finished, and a done job's output safe elsewhere or given up). */
  evictable: boolean
  /**
   * Its result was fetched by a client (on the master: `swarm result`, a submit's download, a cache hit).
   * The cap takes these first: an output nobody has fetched yet may be the one a submitter is waiting for.
   */
  delivered?: boolean
  /** The master gave the job's output up (its record's removedAt): the copies here serve nobody. */
  retired?: boolean
}

export interface DiskPolicyInput {
  jobs: readonly DiskJob[]
  now: number
  /** How long a finished job's files are kept after their last use; undefined: for ever (no retention). */
  retainMs?: number
  /** The cap on the data dir's job files; undefined: none. */
  maxDiskBytes?: number
  /** Bytes the data dir's job files take now (the jobs' bytes, and anything else under jobs/). */
  usedBytes: number
}

export type RemovalReason = 'retired' | 'retention' | 'cap'

export interface DiskDecision {
  remove: Array<{ id: string, reason: RemovalReason, bytes: number }>
  /** What the job files will take once those are removed. */
  usedAfter: number
  /** Still over the cap afterwards: what is left is not evictable. Said in one sentence. */
  overCap?: string
}

/**
 * The cap leaves a result nobody has fetched yet alone this long after its end: a submitter following its
 * job fetches it within seconds, and removing it first would lose the job for them. Past it, the result may
 * go like any other (a --detach submit nobody came back for must not hold the cap for good).
 */
export const UNFETCHED_GRACE_MS = 60_000

/** A job's "use" for retention and for least-recently-used order: its last use, else its end. */
const usedAt = (j: DiskJob): number => j.lastUsed ?? j.finishedAt ?? 0

export function decideRemovals (input: DiskPolicyInput): DiskDecision {
  const remove: DiskDecision['remove'] = []
  const taken = new Set<string>()
  let used = input.usedBytes
  const take = (j: DiskJob, reason: RemovalReason): void => {
    remove.push({ id: j.id, reason, bytes: j.bytes })
    taken.add(j.id)
    used -= j.bytes
  }
  const candidates = input.jobs.filter(j => j.evictable && j.bytes > 0)
  for (const j of candidates) {
    if (j.retired === true) take(j, 'retired')
    else if (input.retainMs != null && input.now - usedAt(j) >= input.retainMs) take(j, 'retention')
  }
  const cap = input.maxDiskBytes
  if (cap != null && used > cap) {
    // Fetched ones before the rest, then least recently used first; ties by id, so runs agree.
    const unfetched = (j: DiskJob): number => j.delivered === false ? 1 : 0
    const fresh = (j: DiskJob): boolean => j.delivered === false && input.now - (j.finishedAt ?? 0) < UNFETCHED_GRACE_MS
    const lru = candidates.filter(j => !taken.has(j.id) && !fresh(j)).sort((a, b) => unfetched(a) - unfetched(b) || usedAt(a) - usedAt(b) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    for (const j of lru) {
      if (used <= cap) break
      take(j, 'cap')
    }
  }
  const decision: DiskDecision = { remove, usedAfter: Math.max(0, used) }
  if (cap != null && used > cap) {
    const kept = input.jobs.filter(j => !taken.has(j.id) && j.bytes > 0).length
    decision.overCap = `${used} bytes of job files are over the cap of ${cap}, and none of the ${kept} job(s) left may be removed yet (not finished, or a done job's output not yet on the master and a standby)`
  }
  return decision
}
