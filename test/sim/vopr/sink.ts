// A follower's replication, as ReplicationSink decides: subscribe with our epoch, take the snapshot
// after handing over the jobs the master lacks (only if we hold their input; failed and cancelled
// ones are skipped, as swarm-node.ts does), then apply every batch in order. Any error breaks the
// stream and we subscribe again 300 ms later.
import type { Stream } from './network.ts'
import type { VPeer } from './peer.ts'

export interface Batch { epoch: number, pos: number, ops: import('../../../src/scheduler/records.ts').PersistOp[] }
export interface Snapshot { epoch: number, pos: number, records: Array<[string, unknown]> }
export interface JobRecordLike { id: string, state: string, tileCount: number, phaseCount: number }

export class Sink {
  private readonly p: VPeer
  target: number | null = null
  private stream: Stream | undefined
  private state: 'idle' | 'snapshot' | 'adopting' | 'live' = 'idle'
  private pos = 0
  private buffered: Batch[] = []
  private pending = 0
  private failed = 0
  private snap: Snapshot | undefined

  constructor (p: VPeer) { this.p = p }

  reset (): void {
    this.target = null
    this.stream = undefined
    this.state = 'idle'
    this.buffered = []
  }

  follow (master: number): void {
    if (this.target === master && this.stream?.open === true) return
    this.stop()
    this.target = master
    this.subscribe()
  }

  stop (): void {
    const s = this.stream
    this.reset()
    if (s !== undefined) { s.onBreakA = undefined; s.break() }
  }

  private subscribe (): void {
    const p = this.p
    if (this.target === null) return
    const m = p.w.peers[this.target] as VPeer
    const s = p.w.net.openStream(p.index, m.index)
    this.stream = s
    this.state = 'snapshot'
    this.buffered = []
    s.onBreakA = () => { this.broken(s) }
    const epoch = p.masterEpoch
    s.send(0, () => { m.master === undefined ? s.send(1, () => { this.onError(s) }) : m.master.onSubscribe(s, p, epoch) })
  }

  private broken (s: Stream): void {
    if (this.stream !== s) return
    this.stream = undefined
    this.state = 'idle'
    const target = this.target
    this.p.later(300, () => { if (this.target === target && this.stream === undefined) this.subscribe() })
  }

  onError (s: Stream): void { s.break() }

  onSnapshot (s: Stream, snap: Snapshot): void {
    const p = this.p
    if (s !== this.stream || this.state !== 'snapshot') return
    if (snap.epoch < p.masterEpoch) { s.break(); return }
    const theirs = new Set<string>()
    for (const [k, v] of snap.records) if (k.startsWith('j/')) theirs.add((v as JobRecordLike).id)
    const give: JobRecordLike[] = []
    for (const [k, v] of p.disk.records) {
      const job = v as JobRecordLike
      if (!k.startsWith('j/') || theirs.has(job.id)) continue
      if (job.state === 'failed' || job.state === 'cancelled') continue
      if (!p.disk.inputs.has(job.id)) continue // a peer that has the input hands it over
      give.push(job)
    }
    this.snap = snap
    if (give.length === 0) { this.adopt(); return }
    this.state = 'adopting'
    this.pending = give.length
    this.failed = 0
    const m = p.w.peers[this.target as number] as VPeer
    for (const job of give) {
      p.w.trace(`${p.id} hands ${job.id} (${job.state}) over to ${m.id}`)
      s.send(0, () => { m.master === undefined ? s.send(1, () => { this.onHandedOver(s, false) }) : m.master.onHandover(s, p, job) })
    }
  }

  onHandedOver (s: Stream, ok: boolean): void {
    if (s !== this.stream || this.state !== 'adopting') return
    this.pending--
    if (!ok) this.failed++
    if (this.pending > 0) return
    // Our queue is replaced only once every job we can give is in the new master's hands.
    if (this.failed > 0) { s.break(); return }
    this.adopt()
  }

  private adopt (): void {
    const p = this.p
    const snap = this.snap as Snapshot
    p.replaceRecords(snap.records)
    this.pos = snap.pos
    p.storedPos = snap.pos
    this.state = 'live'
    const early = this.buffered
    this.buffered = []
    for (const b of early) this.apply(b)
  }

  onBatch (s: Stream, b: Batch): void {
    if (s !== this.stream) return
    if (this.state !== 'live') { this.buffered.push(b); return }
    this.apply(b)
  }

  private apply (b: Batch): void {
    const p = this.p
    if (b.epoch < p.masterEpoch) { this.stream?.break(); return }
    if (b.pos <= this.pos) return
    p.writeOps(b.ops)
    this.pos = b.pos
    p.storedPos = b.pos
  }
}
