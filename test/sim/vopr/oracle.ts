// The invariants, checked as the simulation runs (after every event): what must never happen, whatever
// the network and the crashes do. A violation throws VoprFailure; the runner adds the seed.
import { fnv, FNV_START } from './rng.ts'
import { tileResult } from './worker.ts'
import type { MasterShell } from './master-shell.ts'
import type { VPeer } from './peer.ts'
import { VoprFailure, type World } from './world.ts'

export interface JobSpecSim { id: string, tileCount: number, phaseCount: number }

export interface Stats {
  claims: number
  failovers: number
  /** leases a new master rebuilt whose holder was alive and still computing them */
  inflightAtFailover: number
  /** of those, tiles given to another peer anyway (master.ts today: all of them) */
  recomputedAfterFailover: number
  /** ... of which the holder had crashed or restarted since the failover (not a waste) */
  recomputedHolderGone: number
  tileDones: number
  /** a tile committed a second time by another master (its queue never learnt of the first) */
  dupTileDone: number
  dupJobDone: number
  /** ... because both sides of a partition ran it */
  dupJobDoneConcurrent: number
  /** ... because a finished job was handed over after a heal and run again */
  dupJobDoneHandover: number
  /** ... because the later master's queue never had the first one's done: it died before the batch
   * reached a follower, or a heal kept the winner's queue, where the job was still running */
  dupJobDoneUnreplicated: number
  handedOver: number
  handedOverDone: number
  /** a master elected while cut off alone deposed the other side's master on heal (see found-lone-takeover) */
  loneTakeovers: number
  jobsFailed: number
}

export function newStats (): Stats {
  return { claims: 0, failovers: 0, inflightAtFailover: 0, recomputedAfterFailover: 0, recomputedHolderGone: 0, tileDones: 0, dupTileDone: 0, dupJobDone: 0, dupJobDoneConcurrent: 0, dupJobDoneHandover: 0, dupJobDoneUnreplicated: 0, handedOver: 0, handedOverDone: 0, loneTakeovers: 0, jobsFailed: 0 }
}

export class Oracle {
  private readonly w: World
  readonly stats = newStats()
  readonly accepted = new Map<string, JobSpecSim>()
  /** jobs some master finished (jobDone), with who did */
  readonly finished = new Map<string, Array<{ m: MasterShell, at: number }>>()
  readonly failed = new Set<string>()
  private readonly committed = new Map<string, number>()
  private readonly claims = new Map<number, Array<{ p: VPeer, at: number }>>()
  private readonly lastMasterEpoch: number[]
  private readonly refs = new Map<string, number>()
  /** jobs handed over while already done on the giver's side */
  private readonly rerun = new Set<string>()
  /** tiles whose lease a new master took over while its (live) worker was still on it: tile -> the
   * worker's run (peer index, incarnation) */
  private readonly carried = new Map<string, [number, number]>()
  private readonly diskJobs: Array<Set<string> | undefined>
  /** claims made by a peer cut off from every other live peer: "p@epoch" */
  private readonly lone = new Set<string>()

  constructor (w: World, peers: number) {
    this.w = w
    this.lastMasterEpoch = new Array(peers).fill(0)
    this.diskJobs = new Array(peers).fill(undefined)
  }

  fail (msg: string): never {
    throw new VoprFailure(`t=${this.w.now} ms: ${msg}`)
  }

  // ------------------------------------------------------------------ reference outputs

  /** phase data the workers of `phase` must get: the merge of the reference results of phase - 1 */
  private refData (jobId: string, phase: number): number | undefined {
    return phase === 0 ? undefined : this.refMerge(jobId, phase - 1)
  }

  refResult (jobId: string, phase: number, index: number): number {
    return tileResult(jobId, phase, index, this.refData(jobId, phase))
  }

  private refMerge (jobId: string, phase: number): number {
    const key = `${jobId}/${phase}`
    let v = this.refs.get(key)
    if (v === undefined) {
      const spec = this.accepted.get(jobId) ?? this.fail(`no spec for ${jobId}`)
      v = FNV_START
      for (let i = 0; i < spec.tileCount; i++) v = fnv(v, `${this.refResult(jobId, phase, i)},`)
      this.refs.set(key, v)
    }
    return v
  }

  /** The merge a master computes from the committed results (any peer's copy: they are shared). */
  merge (m: MasterShell, jobId: string, phase: number): number {
    const spec = this.accepted.get(jobId) ?? this.fail(`${m.p.id} merges unknown job ${jobId}`)
    let v = FNV_START
    for (let i = 0; i < spec.tileCount; i++) {
      const r = this.committed.get(`${jobId}/${phase}/${i}`)
      if (r === undefined) this.fail(`${m.p.id} (epoch ${m.epoch}) completed phase ${phase} of ${jobId} but tile ${i} was never committed`)
      v = fnv(v, `${r},`)
    }
    return v
  }

  // ------------------------------------------------------------------ events

  accept (spec: JobSpecSim): void { this.accepted.set(spec.id, spec) }

  claimed (p: VPeer, epoch: number): void {
    const w = this.w
    this.stats.claims++
    const last = this.lastMasterEpoch[p.index] as number
    if (epoch <= last) this.fail(`${p.id} became master at epoch ${epoch} after having been master at epoch ${last}`)
    this.lastMasterEpoch[p.index] = epoch
    const list = this.claims.get(epoch) ?? []
    // Two claims of one epoch are allowed only across a cut: peers that could reach each other the
    // whole time (heartbeats lose at most a few in a row) must see each other's claim.
    const window = w.cfg.deadAfterMs + 2 * w.cfg.heartbeatMs + w.net.cfg.maxDelay + w.net.cfg.lateMs + w.cfg.persistMs[1]
    for (const c of list) {
      if (c.p === p) continue
      if (w.net.lastCutOf(p.index, c.p.index) >= c.at - window) continue
      this.fail(`two masters at epoch ${epoch}: ${c.p.id} (t=${c.at}) and ${p.id}, connected all along`)
    }
    list.push({ p, at: w.now })
    this.claims.set(epoch, list)
    const others = w.peers.filter(q => q !== p)
    if (others.some(q => q.up) && others.every(q => !w.net.reachable(p.index, q.index))) this.lone.add(`${p.id}@${epoch}`)
  }

  /** `loser` was master and now follows `winner`: was the winner elected alone behind a cut? */
  deposed (loser: VPeer, winner: string, epoch: number): void {
    if (!this.lone.has(`${winner}@${epoch}`)) return
    // Elected alone, but a side's master since (the old master was cut off in turn and the others came
    // to it): a peer besides the loser follows it, so it is not the lone peer taking the swarm back.
    const followers = (id: string): number => this.w.peers.filter(q => (q as VPeer).up && q !== loser && q.id !== id && (q as VPeer).election.role === 'follower' && (q as VPeer).election.master === id).length
    if (followers(winner) > 0) return
    // Both alone (the loser's followers died or were cut off too): a tie, broken by rank, is no takeover.
    if (this.w.peers.filter(q => (q as VPeer).up && q.id !== winner && q !== loser && (q as VPeer).election.master === loser.id).length === 0) return
    this.stats.loneTakeovers++
    this.w.trace(`${winner} (elected alone at epoch ${epoch}) deposes ${loser.id}`)
    if (this.w.cfg.strictSticky) this.fail(`${winner}, elected at epoch ${epoch} while cut off alone, took the swarm over from ${loser.id} on heal (design: "a healed peer that was alone does not take the swarm over")`)
  }

  activated (m: MasterShell): void {
    const w = this.w
    if (m.q.leases.size === 0) return
    this.stats.failovers++
    for (const l of m.q.leases.values()) {
      const holder = w.peers[Number(l.peer.slice(1))] as VPeer
      if (holder !== m.p && holder.up && holder.worker.computing(l.leaseId)) {
        this.stats.inflightAtFailover++
        this.carried.set(`${l.jobId}/${l.phase}/${l.index}`, [holder.index, holder.incarnation])
      }
    }
  }

  tileDone (m: MasterShell, jobId: string, phase: number, index: number, result: number | undefined): void {
    const key = `${jobId}/${phase}/${index}`
    this.stats.tileDones++
    if (m.doneAtStart.has(key)) this.fail(`${m.p.id} (epoch ${m.epoch}) committed ${key} again: its queue had it done when it took over`)
    if (m.doneHere.has(key)) this.fail(`${m.p.id} (epoch ${m.epoch}) committed ${key} twice (tileDone must come once per tile)`)
    m.doneHere.add(key)
    if (result === undefined) this.fail(`${m.p.id} committed ${key} without a result`)
    const ref = this.refResult(jobId, phase, index)
    if (result !== ref) this.fail(`${m.p.id} committed ${key} = ${result}, the reference is ${ref} (wrong phase data?)`)
    this.carried.delete(key)
    if (this.committed.has(key)) this.stats.dupTileDone++
    this.committed.set(key, result)
  }

  jobDone (m: MasterShell, jobId: string): void {
    const spec = this.accepted.get(jobId) ?? this.fail(`${m.p.id} finished ${jobId}, which was never accepted`)
    if (m.doneAtStart.has(jobId)) this.fail(`${m.p.id} (epoch ${m.epoch}) stitched ${jobId} again: its queue had it done when it took over`)
    if (m.doneHere.has(jobId)) this.fail(`${m.p.id} (epoch ${m.epoch}) stitched ${jobId} twice`)
    m.doneHere.add(jobId)
    const last = spec.phaseCount - 1
    for (let i = 0; i < spec.tileCount; i++) {
      const r = this.committed.get(`${jobId}/${last}/${i}`)
      if (r !== this.refResult(jobId, last, i)) this.fail(`${m.p.id} stitched ${jobId} but tile ${i} is ${r ?? 'missing'}: the output differs from the reference`)
    }
    const list = this.finished.get(jobId) ?? []
    if (list.length > 0) {
      this.stats.dupJobDone++
      if (this.rerun.has(jobId)) {
        this.stats.dupJobDoneHandover++
        if (this.w.cfg.strictHandover) this.fail(`${jobId} stitched twice: it was done when ${m.p.id} got it by hand-over (swarm-node.ts hands over done jobs)`)
      } else if (list.some(x => x.m.active)) this.stats.dupJobDoneConcurrent++
      else this.stats.dupJobDoneUnreplicated++
    }
    list.push({ m, at: this.w.now })
    this.finished.set(jobId, list)
    this.w.trace(`${m.p.id} jobDone ${jobId} epoch=${m.epoch}`)
  }

  jobFailed (m: MasterShell, jobId: string, reason: string): void {
    this.stats.jobsFailed++
    this.failed.add(jobId)
    this.w.trace(`${m.p.id} jobFailed ${jobId}: ${reason}`)
  }

  handedOver (m: MasterShell, jobId: string, state: string): void {
    this.stats.handedOver++
    if (state === 'done') { this.stats.handedOverDone++; this.rerun.add(jobId) }
    this.w.trace(`${m.p.id} takes ${jobId} (${state}) by hand-over`)
  }

  /** A tile leased again before the worker that still had it over a failover could deliver it. */
  assigned (jobId: string, phase: number, index: number): void {
    const key = `${jobId}/${phase}/${index}`
    const run = this.carried.get(key)
    if (run === undefined) return
    // A speculative copy at the job's end runs beside the carried lease, which the queue keeps: the
    // failover lost nothing, so it is no recomputation after failover. The tile stays carried: if the
    // holder's lease is dropped later and the tile leased again, that one counts.
    if (this.copiedBeside(jobId, phase, index, run[0])) return
    this.carried.delete(key)
    this.stats.recomputedAfterFailover++
    if ((this.w.peers[run[0]] as VPeer).incarnation !== run[1]) this.stats.recomputedHolderGone++
  }

  /** some active master's queue has this tile speculated, with one of its two leases on `holder` */
  private copiedBeside (jobId: string, phase: number, index: number, holder: number): boolean {
    const id = (this.w.peers[holder] as VPeer).id
    for (const p of this.w.peers) {
      const m = p.master
      if (m == null || !m.active) continue
      const job = m.q.jobs.get(jobId)
      if (job?.tiles === undefined || job.phase !== phase) continue
      const tile = job.tiles.touched.get(index)
      if (tile?.copy !== undefined && (tile.copy.peer === id || tile.lease?.peer === id)) return true
    }
    return false
  }

  diskChanged (p: VPeer): void { this.diskJobs[p.index] = undefined }

  private jobsOn (p: VPeer): Set<string> {
    let s = this.diskJobs[p.index]
    if (s === undefined) {
      s = new Set()
      for (const [k, v] of p.disk.records) if (k.startsWith('j/')) s.add((v as { id: string }).id)
      this.diskJobs[p.index] = s
    }
    return s
  }

  // ------------------------------------------------------------------ checked after every event

  checkAll (quietSince: number): void {
    const w = this.w
    // No accepted job is lost: until some master finished it, some peer's disk (its queue or its
    // replica; a crashed peer's disk counts, it comes back) still has it.
    for (const id of this.accepted.keys()) {
      if (this.finished.has(id) || this.failed.has(id)) continue
      let known = false
      for (const p of w.peers) if (this.jobsOn(p).has(id)) { known = true; break }
      if (!known) this.fail(`accepted job ${id} is lost: no peer's queue or replica has it`)
    }
    // One master per connected group once the swarm has been quiet for the convergence bound.
    const bound = w.cfg.graceMs + w.cfg.deadAfterMs + 4 * w.cfg.heartbeatMs + w.net.cfg.lateMs
    if (w.now - quietSince < bound) return
    const masters = w.peers.filter(p => p.up && p.election.role === 'master')
    for (const a of masters) {
      for (const b of masters) {
        if (a.index < b.index && w.net.reachable(a.index, b.index)) {
          this.fail(`two masters in one connected group ${bound} ms after the last fault: ${a.id} (epoch ${a.election.masterEpoch}) and ${b.id} (epoch ${b.election.masterEpoch})`)
        }
      }
    }
  }
}
