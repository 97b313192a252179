// A virtual worker. It "computes" a tile by waiting, and its result is a hash of the tile's address and
// the phase data it was sent, so a stale merge or a wrong commit shows in the output. As the real worker
// with the tile-done protocol: renewals and the result go to the master this peer follows NOW, so a
// lease outlives a failover; the result is re-sent until a master answers.
import { fnv, FNV_START } from './rng.ts'
import type { Notice, VPeer } from './peer.ts'

export interface Assign {
  jobId: string
  phase: number
  index: number
  leaseId: string
  epoch: number
  /** phaseData of the current phase (the merged statistics of the one before) */
  data: unknown
  master: number
}

interface Task extends Assign { result?: number }

export function tileResult (jobId: string, phase: number, index: number, data: unknown): number {
  return fnv(FNV_START, `${jobId}/${phase}/${index}/${data === undefined || data === null ? '' : String(data)}`)
}

export class Worker {
  private readonly p: VPeer
  private readonly running = new Map<string, Task>()
  private readonly outbox = new Map<string, Task>()

  constructor (p: VPeer) { this.p = p }

  get busy (): number { return this.running.size }

  /** the lease ids being computed now (for the failover count) */
  computing (leaseId: string): boolean { return this.running.has(leaseId) || this.outbox.has(leaseId) }

  reset (): void {
    this.running.clear()
    this.outbox.clear()
  }

  /** false: refused (the lease is from an older epoch than the master this peer follows) */
  onAssign (a: Assign): boolean {
    const p = this.p
    if (a.epoch < p.masterEpoch) return false
    if (this.running.has(a.leaseId) || this.outbox.has(a.leaseId)) return true // a duplicate
    this.running.set(a.leaseId, { ...a })
    const w = p.w
    const [lo, hi] = w.cfg.computeMs
    p.later(Math.round(w.rng.int(lo, hi) * p.speed), () => { this.finish(a.leaseId) })
    const renewMs = Math.max(10, Math.floor(w.cfg.leaseMs / 4))
    const renew = (): void => {
      const t = this.running.get(a.leaseId)
      if (t === undefined) return
      this.notify('renew', t)
      p.later(renewMs, renew)
    }
    p.later(renewMs, renew)
    return true
  }

  onRevoke (leaseId: string): void {
    this.running.delete(leaseId)
    this.outbox.delete(leaseId)
  }

  onAck (leaseId: string, _accepted: boolean): void {
    // Taken or ignored, a master has answered: the notice is settled either way.
    this.outbox.delete(leaseId)
  }

  private finish (leaseId: string): void {
    const t = this.running.get(leaseId)
    if (t === undefined) return
    this.running.delete(leaseId)
    t.result = tileResult(t.jobId, t.phase, t.index, t.data)
    this.outbox.set(leaseId, t)
    const resend = (): void => {
      const d = this.outbox.get(leaseId)
      if (d === undefined) return
      this.notify('done', d)
      this.p.later(500, resend)
    }
    resend()
  }

  private notify (type: 'renew' | 'done', t: Task): void {
    const p = this.p
    const m = p.election.master
    if (m == null) return
    const n: Notice = { type, jobId: t.jobId, phase: t.phase, index: t.index, leaseId: t.leaseId, epoch: t.epoch, peer: p.id, result: t.result }
    if (m === p.id) {
      if (p.master == null) return
      const accepted = p.master.onNotice(n)
      if (type === 'done') this.onAck(t.leaseId, accepted)
      return
    }
    const target = p.w.peers[Number(m.slice(1))] as VPeer
    p.w.net.datagram(p.index, target.index, () => { target.onNotice(n, p.index) })
  }
}
