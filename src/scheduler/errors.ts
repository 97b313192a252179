// Named errors of the scheduler. The queue machine throws only for commands that are wrong in
// themselves (a bad job, a cancel of an unknown job, a config that makes no sense, an older epoch),
// and it always throws BEFORE it changes the state: a caught error leaves the state as it was.
// Network events that are merely late or stale (a result for an old lease) are never errors: they
// come back as an `ignored` effect.

export class SchedulerError extends Error {
  override name = 'SchedulerError'
}

/** A QueueConfig value is out of range (leaseMs <= 0, a negative prefetch, maxAttempts < 1...). */
export class InvalidConfigError extends SchedulerError {
  override name = 'InvalidConfigError'
}

/** A submitted job is malformed (empty id, tileCount not a positive integer...). */
export class InvalidJobError extends SchedulerError {
  override name = 'InvalidJobError'
}

/** A job with this id is already in the queue (in any state, finished ones included). */
export class DuplicateJobError extends SchedulerError {
  override name = 'DuplicateJobError'
  readonly jobId: string
  constructor (jobId: string) {
    super(`job ${JSON.stringify(jobId)} is already in the queue`)
    this.jobId = jobId
  }
}

/** A command (cancel) names a job the queue does not know. */
export class UnknownJobError extends SchedulerError {
  override name = 'UnknownJobError'
  readonly jobId: string
  constructor (jobId: string) {
    super(`no job ${JSON.stringify(jobId)} in the queue`)
    this.jobId = jobId
  }
}

/** `elected` was fed an epoch older than the one the queue already carries. */
export class StaleEpochError extends SchedulerError {
  override name = 'StaleEpochError'
  readonly epoch: number
  readonly current: number
  constructor (epoch: number, current: number) {
    super(`epoch ${epoch} is older than the queue's epoch ${current}`)
    this.epoch = epoch
    this.current = current
  }
}

/** A persisted record cannot be read back (bad key, bad JSON shape, inconsistent with its job). */
export class CorruptRecordError extends SchedulerError {
  override name = 'CorruptRecordError'
  readonly key: string
  constructor (key: string, detail: string) {
    super(`queue record ${JSON.stringify(key)} is corrupt: ${detail}`)
    this.key = key
  }
}

/** checkInvariants() found the in-memory state inconsistent (a bug in the machine). */
export class InvariantError extends SchedulerError {
  override name = 'InvariantError'
}

/** The LevelDB store could not be opened (e.g. the data dir is locked by another running peer). */
export class StoreOpenError extends SchedulerError {
  override name = 'StoreOpenError'
}

/** The atomic batch of a step failed: nothing of that step was written, and the store reloaded its
 * state from disk, so the step is as if it never happened. The caller may retry the event. */
export class PersistError extends SchedulerError {
  override name = 'PersistError'
}

/** The store was used after close(). */
export class StoreClosedError extends SchedulerError {
  override name = 'StoreClosedError'
}
