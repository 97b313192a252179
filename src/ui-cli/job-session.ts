// One job as the CLI follows it: submit (or watch) on the master, and when the master changes under
// it, find the new one and carry on watching, so the user never sees a spurious failure.
import type { Libp2p, PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { systemClock, type Clock } from '../transfer/clock.ts'
import { RemoteError } from '../transfer/errors.ts'
import { findMaster, InputChangedError, isRetryable, resubmitJob, submitImage, watchJob, type ClientOptions, type JobOutcome, type SubmitInput } from '../transfer/job-protocol.ts'
import { ErrorCodes, type JobEvent, type ResubmitRequest } from '../transfer/messages.ts'

export interface SessionOptions {
  node: Libp2p
  targets: Array<PeerId | Multiaddr>
  /** How long to keep looking for a (new) master before giving up (from the moment one was lost). */
  masterTimeoutMs: number
  onEvent: (e: JobEvent) => void
  onRetry?: (why: string) => void
  /** The time budget, pauses and the protocols' deadlines run on this clock (default: the system's). */
  clock?: Clock
  /** The user's key on this device (swarm login): requests are signed with it. */
  signer?: ClientOptions['signer']
}

/** A bound on attempts besides the time budget, so a loop can never spin for ever. */
const MAX_ATTEMPTS = 1000
/** Between attempts: a new master is elected within about two seconds. */
const RETRY_PAUSE_MS = 200
/** The least time findMaster gets, even when the budget is nearly spent. */
const MIN_FIND_MS = 1000

/**
 * How long a session keeps looking for a master: masterTimeoutMs from the moment it began or lost one,
 * and none of it while a master is talking. Not from the job's last progress: a job can wait in the
 * queue for a long time, and its master says so (WATCH_KEEPALIVE_MS) while it lives.
 */
export class SearchBudget {
  readonly #clock: Clock
  readonly #ms: number
  #since: number | undefined
  constructor (clock: Clock, ms: number) {
    this.#clock = clock
    this.#ms = ms
    this.#since = clock.now()
  }
  /** A master answered: the search, if any, is over. */
  heard (): void { this.#since = undefined }
  /** The master went away or could not be reached: the search starts now (or goes on). */
  lost (): void { this.#since ??= this.#clock.now() }
  /** What is left of the search's time (all of it when no search is on). */
  left (): number { return this.#since == null ? this.#ms : this.#since + this.#ms - this.#clock.now() }
}

export async function runSubmit (input: SubmitInput, s: SessionOptions): Promise<JobOutcome> {
  return await runNewJob(async (master, onEvent, clock) => await submitImage(s.node, master, input, onEvent, { clock, signer: s.signer }), s)
}

/** A recorded job run again from its kept input (swarm resubmit), followed as a submit is. */
export async function runResubmit (req: ResubmitRequest, s: SessionOptions): Promise<JobOutcome> {
  return await runNewJob(async (master, onEvent, clock) => await resubmitJob(s.node, master, req, onEvent, { clock, signer: s.signer }), s)
}

type Start = (master: PeerId, onEvent: (e: JobEvent) => void, clock: Clock) => Promise<JobOutcome>

/** Asks for a new job until a master accepts it, then follows it on whichever master serves it. */
async function runNewJob (start: Start, s: SessionOptions): Promise<JobOutcome> {
  const clock = s.clock ?? systemClock
  let jobId: string | undefined
  let lastError = ''
  const budget = new SearchBudget(clock, s.masterTimeoutMs)
  const onEvent = (e: JobEvent): void => {
    budget.heard()
    if (e.type === 'accepted') jobId = e.jobId
    s.onEvent(e)
  }
  for (let attempt = 0; attempt < MAX_ATTEMPTS && budget.left() > 0; attempt++) {
    try {
      const master = await findMaster(s.node, s.targets, Math.max(MIN_FIND_MS, budget.left()), { clock })
      if (jobId == null) return await start(master, onEvent, clock)
      return await watchJob(s.node, master, jobId, true, onEvent, { clock, signer: s.signer })
    } catch (err) {
      // Before "accepted" the upload is sent again when the master changed or the connection broke;
      // after it the job is in the queue, and only a definite answer (a failure, an unknown job) ends it.
      if (isDefinite(err, attempt > 0)) throw err
      budget.lost()
      lastError = (err as Error).message
      s.onRetry?.(lastError)
      await clock.sleep(RETRY_PAUSE_MS)
    }
  }
  throw new Error(`no master could take or finish the job within ${s.masterTimeoutMs} ms (last error: ${lastError})`)
}

export async function runWatch (jobId: string, withData: boolean, s: SessionOptions): Promise<JobOutcome> {
  const clock = s.clock ?? systemClock
  let lastError = ''
  const budget = new SearchBudget(clock, s.masterTimeoutMs)
  const onEvent = (e: JobEvent): void => { budget.heard(); s.onEvent(e) }
  for (let attempt = 0; attempt < MAX_ATTEMPTS && budget.left() > 0; attempt++) {
    try {
      const master = await findMaster(s.node, s.targets, Math.max(MIN_FIND_MS, budget.left()), { clock })
      return await watchJob(s.node, master, jobId, withData, onEvent, { clock, signer: s.signer })
    } catch (err) {
      if (isDefinite(err, attempt > 0)) throw err
      budget.lost()
      lastError = (err as Error).message
      s.onRetry?.(lastError)
      await clock.sleep(RETRY_PAUSE_MS)
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
  if (code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR' || err instanceof InputChangedError) return true
  // Anything else that is not a master's answer is a connection that broke or could not be made.
  if (!(err instanceof RemoteError) || isRetryable(err)) return false
  return !(masterChanged && err.code === ErrorCodes.unknownJob)
}
