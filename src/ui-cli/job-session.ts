// One job as the CLI follows it: submit (or watch) on the master, and when the master changes under
// it, find the new one and carry on watching, so the user never sees a spurious failure.
import type { Libp2p, PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { RemoteError } from '../transfer/errors.ts'
import { ErrorCodes } from '../transfer/messages.ts'
import { findMaster, isRetryable, submitImage, watchJob, type JobOutcome, type SubmitInput } from '../transfer/job-client.ts'
import type { JobEvent } from '../transfer/messages.ts'

export interface SessionOptions {
  node: Libp2p
  targets: Array<PeerId | Multiaddr>
  /** How long to keep looking for a (new) master before giving up. */
  masterTimeoutMs: number
  onEvent: (e: JobEvent) => void
  onRetry?: (why: string) => void
}

/** A bound on attempts besides the time budget, so a loop can never spin for ever. */
const MAX_ATTEMPTS = 1000

export async function runSubmit (input: SubmitInput, s: SessionOptions): Promise<JobOutcome> {
  let jobId: string | undefined
  let lastError = ''
  // The budget restarts whenever the job makes progress: only a swarm silent for that long gives up.
  let deadline = Date.now() + s.masterTimeoutMs
  const onEvent = (e: JobEvent): void => {
    deadline = Date.now() + s.masterTimeoutMs
    if (e.type === 'accepted') jobId = e.jobId
    s.onEvent(e)
  }
  for (let attempt = 0; attempt < MAX_ATTEMPTS && Date.now() < deadline; attempt++) {
    try {
      const master = await findMaster(s.node, s.targets, Math.max(1000, deadline - Date.now()))
      if (jobId == null) return await submitImage(s.node, master, input, onEvent)
      return await watchJob(s.node, master, jobId, true, onEvent)
    } catch (err) {
      // Before "accepted" the upload is sent again when the master changed or the connection broke;
      // after it the job is in the queue, and only a definite answer (a failure, an unknown job) ends it.
      if (isDefinite(err, attempt > 0)) throw err
      lastError = (err as Error).message
      s.onRetry?.(lastError)
      await new Promise(resolve => setTimeout(resolve, 200))
    }
  }
  throw new Error(`no master could take or finish the job within ${s.masterTimeoutMs} ms (last error: ${lastError})`)
}

export async function runWatch (jobId: string, withData: boolean, s: SessionOptions): Promise<JobOutcome> {
  let lastError = ''
  let deadline = Date.now() + s.masterTimeoutMs
  const onEvent = (e: JobEvent): void => { deadline = Date.now() + s.masterTimeoutMs; s.onEvent(e) }
  for (let attempt = 0; attempt < MAX_ATTEMPTS && Date.now() < deadline; attempt++) {
    try {
      const master = await findMaster(s.node, s.targets, Math.max(1000, deadline - Date.now()))
      return await watchJob(s.node, master, jobId, withData, onEvent)
    } catch (err) {
      if (isDefinite(err, attempt > 0)) throw err
      lastError = (err as Error).message
      s.onRetry?.(lastError)
      await new Promise(resolve => setTimeout(resolve, 200))
    }
  }
  throw new Error(`no master could serve job ${jobId} within ${s.masterTimeoutMs} ms (last error: ${lastError})`)
}

/**
 * An answer from a master that retrying will not change: a refused input, an unknown job. After the
 * master changed, an unknown job is not final yet: the job may still be on its way to the new master
 * (handed over after a partition, or its replica a moment behind).
 */
function isDefinite (err: unknown, masterChanged: boolean): boolean {
  // Our own file went away: no master can help.
  const code = (err as NodeJS.ErrnoException)?.code
  if (code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR') return true
  // Anything else that is not a master's answer is a connection that broke or could not be made.
  if (!(err instanceof RemoteError) || isRetryable(err)) return false
  return !(masterChanged && err.code === ErrorCodes.unknownJob)
}
