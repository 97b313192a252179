// Randomized fault schedules from fixed seeds: peers die, come back, change their slots, fail tiles,
// stall, send late and duplicate results; the master restarts from its records. Whatever happens, no
// tile is lost, no tile is done twice, the disk always equals the state, and every job ends done,
// failed or cancelled. Most seeds speculate (idle peers get copies of in-flight tiles at a job's end):
// a copy only ever runs beside another lease of its tile, on another peer, within the limit.
import { describe, expect, it } from 'vitest'
import {
  type QueueConfig, type QueueEffect, getJob, leasesOf, listJobs, rebuildQueueState
} from '../../src/scheduler/queue-machine.ts'
import { Driver, type Eff, ofType, prng } from './helpers.ts'

function check (ok: boolean, message: string): void {
  if (!ok) throw new Error(message) // plain throws on the hot path: expect() is slow in a 10k-step loop
}

interface Outcome { done: number, failed: number, cancelled: number, restarts: number, ignored: number, steps: number, copies: number, copyWins: number, originalWins: number, preempted: number }

function runSeed (seed: number): Outcome {
  const r = prng(seed)
  const config: QueueConfig = { leaseMs: 1000, maxLeaseMs: seed % 3 === 0 ? 3000 : 1e9, prefetch: r.int(0, 2), maxAttempts: r.int(2, 3), maxLapses: r.int(2, 6), speculate: seed % 5 !== 0, maxSpeculative: r.int(1, 3) }
  const d = new Driver(config)
  d.checkKv = false // checked every few steps below (it is O(records))
  const peers = ['p1', 'p2', 'p3', 'p4', 'p5']
  const slots = new Map(peers.map(p => [p, r.int(0, 3)]))
  const alive = new Map(peers.map(p => [p, true]))
  // what each worker believes it holds: must always equal the master's leases of that peer
  const holding = new Map(peers.map(p => [p, new Map<string, Eff<'assign'>>()]))
  const zombies: Array<Eff<'assign'>> = [] // leases a worker lost: their results arrive late
  const finished: Array<Eff<'assign'>> = [] // leases already completed: duplicates
  const jobs = new Map<string, { tileCount: number, phaseCount: number }>()
  const doneTiles = new Map<string, Set<string>>()
  const ended = new Map<string, 'done' | 'failed' | 'cancelled'>()
  const pendingMerge: Array<{ jobId: string, phase: number }> = []
  let epoch = 1
  const out: Outcome = { done: 0, failed: 0, cancelled: 0, restarts: 0, ignored: 0, steps: 0, copies: 0, copyWins: 0, originalWins: 0, preempted: 0 }
  const copyIds = new Set<string>()
  // a job's history as the effects tell it: its first lease's time, the peers whose results completed its tiles
  const startedAt = new Map<string, number>()
  const workers = new Map<string, Set<string>>()
  const tileOf = (e: { jobId: string, phase: number, index: number }): string => `${e.jobId}/${e.phase}/${e.index}`

  const handle = (effects: QueueEffect[]): void => {
    out.steps++
    for (const e of effects) {
      switch (e.type) {
        case 'assign': {
          check(alive.get(e.peer) === true, `assign to dead ${e.peer}`)
          check(slots.get(e.peer)! > 0, `assign to ${e.peer} without slots`)
          check(!ended.has(e.jobId), `assign for ended ${e.jobId}`)
          if (!startedAt.has(e.jobId)) startedAt.set(e.jobId, e.deadline - config.leaseMs)
          const h = holding.get(e.peer)!
          h.set(e.leaseId, e)
          check(h.size <= slots.get(e.peer)! + config.prefetch, `${e.peer} over its limit`)
          if (e.speculative === true) {
            out.copies++
            copyIds.add(e.leaseId)
            check(config.speculate, `a copy with speculate off: ${e.leaseId}`)
            check(h.size <= slots.get(e.peer)!, `a copy in a prefetch slot of ${e.peer}`)
            const job = getJob(d.state, e.jobId)!
            check(job.queued === 0, `a copy of ${tileOf(e)} while ${job.queued} tiles are queued`)
            const beside = leasesOf(d.state).filter(l => tileOf(l) === tileOf(e) && l.leaseId !== e.leaseId)
            check(beside.length === 1 && beside[0]!.peer !== e.peer, `copy ${e.leaseId} of ${tileOf(e)} beside ${JSON.stringify(beside)}`)
          }
          break
        }
        case 'revoke':
        case 'leaseEnded':
        case 'requeued': {
          if (e.type === 'revoke' && e.reason === 'speculated' && copyIds.has(e.leaseId)) out.originalWins++
          if (e.type === 'revoke' && e.reason === 'preempted') {
            check(copyIds.has(e.leaseId), `preempted ${e.leaseId}, which is no copy`)
            out.preempted++
          }
          const a = holding.get(e.peer)?.get(e.leaseId)
          if (a !== undefined) {
            holding.get(e.peer)!.delete(e.leaseId)
            zombies.push(a)
          }
          break
        }
        case 'tileDone': {
          const set = doneTiles.get(e.jobId) ?? new Set()
          doneTiles.set(e.jobId, set)
          const key = `${e.phase}/${e.index}`
          check(!set.has(key), `tile ${e.jobId}/${key} done twice`)
          set.add(key)
          workers.set(e.jobId, (workers.get(e.jobId) ?? new Set()).add(e.peer))
          if (copyIds.has(e.leaseId)) out.copyWins++
          break
        }
        case 'phaseComplete': {
          const { tileCount } = jobs.get(e.jobId)!
          const set = doneTiles.get(e.jobId)!
          for (let i = 0; i < tileCount; i++) check(set.has(`${e.phase}/${i}`), `phaseComplete ${e.jobId}/${e.phase} without tile ${i}`)
          if (!pendingMerge.some(p => p.jobId === e.jobId)) pendingMerge.push({ jobId: e.jobId, phase: e.phase })
          break
        }
        case 'jobDone': {
          const { tileCount, phaseCount } = jobs.get(e.jobId)!
          check(!ended.has(e.jobId), `${e.jobId} ended twice`)
          check(doneTiles.get(e.jobId)?.size === tileCount * phaseCount, `${e.jobId} done without all its tiles`)
          ended.set(e.jobId, 'done')
          break
        }
        case 'jobFailed':
          check(!ended.has(e.jobId), `${e.jobId} ended twice`)
          check(/failed on \d+ peer/.test(e.reason), `bad failure reason ${e.reason}`)
          ended.set(e.jobId, 'failed')
          break
        case 'jobCancelled':
          check(!ended.has(e.jobId), `${e.jobId} ended twice`)
          ended.set(e.jobId, 'cancelled')
          break
        case 'ignored':
          out.ignored++
          break
        default:
          break
      }
    }
    // the workers' view equals the master's, and no tile of a live job is lost
    for (const p of peers) {
      const mine = [...holding.get(p)!.keys()].sort().join()
      const master = leasesOf(d.state, p).map(l => l.leaseId).sort().join()
      check(mine === master, `${p} holds [${mine}], the master says [${master}]`)
    }
    // leased tiles (a speculated tile has two leases, and counts once), and the copies out
    const leasedTiles = new Map<string, number>()
    for (const l of leasesOf(d.state)) leasedTiles.set(tileOf(l), (leasedTiles.get(tileOf(l)) ?? 0) + 1)
    const leasedByJob = new Map<string, number>()
    let copiesOut = 0
    for (const [t, n] of leasedTiles) {
      const jobId = t.slice(0, t.indexOf('/'))
      leasedByJob.set(jobId, (leasedByJob.get(jobId) ?? 0) + 1)
      check(n <= 2, `${t} has ${n} leases`)
      if (n === 2) copiesOut++
    }
    check(copiesOut <= config.maxSpeculative, `${copiesOut} copies out, the limit is ${config.maxSpeculative}`)
    for (const v of listJobs(d.state)) {
      const { tileCount, phaseCount } = jobs.get(v.id)!
      check(v.total === tileCount * phaseCount, `${v.id} total`)
      check(v.startedAt === startedAt.get(v.id), `${v.id} started at ${v.startedAt}, its first lease was at ${startedAt.get(v.id)}`)
      check(v.workers.join() === [...workers.get(v.id) ?? []].sort().join(), `${v.id} has workers [${v.workers.join()}], its tiles were done by [${[...workers.get(v.id) ?? []].sort().join()}]`)
      if (v.state === 'queued' || v.state === 'running') {
        const doneInPhase = v.done - v.phase * tileCount
        check(doneInPhase + v.queued + (leasedByJob.get(v.id) ?? 0) === tileCount, `tiles of ${v.id} lost: ${JSON.stringify(v)}`)
      } else {
        check(!leasedByJob.has(v.id), `ended ${v.id} still leased`)
        check(v.state === ended.get(v.id), `${v.id} is ${v.state}, effects said ${ended.get(v.id)}`)
      }
    }
    if (out.steps % 7 === 0) d.expectKvMatches()
  }

  const send = (fn: () => QueueEffect[]): QueueEffect[] => {
    const effects = fn()
    handle(effects)
    return effects
  }
  const view = (): QueueEffect[] => send(() => d.peers(peers.map(p => [p, slots.get(p)!, alive.get(p)!])))
  const heldLeases = (): Array<Eff<'assign'>> => peers.flatMap(p => [...holding.get(p)!.values()])
  const live = (): string[] => [...jobs.keys()].filter(id => !ended.has(id))

  view()
  let jobNo = 0
  for (let i = 0; i < 300; i++) {
    const x = r.next()
    if (x < 0.08) {
      if (jobs.size >= 10) continue
      const id = `s${seed}j${jobNo++}`
      const tileCount = r.int(1, 20)
      const phaseCount = r.int(1, 3)
      jobs.set(id, { tileCount, phaseCount })
      send(() => d.submit(id, tileCount, phaseCount))
    } else if (x < 0.33) {
      const held = heldLeases()
      if (held.length === 0) continue
      const a = r.pick(held)
      holding.get(a.peer)!.delete(a.leaseId)
      finished.push(a)
      const effects = send(() => d.done(a))
      expect(ofType(effects, 'tileDone').map(e => e.leaseId)).toEqual([a.leaseId])
    } else if (x < 0.36) {
      const held = heldLeases()
      if (held.length === 0) continue
      const a = r.pick(held)
      holding.get(a.peer)!.delete(a.leaseId)
      const effects = send(() => d.fail(a, `error ${i} on ${a.peer}`))
      expect(ofType(effects, 'ignored')).toEqual([])
    } else if (x < 0.47) {
      const held = heldLeases()
      if (held.length === 0) continue
      expect(ofType(send(() => d.renew(r.pick(held))), 'renewed')).toHaveLength(1)
    } else if (x < 0.62) {
      send(() => d.tick(d.now + r.int(0, 600)))
    } else if (x < 0.67) {
      const p = r.pick(peers)
      if (!alive.get(p)!) continue
      alive.set(p, false)
      if (r.chance(0.5)) send(() => d.send({ type: 'peerDead', peer: p, now: d.now }))
      else view()
      expect(holding.get(p)!.size).toBe(0)
    } else if (x < 0.73) {
      const p = r.pick(peers)
      alive.set(p, true)
      if (r.chance(0.3)) slots.set(p, r.int(0, 3))
      view()
    } else if (x < 0.78) {
      if (zombies.length === 0) continue
      const z = r.pick(zombies)
      const effects = r.chance(0.5) ? send(() => d.done(z)) : send(() => d.fail(z, 'late'))
      expect(effects.filter(e => e.type !== 'assign' && e.type !== 'persist').map(e => e.type)).toEqual(['ignored'])
    } else if (x < 0.81) {
      if (finished.length === 0) continue
      const f = r.pick(finished)
      expect(ofType(send(() => d.done(f)), 'tileDone')).toEqual([])
    } else if (x < 0.89) {
      if (pendingMerge.length === 0) continue
      const k = r.int(0, pendingMerge.length - 1)
      const m = pendingMerge.splice(k, 1)[0]!
      send(() => d.send({ type: 'phaseReady', jobId: m.jobId, phase: m.phase + 1, now: d.now }))
    } else if (x < 0.895) {
      const ids = live()
      if (ids.length === 0) continue
      send(() => d.send({ type: 'cancel', jobId: r.pick(ids), now: d.now }))
    } else if (x < 0.92) {
      // the master restarts from its records; the workers keep their leases
      const before = listJobs(d.state)
      d.state = rebuildQueueState([...d.kv], { config, now: d.now })
      expect(listJobs(d.state)).toEqual(before)
      out.restarts++
      // phases that waited for a merge are announced again by elected: the shell merges again
      pendingMerge.length = 0
      send(() => d.send({ type: 'elected', epoch: ++epoch, now: d.now }))
      view()
    } else {
      slots.set(r.pick(peers), r.int(0, 3))
      view()
    }
  }

  // calm: everyone comes back and works; every job must end
  for (const p of peers) {
    alive.set(p, true)
    slots.set(p, Math.max(1, slots.get(p)!))
  }
  view()
  let idle = 0
  for (let i = 0; i < 5000 && live().length > 0; i++) {
    if (pendingMerge.length > 0) {
      const m = pendingMerge.shift()!
      send(() => d.send({ type: 'phaseReady', jobId: m.jobId, phase: m.phase + 1, now: d.now }))
      idle = 0
    } else {
      const held = heldLeases()
      if (held.length > 0) {
        const a = r.pick(held)
        holding.get(a.peer)!.delete(a.leaseId)
        send(() => d.done(a))
        idle = 0
      } else {
        expect(++idle, `stuck: ${JSON.stringify(live().map(id => getJob(d.state, id)))}`).toBeLessThan(3)
        send(() => d.tick(d.now + 1000))
      }
    }
  }
  expect(live()).toEqual([])
  d.expectKvMatches()
  for (const [id, how] of ended) {
    expect(getJob(d.state, id)?.state).toBe(how)
    if (how === 'done') out.done++
    else if (how === 'failed') out.failed++
    else out.cancelled++
  }
  expect(leasesOf(d.state)).toEqual([])
  return out
}

describe('queue machine under random faults', () => {
  it('never loses a tile, never counts one twice, and every job ends (40 seeds)', () => {
    const total: Outcome = { done: 0, failed: 0, cancelled: 0, restarts: 0, ignored: 0, steps: 0, copies: 0, copyWins: 0, originalWins: 0, preempted: 0 }
    for (let seed = 1; seed <= 40; seed++) {
      const o = runSeed(seed)
      for (const k of Object.keys(total) as Array<keyof Outcome>) total[k] += o[k]
    }
    // the schedules are meaningful: they reach every outcome and exercise restarts and stale results
    expect(total.done).toBeGreaterThan(20)
    expect(total.failed).toBeGreaterThan(0)
    expect(total.cancelled).toBeGreaterThan(0)
    expect(total.restarts).toBeGreaterThan(5)
    expect(total.ignored).toBeGreaterThan(20)
    // speculation happens, and both ends of it: copies that win, originals that win (copy revoked)
    expect(total.copies).toBeGreaterThan(20)
    expect(total.copyWins).toBeGreaterThan(5)
    expect(total.originalWins).toBeGreaterThan(5)
    expect(total.preempted).toBeGreaterThan(0)
    console.log('random faults, 40 seeds:', JSON.stringify(total))
  })
})
