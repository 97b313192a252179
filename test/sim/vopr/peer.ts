// A virtual peer: the membership and election machines driven as src/node/peer.ts drives them, a disk
// (the epoch file, the queue sublevel that is both the master's queue and a follower's replica, the
// job inputs it stores) that survives a crash, a worker, a replication sink, and the master shell
// while it is master. Only the machines decide; this file mirrors the shell's wiring, not its I/O.
import type { Heartbeat } from '../../../src/node/heartbeat.ts'
import { initMembership, liveMembers, stepMembership, type MembershipState } from '../../../src/node/membership.ts'
import { initElection, stepElection, type Candidate, type ElectionEffect, type ElectionEvent, type ElectionState } from '../../../src/node/election.ts'
import type { PersistOp } from '../../../src/scheduler/records.ts'
import type { Endpoint } from './network.ts'
import { MasterShell } from './master-shell.ts'
import { Sink } from './sink.ts'
import { Worker } from './worker.ts'
import type { World } from './world.ts'

export interface Disk {
  epoch: number
  records: Map<string, unknown>
  /** job inputs this peer holds (the accepting master and its standby): only they hand a job over */
  inputs: Set<string>
}

const candidate = (hb: Heartbeat): Candidate => ({ peerId: hb.peerId, role: hb.role, epoch: hb.epoch, eligible: hb.eligible, replicaPos: hb.replicaPos, master: hb.master })

export class VPeer implements Endpoint {
  readonly w: World
  readonly index: number
  readonly id: string
  readonly slots: number
  /** compute time multiplier: some peers are slow */
  readonly speed: number
  up = false
  incarnation = 0
  upSince = 0
  readonly disk: Disk = { epoch: 0, records: new Map(), inputs: new Set() }
  membership!: MembershipState
  election!: ElectionState
  private seq = 0
  private advertisedPos = 0
  /** what the replica (or the queue) holds: its meta position */
  storedPos = 0
  private persistDoneAt = 0
  master: MasterShell | undefined
  readonly worker: Worker
  readonly sink: Sink
  private electionEpoch = 0

  constructor (w: World, index: number, slots: number, speed: number) {
    this.w = w
    this.index = index
    this.id = `p${index}`
    this.slots = slots
    this.speed = speed
    this.worker = new Worker(this)
    this.sink = new Sink(this)
  }

  /** Runs fn later, unless this run of the peer has ended by then. */
  later (delay: number, fn: () => void): void {
    const inc = this.incarnation
    this.w.at(delay, () => { if (this.up && this.incarnation === inc) fn() })
  }

  /** The epoch of the master this peer follows (SwarmPeer.epoch): workers and the sink fence on it. */
  get masterEpoch (): number { return this.election.masterEpoch }

  start (): void {
    const w = this.w
    w.net.noteCuts()
    this.up = true
    this.incarnation++
    this.upSince = w.now
    this.seq = 0
    const cfg = w.cfg
    this.membership = initMembership({ self: this.id, deadAfterMs: cfg.deadAfterMs, forgetAfterMs: cfg.forgetAfterMs })
    this.election = initElection({ self: this.id, eligible: true, graceMs: cfg.graceMs }, this.disk.epoch, w.now)
    this.electionEpoch = this.election.epoch
    const meta = this.disk.records.get('m') as { pos?: number } | undefined
    this.storedPos = meta?.pos ?? 0
    this.persistDoneAt = w.now
    w.trace(`${this.id} start inc=${this.incarnation} epoch=${this.disk.epoch} pos=${this.storedPos}`)
    const hbLoop = (): void => { this.publish(); this.later(cfg.heartbeatMs, hbLoop) }
    const tickLoop = (): void => { this.tick(); this.later(cfg.tickMs, tickLoop) }
    this.later(w.rng.int(0, cfg.heartbeatMs - 1), hbLoop)
    this.later(w.rng.int(1, cfg.tickMs), tickLoop)
  }

  crash (): void {
    const w = this.w
    w.trace(`${this.id} crash${this.master != null ? ' (master)' : ''}`)
    w.net.noteCuts()
    if (this.master != null) this.master.deactivate()
    this.master = undefined
    this.sink.reset()
    this.worker.reset()
    this.up = false
    this.incarnation++ // every timer and message of the dead run is void
  }

  // ------------------------------------------------------------------ membership and election

  private heartbeat (): Heartbeat {
    const e = this.election
    if (this.master != null) this.storedPos = this.master.q.pos
    return {
      v: 1,
      peerId: this.id,
      name: this.id,
      incarnation: this.incarnation,
      seq: ++this.seq,
      role: e.role,
      epoch: e.role === 'master' ? e.masterEpoch : e.epoch,
      master: e.master,
      eligible: true,
      replicaPos: this.advertisedPos = this.storedPos,
      load: { cores: this.slots, freeSlots: Math.max(0, this.slots - this.worker.busy), busyTiles: this.worker.busy, freeMem: 0, tileSpeed: 0 },
      arch: 'sim',
      platform: 'sim',
      version: 'vopr',
      addrs: []
    }
  }

  publish (): void {
    const hb = this.heartbeat()
    for (const q of this.w.peers) if (q !== this) this.w.net.datagram(this.index, q.index, () => { q.onHeartbeat(hb) }, true)
  }

  onHeartbeat (hb: Heartbeat): void {
    const r = stepMembership(this.membership, { type: 'heartbeat', hb, now: this.w.now })
    this.membership = r.state
    this.onMembershipEffects(r.effects)
    if (hb.role !== 'follower' || hb.master !== this.election.master) this.runElection()
  }

  private tick (): void {
    const r = stepMembership(this.membership, { type: 'tick', now: this.w.now })
    this.membership = r.state
    this.onMembershipEffects(r.effects)
    this.runElection()
  }

  private onMembershipEffects (effects: ReturnType<typeof stepMembership>['effects']): void {
    for (const e of effects) {
      if (e.type === 'joined') this.master?.refreshPeers()
      else this.master?.peerDead(e.peer)
    }
  }

  liveView (): Heartbeat[] { return liveMembers(this.membership) }

  /** Connected peers not heard yet (SwarmPeer.unheard): a connection younger than the failure timeout. */
  private unheard (): number {
    let n = 0
    for (const q of this.w.peers) {
      if (q === this || !this.w.net.reachable(this.index, q.index)) continue
      if (this.membership.members.get(q.id)?.alive === true) continue
      const since = Math.max(this.upSince, q.upSince, this.w.net.lastCutOf(this.index, q.index))
      if (this.w.now - since < this.w.cfg.deadAfterMs) n++
    }
    return n
  }

  private runElection (): void {
    const replicaPos = this.advertisedPos
    if (replicaPos !== this.election.replicaPos) this.stepElection({ type: 'replica', replicaPos })
    this.stepElection({ type: 'tick', now: this.w.now, live: this.liveView().map(candidate), unheard: this.unheard() })
  }

  private stepElection (event: ElectionEvent): void {
    const r = stepElection(this.election, event)
    this.election = r.state
    if (r.state.epoch < this.electionEpoch) this.w.oracle.fail(`epoch went backwards on ${this.id}: election epoch ${this.electionEpoch} -> ${r.state.epoch}`)
    this.electionEpoch = r.state.epoch
    for (const e of r.effects) this.onElectionEffect(e)
  }

  private onElectionEffect (e: ElectionEffect): void {
    const w = this.w
    if (e.type === 'persist-epoch') {
      // Serialised writes, as SwarmPeer's persistChain: a lower epoch never lands after a higher one.
      const doneAt = Math.max(w.now, this.persistDoneAt) + w.rng.int(w.cfg.persistMs[0], w.cfg.persistMs[1])
      this.persistDoneAt = doneAt
      this.later(doneAt - w.now, () => {
        const before = this.disk.epoch
        this.disk.epoch = Math.max(e.epoch, this.disk.epoch)
        if (this.disk.epoch < before) w.oracle.fail(`persisted epoch went backwards on ${this.id}`)
        if (e.claim) this.stepElection({ type: 'persisted', epoch: e.epoch, live: this.liveView().map(candidate) })
      })
      return
    }
    if (e.type === 'epoch-refused') { w.trace(`${this.id} epoch-refused peer=${e.peer} epoch=${e.epoch}`); return }
    w.trace(`${this.id} master-changed master=${e.master ?? '-'} epoch=${e.epoch} self=${e.self}`)
    if (e.self) {
      this.sink.stop()
      w.oracle.claimed(this, e.epoch)
      if (this.master != null) this.master.deactivate()
      this.master = new MasterShell(this, e.epoch)
      this.master.activate()
    } else {
      if (this.master != null) {
        if (e.master != null) w.oracle.deposed(this, e.master, e.epoch)
        this.master.deactivate()
        this.master = undefined
      }
      if (e.master == null) this.sink.stop()
      else this.sink.follow(Number(e.master.slice(1)))
    }
    this.publish()
  }

  // ------------------------------------------------------------------ disk

  writeOps (ops: readonly PersistOp[]): void {
    const r = this.disk.records
    for (const op of ops) {
      if (op.type === 'put') r.set(op.key, op.value)
      else r.delete(op.key)
    }
    this.w.oracle.diskChanged(this)
  }

  replaceRecords (records: Array<[string, unknown]>): void {
    this.disk.records = new Map(records)
    this.w.oracle.diskChanged(this)
  }

  // ------------------------------------------------------------------ routing to the master shell

  onNotice (n: Notice, from: number): void {
    const m = this.master
    if (m == null) return // not master: no answer, the worker tries its master again
    const accepted = m.onNotice(n)
    const worker = this.w.peers[from] as VPeer
    if (n.type === 'done') this.w.net.datagram(this.index, from, () => { worker.worker.onAck(n.leaseId, accepted) })
  }
}

export interface Notice {
  type: 'renew' | 'done'
  jobId: string
  phase: number
  index: number
  leaseId: string
  epoch: number
  peer: string
  result?: number
}
