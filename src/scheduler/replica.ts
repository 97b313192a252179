// A follower's copy of the master's queue, kept in the same LevelDB sublevel the queue uses, so a
// follower elected master simply opens its queue and carries on. Written only while this peer is not
// master: from a snapshot when it (re)subscribes, then batch by batch as the master writes.
import type { SwarmDb } from '../node/store.ts'
import { checkOp, META_KEY, type PersistOp } from './records.ts'

type JsonDb = ReturnType<SwarmDb['sublevel']>

/** Job records are keyed j/<seq>; '0' sorts right after '/', so this range holds them and nothing else. */
const JOB_RANGE_START = 'j/'
const JOB_RANGE_END = 'j0'

export class QueueReplica {
  private readonly db: JsonDb

  constructor (root: SwarmDb, sublevel = 'queue') {
    this.db = root.sublevel<string, unknown>(sublevel, { valueEncoding: 'json' }) as unknown as JsonDb
  }

  async records (): Promise<Array<[string, unknown]>> {
    const out: Array<[string, unknown]> = []
    for await (const [k, v] of (this.db as unknown as { iterator: () => AsyncIterable<[string, unknown]> }).iterator()) out.push([k, v])
    return out
  }

  /**
   * The replicated record of one job, or undefined. Reads only the job records (tile records, many per
   * running job, are skipped by the key range) and stops at the match.
   */
  /** Every job record, in one scan (the disk keeper's pass reads them all). */
  async jobs (): Promise<Array<{ id: string, state?: string, finishedAt?: number, removedAt?: number, meta?: unknown }>> {
    const out: Array<{ id: string, state?: string, finishedAt?: number, removedAt?: number, meta?: unknown }> = []
    const range = { gte: JOB_RANGE_START, lt: JOB_RANGE_END }
    for await (const [, v] of (this.db as unknown as { iterator: (o: object) => AsyncIterable<[string, unknown]> }).iterator(range)) {
      if (typeof (v as { id?: unknown }).id === 'string') out.push(v as { id: string })
    }
    return out
  }

  async job (jobId: string): Promise<{ id: string, state?: string } | undefined> {
    const range = { gte: JOB_RANGE_START, lt: JOB_RANGE_END }
    for await (const [, v] of (this.db as unknown as { iterator: (o: object) => AsyncIterable<[string, unknown]> }).iterator(range)) {
      if ((v as { id?: string }).id === jobId) return v as { id: string, state?: string }
    }
    return undefined
  }

  /** One record by its key, or undefined. */
  async get (key: string): Promise<unknown> {
    return await (this.db as unknown as { get: (k: string) => Promise<unknown> }).get(key)
  }

  async position (): Promise<number> {
    const meta = await (this.db as unknown as { get: (k: string) => Promise<{ pos?: number } | undefined> }).get(META_KEY)
    return meta?.pos ?? 0
  }

  /** Replaces the whole replica, atomically. */
  async replace (records: Array<[string, unknown]>): Promise<void> {
    const old = await this.records()
    const keep = new Set(records.map(([k]) => k))
    const ops: unknown[] = [
      ...old.filter(([k]) => !keep.has(k)).map(([key]) => ({ type: 'del', key })),
      ...records.map(([key, value]) => ({ type: 'put', key, value }))
    ]
    await this.apply(ops)
  }

  /** Applies one batch of the master's changes atomically; every change is checked first. */
  async apply (raw: unknown[]): Promise<void> {
    const ops: PersistOp[] = raw.map(checkOp)
    await (this.db as unknown as { batch: (ops: unknown[], o?: object) => Promise<void> }).batch(ops.map(op => op.type === 'put' ? { type: 'put', key: op.key, value: op.value } : { type: 'del', key: op.key }))
  }
}
