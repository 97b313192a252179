// The master's shell around the queue machine, with the master planner's decisions (capacity, the
// unreachable backoff, which failures count) and the machine's semantics for a failover: leases rebuilt
// from the replica are kept (cfg.markHoldersDead marks every holder dead instead, to count what that
// would cost). Every persist batch goes to disk, then to each subscribed follower, in order.
import {
  checkInvariants, phaseData, rebuildQueueState, step, toRecords, type QueueEffect, type QueueEvent, type QueueState
} from '../../../src/scheduler/queue-machine.ts'
import { capacity, isTransient, newPlan, UNREACHABLE_MS, type MasterPlan } from '../../../src/scheduler/master-planner.ts'
import type { Stream } from './network.ts'
import type { Notice, VPeer } from './peer.ts'
import type { JobRecordLike } from './sink.ts'
import type { Assign } from './worker.ts'

export class MasterShell {
  readonly p: VPeer
  readonly epoch: number
  q!: QueueState
  active = false
  readonly activatedAt: number
  private readonly subs = new Set<{ s: Stream, f: VPeer }>()
  /** the planner's state beside the queue: the live view and the peers kept out after a failed delivery */
  private plan!: MasterPlan
  /** tiles (job/phase/index) and jobs its queue already had done when it took over */
  readonly doneAtStart = new Set<string>()
  /** ... and those it committed itself */
  readonly doneHere = new Set<string>()
  private result: number | undefined

  constructor (p: VPeer, epoch: number) {
    this.p = p
    this.epoch = epoch
    this.activatedAt = p.w.now
  }

  activate (): void {
    const p = this.p
    const w = p.w
    const cfg = w.cfg
    try {
      this.q = rebuildQueueState(p.disk.records, { config: { leaseMs: cfg.leaseMs, prefetch: cfg.prefetch, maxAttempts: cfg.maxAttempts }, now: w.now })
    } catch (err) {
      w.oracle.fail(`${p.id} cannot rebuild its queue at epoch ${this.epoch}: ${(err as Error).message}`)
    }
    this.plan = newPlan({ self: p.id, slots: p.slots, leaseMs: cfg.leaseMs, masterWorkLimit: cfg.masterWorkLimit }, this.q, this.epoch)
    this.active = true
    for (const job of this.q.jobs.values()) {
      if (job.state === 'done') this.doneAtStart.add(job.id)
      if (job.tiles === undefined) continue
      for (const [i, t] of job.tiles.touched) if (t.state === 'done') this.doneAtStart.add(`${job.id}/${job.phase}/${i}`)
    }
    w.oracle.activated(this)
    this.step({ type: 'elected', epoch: this.epoch, now: w.now })
    if (cfg.markHoldersDead) {
      const holders = new Set([...this.q.leases.values()].map(l => l.peer))
      for (const peer of holders) this.step({ type: 'peerDead', peer, now: w.now })
    }
    this.refreshPeers()
    const loop = (): void => { if (this.active) { this.refreshPeers(); p.later(cfg.queueTickMs, loop) } }
    p.later(cfg.queueTickMs, loop)
  }

  deactivate (): void {
    if (!this.active) return
    this.active = false
    this.p.w.trace(`${this.p.id} steps down from epoch ${this.epoch}`)
    for (const sub of this.subs) sub.s.break()
    this.subs.clear()
  }

  step (event: QueueEvent): QueueEffect[] {
    if (!this.active) return []
    const w = this.p.w
    let effects: QueueEffect[]
    try {
      effects = step(this.q, event).effects
      checkInvariants(this.q)
    } catch (err) {
      return w.oracle.fail(`queue of ${this.p.id} (epoch ${this.epoch}) on ${event.type}: ${(err as Error).message}`)
    }
    this.apply(effects)
    return effects
  }

  private apply (effects: QueueEffect[]): void {
    const p = this.p
    const w = p.w
    for (const e of effects) {
      switch (e.type) {
        case 'persist': {
          p.writeOps(e.ops)
          const b = { epoch: this.epoch, pos: this.q.pos, ops: e.ops }
          for (const sub of this.subs) sub.s.send(1, () => { sub.f.sink.onBatch(sub.s, b) })
          break
        }
        case 'assign':
          w.trace(`${p.id} assign ${e.jobId}/${e.phase}/${e.index} to ${e.peer} lease ${e.leaseId}`)
          this.dispatch(e)
          break
        case 'requeued': w.trace(`${p.id} requeued ${e.jobId}/${e.phase}/${e.index} from ${e.peer} (${e.reason})`); break
        case 'revoke': {
          const t = w.peers[Number(e.peer.slice(1))] as VPeer
          if (t === p) t.worker.onRevoke(e.leaseId)
          else w.net.datagram(p.index, t.index, () => { t.worker.onRevoke(e.leaseId) })
          break
        }
        case 'tileDone':
          w.trace(`${p.id} tileDone ${e.jobId}/${e.phase}/${e.index} by ${e.peer} lease ${e.leaseId}`)
          w.oracle.tileDone(this, e.jobId, e.phase, e.index, this.result); break
        case 'phaseComplete': {
          const { jobId, phase } = e
          p.later(w.rng.int(1, 50), () => {
            if (!this.active) return
            const job = this.q.jobs.get(jobId)
            if (job === undefined || !job.awaitingReady || job.phase !== phase) return
            this.step({ type: 'phaseReady', jobId, phase: phase + 1, data: w.oracle.merge(this, jobId, phase), now: w.now })
          })
          break
        }
        case 'jobDone': w.oracle.jobDone(this, e.jobId); break
        case 'jobFailed': w.oracle.jobFailed(this, e.jobId, e.reason); break
        default: break
      }
    }
  }

  private dispatch (a: Extract<QueueEffect, { type: 'assign' }>): void {
    const p = this.p
    const w = p.w
    w.oracle.assigned(a.jobId, a.phase, a.index)
    const msg: Assign = { jobId: a.jobId, phase: a.phase, index: a.index, leaseId: a.leaseId, epoch: a.epoch, data: phaseData(this.q, a.jobId, a.phase), master: p.index }
    const t = w.peers[Number(a.peer.slice(1))] as VPeer
    const where = { jobId: a.jobId, phase: a.phase, index: a.index, leaseId: a.leaseId, peer: a.peer, epoch: a.epoch }
    // A tile that cannot be delivered (a cut, a crash, a refusal) is a transient failure: not counted.
    const undelivered = (why: string): void => {
      p.later(w.cfg.rpcTimeoutMs, () => {
        if (!this.active) return
        this.plan.unreachable.set(a.peer, w.now + UNREACHABLE_MS)
        this.step({ type: 'failed', ...where, reason: why, transient: isTransient('unreachable'), now: w.now })
        this.refreshPeers()
      })
    }
    if (t === p) {
      if (!t.worker.onAssign(msg)) undelivered('refused')
      return
    }
    w.net.datagram(p.index, t.index, () => {
      if (!t.worker.onAssign(msg)) w.net.datagram(t.index, p.index, () => { undelivered('stale epoch') }, false, () => { undelivered('lost') })
    }, false, () => { undelivered('unreachable') })
  }

  /** A worker's renew or done notice; true when the queue took it. */
  onNotice (n: Notice): boolean {
    const w = this.p.w
    const where = { jobId: n.jobId, phase: n.phase, index: n.index, leaseId: n.leaseId, peer: n.peer, epoch: n.epoch, now: w.now }
    this.result = n.result
    const effects = this.step(n.type === 'renew' ? { type: 'renew', ...where } : { type: 'done', ...where })
    this.result = undefined
    return !effects.some(e => e.type === 'ignored')
  }

  /** The live view as the master planner builds it: every live peer's capacity, this one's while few others work. */
  refreshPeers (): void {
    const p = this.p
    const w = p.w
    const plan = this.plan
    plan.view = p.liveView().map(hb => ({ peer: hb.peerId, freeSlots: hb.load.freeSlots, busyTiles: hb.load.busyTiles }))
    this.step({ type: 'peers', view: capacity(plan, w.now), now: w.now })
    this.step({ type: 'tick', now: w.now })
  }

  peerDead (peer: string): void {
    this.step({ type: 'peerDead', peer, now: this.p.w.now })
  }

  /** A standby for a new job's input: another live peer we can reach (JobCopies.placeInput). */
  standby (): VPeer | undefined {
    const p = this.p
    for (const hb of p.liveView()) {
      const q = p.w.peers[Number(hb.peerId.slice(1))] as VPeer
      if (p.w.net.reachable(p.index, q.index)) return q
    }
    return undefined
  }

  // ------------------------------------------------------------------ replication source

  onSubscribe (s: Stream, f: VPeer, epoch: number): void {
    if (!this.active || epoch > this.epoch) { s.send(1, () => { f.sink.onError(s) }); return }
    const sub = { s, f }
    this.subs.add(sub)
    s.onBreakB = () => { this.subs.delete(sub) }
    const snap = { epoch: this.epoch, pos: this.q.pos, records: toRecords(this.q) as Array<[string, unknown]> }
    s.send(1, () => { f.sink.onSnapshot(s, snap) })
  }

  /** job-service.ts takeOver: queued here under its own id unless known, once a standby has the input. */
  onHandover (s: Stream, from: VPeer, job: JobRecordLike): void {
    const p = this.p
    const w = p.w
    let ok = true
    if (!this.active) ok = false
    else if (!this.q.jobs.has(job.id)) {
      const standby = this.standby()
      if (standby === undefined && p.liveView().length > 0) ok = false
      else {
        p.disk.inputs.add(job.id)
        standby?.disk.inputs.add(job.id)
        w.oracle.handedOver(this, job.id, job.state)
        this.step({ type: 'submit', job: { id: job.id, tileCount: job.tileCount, phaseCount: job.phaseCount }, now: w.now })
      }
    }
    s.send(1, () => { from.sink.onHandedOver(s, ok) })
  }
}
