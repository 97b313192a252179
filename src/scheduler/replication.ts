// Replication of the master's queue log to every other peer over `/swarm/replicate/1.0.0`.
// A follower subscribes with its epoch; the master answers with a snapshot of its queue, then every
// batch it writes, in order, each with its position and epoch. The follower keeps the copy in its
// own queue sublevel, so the peer elected after a master dies already holds the whole queue.
// The follower acknowledges each position it has written, so the master can tell a submitter
// "accepted" only once a standby holds the job's queue record as well as its input.
import type { Libp2p, PeerId } from '@libp2p/interface'
import { z } from 'zod'
import { systemClock, type Clock } from '../transfer/clock.ts'
import { FrameStream } from '../transfer/frames.ts'
import { ErrorCodes, FRAME_BYTES } from '../transfer/messages.ts'
import type { PersistOp } from './records.ts'
import type { QueueReplica } from './replica.ts'
import type { QueueStore } from './queue-store.ts'

export const REPLICATE_PROTOCOL = '/swarm/replicate/1.0.0'
/** Every other peer holds one subscription to the master: room for a large classroom's swarm. */
export const REPLICATE_MAX_INBOUND_STREAMS = 512
/** A follower subscribes to one master at a time (plus one being replaced). */
export const REPLICATE_MAX_OUTBOUND_STREAMS = 2
/** Snapshot records per frame: a few hundred small JSON records stay far below a frame. */
export const RECORDS_PER_FRAME = 200
/** Batches merged into one frame at most (each is a few small records). */
export const BATCHES_PER_FRAME = 100
/** A follower this far behind is dropped; it resubscribes and gets a fresh snapshot. */
export const MAX_PENDING = 10_000
/** The master's longest wait for a follower's subscribe message. */
export const SUBSCRIBE_TIMEOUT_MS = 10_000
/** Batches may be far apart (an idle swarm): the follower's stream ends when the master goes, not on silence. */
export const FOLLOW_READ_TIMEOUT_MS = 24 * 3600_000
/**
 * A submit waits this long at most for a standby to acknowledge the job's queue record. A live
 * follower writes a batch in one LevelDB write and answers in milliseconds; a longer wait would only
 * be spent on a standby that is dying, and every submit to a swarm losing peers would pay it.
 */
export const ACK_TIMEOUT_MS = 2_000
/** Between a broken subscription and the next: the master may be mid-election. */
export const RESUBSCRIBE_PAUSE_MS = 300

const SubscribeSchema = z.object({ epoch: z.number().int().min(0) }).strict()
const AckSchema = z.object({ type: z.literal('ack'), pos: z.number().int().min(0) }).strict()
const MessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('snapshot'), epoch: z.number().int().min(0), pos: z.number().int().min(0), count: z.number().int().min(0) }).strict(),
  z.object({ type: z.literal('records'), records: z.array(z.tuple([z.string(), z.unknown()])).max(RECORDS_PER_FRAME) }).strict(),
  z.object({ type: z.literal('batch'), epoch: z.number().int().min(0), pos: z.number().int().min(0), ops: z.array(z.unknown()).max(1_000_000) }).strict()
])

interface Batch { ops: PersistOp[], pos: number, epoch: number }
/** from: the snapshot's position, once it is queued; until then batches wait in `early`. */
/** queued: batches not yet written; they go out together in the next frame. */
/** peer: the follower's id; acked: the last position it says it has written (-1: none yet). */
interface Subscriber { fs: FrameStream, peer: string, acked: number, chain: Promise<void>, queued: Batch[], from: number | null, early: Batch[] }
interface AckWaiter { peers: Set<string>, pos: number, done: (ok: boolean) => void }

/** The master's side: one subscriber per follower. */
export class ReplicationSource {
  private readonly subscribers = new Set<Subscriber>()
  private readonly waiters = new Set<AckWaiter>()
  private readonly store: () => QueueStore | undefined
  private readonly epoch: () => number
  private readonly clock: Clock
  private node?: Pick<Libp2p, 'handle' | 'unhandle'>

  constructor (init: { store: () => QueueStore | undefined, epoch: () => number, clock?: Clock }) {
    this.store = init.store
    this.epoch = init.epoch
    this.clock = init.clock ?? systemClock
  }

  get followers (): number { return this.subscribers.size }

  async start (components: { libp2p: Pick<Libp2p, 'handle' | 'unhandle'> }): Promise<void> {
    if (this.node != null) return
    await components.libp2p.handle(REPLICATE_PROTOCOL, async (stream, connection) => {
      const fs = new FrameStream(stream, { maxFrameBytes: FRAME_BYTES, readTimeoutMs: SUBSCRIBE_TIMEOUT_MS, clock: this.clock })
      try {
        await this.serve(fs, connection.remotePeer.toString())
      } catch (err) {
        fs.abort(err as Error)
      }
    }, { maxInboundStreams: REPLICATE_MAX_INBOUND_STREAMS, maxOutboundStreams: REPLICATE_MAX_OUTBOUND_STREAMS })
    this.node = components.libp2p
  }

  async stop (): Promise<void> {
    const node = this.node
    if (node == null) return
    this.node = undefined
    this.closeAll()
    await node.unhandle(REPLICATE_PROTOCOL)
  }

  private async serve (fs: FrameStream, peer: string): Promise<void> {
    const req = await fs.readJson(SubscribeSchema)
    const store = this.store()
    if (store == null) {
      await fs.writeError(ErrorCodes.notMaster, 'not master')
      await fs.close()
      return
    }
    if (req.epoch > this.epoch()) {
      // The follower knows a newer master than us: we are stale and must not feed it.
      await fs.writeError(ErrorCodes.staleEpoch, `follower is at epoch ${req.epoch}, this master at ${this.epoch()}`)
      await fs.close()
      return
    }
    // Subscribe first, then read the snapshot: batches written meanwhile are queued and the ones the
    // snapshot already holds are skipped by position.
    const sub: Subscriber = { fs, peer, acked: -1, chain: Promise.resolve(), queued: [], from: null, early: [] }
    this.subscribers.add(sub)
    fs.stream.addEventListener('close', () => { this.subscribers.delete(sub) })
    const records = await store.records()
    const meta = records.find(([k]) => k === 'm')?.[1] as { pos?: number } | undefined
    const pos = meta?.pos ?? 0
    sub.chain = sub.chain.then(async () => {
      await fs.writeJson({ type: 'snapshot', epoch: this.epoch(), pos, count: records.length })
      for (let i = 0; i < records.length; i += RECORDS_PER_FRAME) await fs.writeJson({ type: 'records', records: records.slice(i, i + RECORDS_PER_FRAME) })
    }).catch((err: Error) => {
      this.subscribers.delete(sub)
      fs.abort(err)
    })
    sub.from = pos
    for (const b of sub.early.splice(0)) this.send(sub, b)
    await this.readAcks(sub)
  }

  /** Until the subscription ends: the follower's acknowledgements, each waking the submits it completes. */
  private async readAcks (sub: Subscriber): Promise<void> {
    try {
      for (;;) {
        const ack = await sub.fs.readJson(AckSchema, FOLLOW_READ_TIMEOUT_MS)
        if (ack.pos <= sub.acked) continue
        sub.acked = ack.pos
        for (const w of this.waiters) if (w.peers.has(sub.peer) && sub.acked >= w.pos) w.done(true)
      }
    } catch {
      // The stream ended or broke; the follower resubscribes and acknowledges again from its snapshot.
      this.subscribers.delete(sub)
    }
  }

  /**
   * True once one of `peers` has acknowledged position `pos` (a batch at or past it); false after
   * `timeoutMs`, or at once when there is no such peer to wait for.
   */
  async acknowledged (peers: string[], pos: number, timeoutMs = ACK_TIMEOUT_MS): Promise<boolean> {
    const want = new Set(peers)
    if (want.size === 0) return false
    for (const sub of this.subscribers) if (want.has(sub.peer) && sub.acked >= pos) return true
    const { promise, resolve } = Promise.withResolvers<boolean>()
    const timer = this.clock.after(timeoutMs, () => { w.done(false) })
    const w: AckWaiter = {
      peers: want,
      pos,
      done: (ok) => { timer.cancel(); this.waiters.delete(w); resolve(ok) }
    }
    this.waiters.add(w)
    return await promise
  }

  /** Called with every batch the queue wrote, in order. */
  publish (ops: PersistOp[], pos: number): void {
    const batch = { ops, pos, epoch: this.epoch() }
    for (const sub of this.subscribers) {
      if (sub.from == null) sub.early.push(batch)
      else this.send(sub, batch)
    }
  }

  private send (sub: Subscriber, b: Batch): void {
    if (sub.from == null || b.pos <= sub.from) return // the snapshot already holds it
    if (sub.queued.length >= MAX_PENDING) {
      this.subscribers.delete(sub)
      sub.fs.abort(new Error('follower too far behind'))
      return
    }
    sub.queued.push(b)
    if (sub.queued.length > 1) return // a write is already scheduled and takes this batch too
    sub.chain = sub.chain.then(async () => {
      // Every batch queued while the previous frame was being written goes out in this one: a busy
      // master writes a batch per tile leased and per tile done, and one frame per batch per follower
      // cost it more CPU than the tiles' own bookkeeping. The follower applies the merged ops in one
      // atomic write, which ends in the same state as applying the batches one by one.
      while (sub.queued.length > 0) {
        const list = sub.queued.splice(0, BATCHES_PER_FRAME)
        const last = list[list.length - 1]
        await sub.fs.writeJson({ type: 'batch', epoch: last.epoch, pos: last.pos, ops: list.flatMap(x => x.ops) })
      }
    }).catch((err: Error) => {
      this.subscribers.delete(sub)
      sub.fs.abort(err)
    })
  }

  /** Stepping down: every follower is cut off and will subscribe to the new master. */
  closeAll (): void {
    for (const sub of this.subscribers) sub.fs.abort(new Error('no longer master'))
    this.subscribers.clear()
    for (const w of [...this.waiters]) w.done(false)
  }
}

export interface SinkEvents {
  /** The replica is at this position (for the election's "most complete replica"). */
  position: (pos: number) => void
  /**
   * Before a snapshot replaces the local queue: jobs we hold that the new master lacks. Returns how
   * many of those we should have handed over (we hold their input) but could not, and the ids of those
   * the master said it took (or knew).
   */
  handover: (missing: Array<[string, unknown]>, master: PeerId) => Promise<{ failed: number, taken: string[] }>
  /** A job reached an end state in the master's queue (as replicated here). */
  finished: (jobId: string) => void
  /** A finished job's record was deleted by the master (swarm prune): its files here may go. */
  forgotten: (jobId: string) => void
  /** The master gave a done job's files up (retention, the disk cap): the copies here may go. Optional. */
  retired?: (jobId: string) => void
  log: (msg: string) => void
}

/** The follower's side: keeps one subscription to the current master, resubscribing after errors. */
export class ReplicationSink {
  private readonly node: Libp2p
  private readonly replica: QueueReplica
  private readonly events: SinkEvents
  private readonly epoch: () => number
  private readonly clock: Clock
  private target?: { master: PeerId, abort: AbortController, done: Promise<void> }
  /** Jobs each master (by id) said it took from this peer: its snapshots must hold them from then on. */
  private readonly handed = new Map<string, Set<string>>()
  private readonly refusedLogged = new Set<string>()

  constructor (node: Libp2p, replica: QueueReplica, epoch: () => number, events: SinkEvents, clock: Clock = systemClock) {
    this.node = node
    this.replica = replica
    this.epoch = epoch
    this.events = events
    this.clock = clock
  }

  /** Follows this master (replacing any earlier one) until stop() or the next follow(). */
  async follow (master: PeerId): Promise<void> {
    if (this.target?.master.equals(master) === true) return
    await this.stop()
    const abort = new AbortController()
    this.target = { master, abort, done: this.loop(master, abort.signal) }
  }

  async stop (): Promise<void> {
    const t = this.target
    this.target = undefined
    if (t == null) return
    t.abort.abort()
    await t.done
  }

  private async loop (master: PeerId, signal: AbortSignal): Promise<void> {
    // Bounded by the abort: follow() or stop() ends it when the master changes.
    for (let attempt = 0; !signal.aborted; attempt++) {
      try {
        await this.subscribe(master, signal)
      } catch (err) {
        if (signal.aborted) return
        if (attempt % 20 === 0) this.events.log(`replication from ${master.toString().slice(-8)} interrupted: ${(err as Error).message}`)
      }
      await this.clock.sleep(RESUBSCRIBE_PAUSE_MS, signal).catch(() => {})
    }
  }

  private async subscribe (master: PeerId, signal: AbortSignal): Promise<void> {
    const stream = await this.node.dialProtocol(master, REPLICATE_PROTOCOL, { signal })
    const fs = new FrameStream(stream, { maxFrameBytes: FRAME_BYTES, readTimeoutMs: FOLLOW_READ_TIMEOUT_MS, clock: this.clock })
    const onAbort = (): void => { fs.abort(new Error('stopped following')) }
    signal.addEventListener('abort', onAbort, { once: true })
    try {
      await fs.writeJson({ epoch: this.epoch() })
      const head = await fs.readJson(MessageSchema)
      if (head.type !== 'snapshot') throw new Error('expected a snapshot first')
      if (head.epoch < this.epoch()) throw new Error(`master at epoch ${head.epoch} is older than ours (${this.epoch()})`)
      const records: Array<[string, unknown]> = []
      while (records.length < head.count) {
        const m = await fs.readJson(MessageSchema)
        if (m.type !== 'records') throw new Error('expected records')
        records.push(...m.records)
      }
      await this.adopt(records, master)
      let pos = head.pos
      this.events.position(pos)
      await fs.writeJson({ type: 'ack', pos })
      for (;;) {
        const m = await fs.readJson(MessageSchema)
        if (m.type !== 'batch') throw new Error('expected a batch')
        if (m.epoch < this.epoch()) throw new Error(`batch of epoch ${m.epoch}, we follow epoch ${this.epoch()}`)
        if (m.pos <= pos) continue
        // Deleted job records are read before they go: their ids say whose files a prune removes here.
        const gone: string[] = []
        for (const op of m.ops as Array<{ type: string, key: string }>) {
          if (op.type !== 'del' || !op.key.startsWith('j/')) continue
          const old = await this.replica.get(op.key) as { id?: string, state?: string } | undefined
          if (old?.id != null && (old.state === 'done' || old.state === 'failed' || old.state === 'cancelled')) gone.push(old.id)
        }
        await this.replica.apply(m.ops)
        for (const jobId of gone) this.events.forgotten(jobId)
        pos = m.pos
        this.events.position(pos)
        await fs.writeJson({ type: 'ack', pos })
        for (const op of m.ops as Array<{ type: string, key: string, value?: { id?: string, state?: string } }>) {
          if (op.type === 'put' && op.key.startsWith('j/') && op.value?.state === 'done' && op.value.id != null) {
            if ((op.value as { removedAt?: number }).removedAt != null) this.events.retired?.(op.value.id)
            else this.events.finished(op.value.id)
          }
        }
      }
    } finally {
      signal.removeEventListener('abort', onAbort)
      fs.abort(new Error('subscription ended'))
    }
  }

  /**
   * Hands over the jobs only we know, then takes the master's queue as ours once its snapshot holds the
   * ones it took. A master whose snapshot lacks a job it said it took (a peer answering hand-overs with
   * "taken" and replicating an empty queue would otherwise wipe every replica) is refused: this peer keeps
   * its queue and says so each time it tries again.
   */
  private async adopt (records: Array<[string, unknown]>, master: PeerId): Promise<void> {
    const idOf = (v: unknown): string => (v as { id: string }).id
    const theirs = new Set(records.filter(([k]) => k.startsWith('j/')).map(([, v]) => idOf(v)))
    const ours = (await this.replica.records()).filter(([k, v]) => k.startsWith('j/') && !theirs.has(idOf(v)))
    const key = master.toString()
    const promised = this.handed.get(key) ?? new Set<string>()
    for (const id of promised) if (theirs.has(id)) promised.delete(id)
    const dropped = ours.map(([, v]) => idOf(v)).filter(id => promised.has(id))
    if (dropped.length > 0) {
      const why = `refused: the queue of ${key} lacks ${dropped.length} job(s) it took over from this peer (${dropped.slice(0, 3).join(', ')}${dropped.length > 3 ? ', ...' : ''}); this peer keeps its own`
      // Said at once, the first time; the retry loop repeats it every 20 tries.
      if (!this.refusedLogged.has(key)) { this.refusedLogged.add(key); this.events.log(why) }
      throw new Error(why)
    }
    if (ours.length > 0) {
      // Our queue is replaced only once every job we can hand over is in the new master's queue: a failed
      // hand-over keeps it, and the subscription (and the hand-over) is tried again.
      const { failed, taken } = await this.events.handover(ours, master)
      for (const id of taken) promised.add(id)
      if (promised.size > 0) this.handed.set(key, promised)
      if (failed > 0) throw new Error('some jobs could not be handed over yet')
      if (taken.length > 0) throw new Error(`handed ${taken.length} job(s) over; the queue is taken once its snapshot holds them`)
    }
    if (promised.size === 0) this.handed.delete(key)
    await this.replica.replace(records)
  }
}
