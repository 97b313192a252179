// The thin LevelDB shell around the queue machine. It owns the state, runs one event at a time
// through step(), writes the step's `persist` effect as ONE atomic batch, and only then hands the
// other effects back to the caller. On start it rebuilds the state from what is on disk.
//
//   const store = await QueueStore.open({ db: swarmDb })            // or { location: dir }
//   await store.step({ type: 'elected', epoch, now: Date.now() })
//   const effects = await store.step({ type: 'submit', job: { id, tileCount }, now: Date.now() })
//   ... act on effects (assign -> send the tile; jobQueued -> ack the submitter; ...)
//   await store.close()
//
// Everything lives in a sublevel (default 'queue') of the given db, or of a db the store opens at
// `location` itself; keys are described in records.ts (zero-padded seq, so FIFO order survives a
// reload). Values are JSON.
import { mkdir } from 'node:fs/promises'
import type { AbstractLevel } from 'abstract-level'
import { Level } from 'level'
import {
  type JobView, type QueueConfig, type QueueEffect, type QueueEvent, type QueueState,
  getJob, listJobs, nextDeadline, rebuildQueueState, step
} from './queue-machine.ts'
import type { PersistOp } from './records.ts'
import { PersistError, StoreClosedError, StoreOpenError } from './errors.ts'

type AnyLevel = AbstractLevel<any, string, any>
type QueueDb = AbstractLevel<any, string, unknown>

export interface QueueStoreOptions {
  /** a directory: the store opens (and later closes) its own LevelDB there */
  location?: string
  /** or an open (or opening) db owned by the caller: the store uses a sublevel of it and leaves the
   * db open on close() */
  db?: AnyLevel
  /** sublevel name, default 'queue' */
  sublevel?: string
  config?: Partial<QueueConfig>
  /** time used to give restored leases a fresh deadline (now + leaseMs); default Date.now() */
  now?: number
  /** fsync the batch: true = every step; false = never (a process crash loses nothing, a power cut
   * may lose the last steps); 'milestones' (default) = steps that accept, finish or cancel a job or
   * complete a phase: what was acknowledged to someone survives a power cut too. */
  sync?: boolean | 'milestones'
  /** Called with each batch once it is on disk, in order: the replication log. */
  onPersist?: (ops: PersistOp[], pos: number) => void
}

const MILESTONES = new Set<QueueEffect['type']>(['jobQueued', 'jobDone', 'jobFailed', 'jobCancelled', 'phaseComplete'])

export class QueueStore {
  readonly #db: QueueDb
  readonly #owned: AnyLevel | undefined
  readonly #config: Partial<QueueConfig> | undefined
  readonly #sync: boolean | 'milestones'
  #state: QueueState
  #chain: Promise<unknown> = Promise.resolve()
  #closed = false
  #broken: Error | undefined
  readonly #onPersist: QueueStoreOptions['onPersist']

  private constructor (db: QueueDb, owned: AnyLevel | undefined, state: QueueState, opts: QueueStoreOptions) {
    this.#db = db
    this.#owned = owned
    this.#state = state
    this.#config = opts.config
    this.#sync = opts.sync ?? 'milestones'
    this.#onPersist = opts.onPersist
  }

  static async open (opts: QueueStoreOptions): Promise<QueueStore> {
    if ((opts.location === undefined) === (opts.db === undefined)) throw new StoreOpenError('QueueStore.open needs exactly one of location or db')
    let owned: AnyLevel | undefined
    let parent: AnyLevel
    if (opts.location !== undefined) {
      await mkdir(opts.location, { recursive: true })
      owned = new Level<string, unknown>(opts.location, { valueEncoding: 'json' }) as unknown as AnyLevel
      parent = owned
    } else {
      parent = opts.db as AnyLevel
    }
    try {
      await parent.open({ passive: owned === undefined })
    } catch (err) {
      const cause = (err as { cause?: { code?: string, message?: string } }).cause
      const at = opts.location != null ? ` at ${opts.location}` : ''
      throw new StoreOpenError(cause?.code === 'LEVEL_LOCKED'
        ? `the queue store${at} is locked by another process`
        : `cannot open the queue store${at}: ${cause?.message ?? (err as Error).message}`, { cause: err })
    }
    const db = parent.sublevel<string, unknown>(opts.sublevel ?? 'queue', { valueEncoding: 'json' }) as unknown as QueueDb
    try {
      const state = await load(db, opts.config, opts.now ?? Date.now())
      return new QueueStore(db, owned, state, opts)
    } catch (err) {
      if (owned !== undefined) await owned.close()
      throw err
    }
  }

  /** the live state (read it through the machine's read functions; do not step it yourself) */
  get state (): QueueState {
    return this.#state
  }

  /**
   * Run one event. Resolves, once the step's changes are on disk, with the effects other than
   * `persist`, in order. Calls are serialised: each runs after the previous one has been written.
   * Throws the machine's named errors for a bad command (nothing changed), PersistError when the
   * batch failed (nothing written; the state is reloaded from disk, as if the event never came).
   */
  async step (event: QueueEvent): Promise<QueueEffect[]> {
    const run = this.#chain.then(async () => await this.#run(event))
    this.#chain = run.catch(() => undefined)
    return await run
  }

  async #run (event: QueueEvent): Promise<QueueEffect[]> {
    if (this.#closed) throw new StoreClosedError('the queue store is closed')
    if (this.#broken !== undefined) throw new PersistError(`the queue store is unusable: ${this.#broken.message}`, { cause: this.#broken })
    const { state, effects } = step(this.#state, event)
    this.#state = state
    const first = effects[0]
    if (first === undefined || first.type !== 'persist') return effects
    const rest = effects.slice(1)
    const sync = this.#sync === 'milestones' ? rest.some(e => MILESTONES.has(e.type)) : this.#sync
    try {
      await this.#db.batch(first.ops.map(toBatchOp), { sync } as object)
    } catch (err) {
      try {
        this.#state = await load(this.#db, this.#config, event.now)
      } catch (reloadErr) {
        this.#broken = reloadErr as Error
        throw new PersistError(`writing the queue failed (${(err as Error).message}), and reloading it failed too (${(reloadErr as Error).message}); reopen the store`, { cause: err })
      }
      throw new PersistError(`writing the queue failed: ${(err as Error).message}`, { cause: err })
    }
    this.#onPersist?.(first.ops, this.#state.pos)
    return rest
  }

  jobs (): JobView[] {
    return listJobs(this.#state)
  }

  job (jobId: string): JobView | undefined {
    return getJob(this.#state, jobId)
  }

  /** when the shell should feed the next tick */
  nextDeadline (): number | undefined {
    return nextDeadline(this.#state)
  }

  /** every record on disk, in key order (a snapshot for a new replica; tests) */
  async records (): Promise<Array<[string, unknown]>> {
    await this.#chain
    if (this.#closed) throw new StoreClosedError('the queue store is closed')
    return await readAll(this.#db)
  }

  /** Waits for the steps in flight, then closes the db if the store opened it. Idempotent. */
  async close (): Promise<void> {
    await this.#chain
    if (this.#closed) return
    this.#closed = true
    if (this.#owned !== undefined) await this.#owned.close()
  }
}

function toBatchOp (op: PersistOp): { type: 'put', key: string, value: unknown } | { type: 'del', key: string } {
  return op.type === 'put' ? { type: 'put', key: op.key, value: op.value } : { type: 'del', key: op.key }
}

async function readAll (db: QueueDb): Promise<Array<[string, unknown]>> {
  const out: Array<[string, unknown]> = []
  for await (const [key, value] of db.iterator()) out.push([key, value])
  return out
}

async function load (db: QueueDb, config: Partial<QueueConfig> | undefined, now: number): Promise<QueueState> {
  const records = await readAll(db)
  return rebuildQueueState(records, config === undefined ? { now } : { config, now })
}
