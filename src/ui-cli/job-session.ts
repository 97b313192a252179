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

const MAX_RETRIES = 50

export async function runSubmit (input: SubmitInput, s: SessionOptions): Promise<JobOutcome> {
  let jobId: string | undefined
  for (let attempt = 0; attempt < MAX_RETRIES; attempt++) {
    const master = await findMaster(s.node, s.targets, s.masterTimeoutMs)
    try {
      if (jobId == null) {
        const out = await submitImage(s.node, master, input, (e) => {
          if (e.type === 'accepted') jobId = e.jobId
          s.onEvent(e)
        })
        return out
      }
      return await watchJob(s.node, master, jobId, true, s.onEvent)
    } catch (err) {
      // Before "accepted" the upload is sent again when the master changed or the connection broke;
      // after it the job is in the queue, and only a definite answer (a failure, an unknown job) ends it.
      if (jobId == null ? !(isRetryable(err) || isTransient(err)) : isDefinite(err, attempt > 0)) throw err
      s.onRetry?.((err as Error).message)
      await new Promise(resolve => setTimeout(resolve, 200))
    }
  }
  throw new Error(`gave up after ${MAX_RETRIES} attempts to reach a master`)
}

export async function runWatch (jobId: string, withData: boolean, s: SessionOptions): Promise<JobOutcome> {
  for (let attempt = 0; attempt < MAX_RETRIES; attempt++) {
    const master = await findMaster(s.node, s.targets, s.masterTimeoutMs)
    try {
      return await watchJob(s.node, master, jobId, withData, s.onEvent)
    } catch (err) {
      if (isDefinite(err, attempt > 0)) throw err
      s.onRetry?.((err as Error).message)
      await new Promise(resolve => setTimeout(resolve, 200))
    }
  }
  throw new Error(`gave up after ${MAX_RETRIES} attempts to reach a master`)
}

/** A connection that broke or could not be made (the master died or moved) rather than an answer. */
function isTransient (err: unknown): boolean {
  if (err instanceof RemoteError) return false
  const name = (err as Error)?.name ?? ''
  return ['StreamResetError', 'StreamTimeoutError', 'MalformedFrameError', 'StreamStateError', 'StreamClosedError', 'ConnectionClosedError', 'AbortError', 'TimeoutError', 'UnexpectedEOFError', 'MuxerClosedError', 'DialError', 'NoValidAddressesError'].includes(name) ||
    /reset|closed|aborted|refused|ECONN|EPIPE|dial|timed? ?out/i.test((err as Error)?.message ?? '')
}

/**
 * An answer from a master that retrying will not change: a refused input, an unknown job. After the
 * master changed, an unknown job is not final yet: the job may still be on its way to the new master
 * (handed over after a partition, or its replica a moment behind).
 */
function isDefinite (err: unknown, masterChanged: boolean): boolean {
  if (!(err instanceof RemoteError) || isRetryable(err)) return false
  return !(masterChanged && err.code === ErrorCodes.unknownJob)
}
