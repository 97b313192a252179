// What the queue does not keep about a job and people ask of it: when its first tile was handed out (its
// start, for its duration and throughput) and which peers did its tiles (a finished job holds no leases,
// so `swarm jobs` showed 0 peers for all of them). Heard from the master's events, in memory: a new
// master knows it for the jobs it runs, not for those finished before it.
import type { MasterRuntime } from './master.ts'

/** Jobs remembered: far more than `swarm jobs` lists by default. */
export const ACTIVITY_JOBS = 1000

interface Activity { startedAt: number, workers: Set<string> }

export class JobActivity {
  readonly #jobs = new Map<string, Activity>()
  readonly #now: () => number

  constructor (master: Pick<MasterRuntime, 'on'>, now: () => number) {
    this.#now = now
    master.on('dispatched', (d) => { this.of(d.jobId) })
    master.on('tileDone', (d) => { this.of(d.jobId).workers.add(d.peer) })
  }

  private of (jobId: string): Activity {
    let a = this.#jobs.get(jobId)
    if (a == null) {
      if (this.#jobs.size >= ACTIVITY_JOBS) this.#jobs.delete(this.#jobs.keys().next().value!)
      a = { startedAt: this.#now(), workers: new Set() }
      this.#jobs.set(jobId, a)
    }
    return a
  }

  startedAt (jobId: string): number | undefined { return this.#jobs.get(jobId)?.startedAt }
  workers (jobId: string): string[] { return [...this.#jobs.get(jobId)?.workers ?? []].sort() }
}
