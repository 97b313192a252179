// Which jobs a history request selects (`swarm history --state --since --until`), decided on the master
// from the queue's records. Pure: the times come in the filter.
import type { JobsFilter } from '../transfer/messages.ts'
import type { JobView } from './queue-machine.ts'

/**
 * In the states asked for (all when none are named), and submitted at or after `since` and before
 * `until`: a job belongs to the moment it was submitted, which every job has, finished or not.
 */
export function inHistory (job: Pick<JobView, 'state' | 'submittedAt'>, filter: JobsFilter): boolean {
  if (filter.states != null && !filter.states.includes(job.state)) return false
  if (filter.since != null && job.submittedAt < filter.since) return false
  if (filter.until != null && job.submittedAt >= filter.until) return false
  return true
}
