// Straggler speculation: once a job has nothing queued in its phase, an idle peer gets a copy of the
// in-flight tile leased first; the first result wins, the other lease is revoked, and one copy ending
// without a result never re-queues, fails or holds up the tile while the other runs.
import { describe, expect, it } from 'vitest'
import {
  type QueueConfig, getJob, leasesOf, listJobs, rebuildQueueState, step, tileInfo, toRecords
} from '../../src/scheduler/queue-machine.ts'
import { CorruptRecordError } from '../../src/scheduler/errors.ts'
import { Driver, type Eff, assigned, ofType } from './helpers.ts'

function only<T> (xs: T[]): T {
  expect(xs).toHaveLength(1)
  return xs[0] as T
}

/** the effects that change something: no persist, no ignored */
function kinds (effects: ReturnType<Driver['send']>): string[] {
  return effects.filter(e => e.type !== 'persist').map(e => e.type)
}

/**
 * A job of 3 tiles on A and B (1 slot each): A keeps tile 0 (the straggler), B does 1 and 2, then has
 * nothing queued to take and gets a copy of tile 0.
 */
function tail (config: Partial<QueueConfig> = {}): { d: Driver, a0: Eff<'assign'>, copy: Eff<'assign'> } {
  const d = new Driver({ leaseMs: 1000, prefetch: 0, ...config })
  d.peers([['A', 1], ['B', 1]])
  const [a0, b1] = ofType(d.submit('j', 3), 'assign')
  expect([a0?.peer, b1?.peer]).toEqual(['A', 'B'])
  const b2 = only(ofType(d.done(b1!), 'assign'))
  expect([b2.index, b2.peer, b2.speculative]).toEqual([2, 'B', undefined]) // tile 2 was queued: no copy yet
  const copy = only(ofType(d.done(b2), 'assign'))
  return { d, a0: a0!, copy }
}

describe('speculation at the end of a job', () => {
  it('an idle peer gets a copy of the straggler; the copy wins, the original is revoked, tileDone and jobDone once', () => {
    const { d, a0, copy } = tail()
    expect(copy).toMatchObject({ jobId: 'j', phase: 0, index: 0, peer: 'B', speculative: true, attempt: 2 })
    expect(copy.leaseId).not.toBe(a0.leaseId)
    expect(tileInfo(d.state, 'j', 0)).toMatchObject({ state: 'leased', lease: { leaseId: a0.leaseId, peer: 'A' }, copy: { leaseId: copy.leaseId, peer: 'B' } })
    expect(getJob(d.state, 'j')).toMatchObject({ leasedTo: ['A', 'B'], queued: 0, done: 2 })

    const won = d.done(copy)
    expect(ofType(won, 'tileDone')).toEqual([{ type: 'tileDone', jobId: 'j', phase: 0, index: 0, peer: 'B', leaseId: copy.leaseId }])
    expect(ofType(won, 'revoke')).toEqual([{ type: 'revoke', jobId: 'j', phase: 0, index: 0, peer: 'A', leaseId: a0.leaseId, reason: 'speculated' }])
    expect(ofType(won, 'jobDone')).toEqual([{ type: 'jobDone', jobId: 'j' }])
    expect(leasesOf(d.state)).toEqual([])
    // the loser's late result or failure changes nothing
    expect(kinds(d.done(a0))).toEqual(['ignored'])
    expect(kinds(d.fail(a0, 'aborted'))).toEqual(['ignored'])
    expect(getJob(d.state, 'j')).toMatchObject({ state: 'done', done: 3 })
  })

  it('the original wins: the copy is revoked and its late result ignored', () => {
    const { d, a0, copy } = tail()
    const won = d.done(a0)
    expect(ofType(won, 'tileDone').map(e => e.leaseId)).toEqual([a0.leaseId])
    expect(ofType(won, 'revoke')).toEqual([{ type: 'revoke', jobId: 'j', phase: 0, index: 0, peer: 'B', leaseId: copy.leaseId, reason: 'speculated' }])
    expect(ofType(won, 'jobDone')).toHaveLength(1)
    expect(tileInfo(d.state, 'j', 0)).toBeUndefined() // the job is over: no tiles kept
    expect(kinds(d.done(copy))).toEqual(['ignored'])
    expect(listJobs(d.state).map(j => [j.state, j.done])).toEqual([['done', 3]])
  })

  it('a copy that fails while the original runs re-queues nothing and does not count when the original wins', () => {
    // maxAttempts 1: a counted failure alone would fail the job
    const { d, a0, copy } = tail({ maxAttempts: 1 })
    const failed = d.fail(copy, 'boom on B')
    expect(kinds(failed)).toEqual(['leaseEnded'])
    expect(ofType(failed, 'leaseEnded')).toEqual([{ type: 'leaseEnded', jobId: 'j', phase: 0, index: 0, peer: 'B', leaseId: copy.leaseId, reason: 'failed', attempt: 2 }])
    expect(tileInfo(d.state, 'j', 0)).toMatchObject({ state: 'leased', lease: { leaseId: a0.leaseId }, attempts: [{ peer: 'B', reason: 'boom on B', counted: true }] })
    expect(tileInfo(d.state, 'j', 0)?.copy).toBeUndefined()
    expect(getJob(d.state, 'j')?.state).toBe('running')
    // B tried the tile: it gets no second copy
    expect(assigned(d.tick(10))).toEqual([])
    const won = d.done(a0)
    expect(ofType(won, 'tileDone')).toHaveLength(1)
    expect(ofType(won, 'revoke')).toEqual([])
    expect(ofType(won, 'jobDone')).toHaveLength(1)
  })

  it('the original failing while the copy runs leaves the copy to finish', () => {
    const { d, a0, copy } = tail({ maxAttempts: 1 })
    expect(kinds(d.fail(a0, 'boom on A'))).toEqual(['leaseEnded'])
    expect(tileInfo(d.state, 'j', 0)).toMatchObject({ state: 'leased', lease: { leaseId: copy.leaseId, peer: 'B' } })
    expect(ofType(d.done(copy), 'jobDone')).toHaveLength(1)
  })

  it('when both copies fail, the tile is re-queued once with both attempts counted', () => {
    const { d, a0, copy } = tail({ maxAttempts: 3 })
    d.fail(copy, 'e1')
    const second = d.fail(a0, 'e2')
    expect(ofType(second, 'requeued').map(e => [e.index, e.peer, e.reason])).toEqual([[0, 'A', 'failed']])
    expect(tileInfo(d.state, 'j', 0)?.attempts.map(a => [a.peer, a.counted])).toEqual([['B', true], ['A', true]])
    // both peers failed it and no other exists: it goes back to one of them (small swarm rule)
    expect(assigned(second)).toHaveLength(1)
  })

  it('the copy failing last fails the job when the tile is exhausted', () => {
    const { d, a0, copy } = tail({ maxAttempts: 2 })
    expect(kinds(d.fail(a0, 'e1'))).toEqual(['leaseEnded'])
    const last = d.fail(copy, 'e2')
    expect(ofType(last, 'jobFailed').map(e => e.reason)).toEqual([expect.stringMatching(/tile 0 of phase 0 failed on 2 peers \(2 attempts\): A: e1; B: e2/)])
    expect(leasesOf(d.state)).toEqual([])
  })

  it('a lapsed original is revoked but not re-queued while the copy is renewed', () => {
    const { d, a0, copy } = tail()
    d.now = 900
    d.renew(copy) // the copy's deadline moves to 1900; A is silent
    const t = d.tick(1000)
    expect(ofType(t, 'revoke')).toEqual([{ type: 'revoke', jobId: 'j', phase: 0, index: 0, peer: 'A', leaseId: a0.leaseId, reason: 'expired' }])
    expect(ofType(t, 'leaseEnded').map(e => [e.peer, e.reason])).toEqual([['A', 'expired']])
    expect(ofType(t, 'requeued')).toEqual([])
    expect(assigned(t)).toEqual([]) // A let it lapse: no copy for A
    expect(tileInfo(d.state, 'j', 0)).toMatchObject({ state: 'leased', lease: { leaseId: copy.leaseId }, attempts: [{ peer: 'A', counted: false, lapsed: true }] })
    expect(ofType(d.done(copy), 'jobDone')).toHaveLength(1)
  })

  it('both leases lapsing in one tick re-queue the tile once', () => {
    const { d } = tail()
    const t = d.tick(1000)
    expect(ofType(t, 'revoke').map(e => e.peer).sort()).toEqual(['A', 'B'])
    expect(ofType(t, 'leaseEnded')).toHaveLength(1)
    expect(ofType(t, 'requeued')).toHaveLength(1)
    expect(assigned(t)).toHaveLength(1) // both lapsed on it and no other peer exists: one gets it again
  })

  it('peerDead of one holder leaves the other copy running', () => {
    const { d, a0, copy } = tail()
    const dead = d.send({ type: 'peerDead', peer: 'A', now: 5 })
    expect(ofType(dead, 'leaseEnded')).toEqual([{ type: 'leaseEnded', jobId: 'j', phase: 0, index: 0, peer: 'A', leaseId: a0.leaseId, reason: 'peerDead', attempt: 1 }])
    expect(ofType(dead, 'requeued')).toEqual([])
    expect(leasesOf(d.state).map(l => l.leaseId)).toEqual([copy.leaseId])
    expect(ofType(d.done(copy), 'jobDone')).toHaveLength(1)

    // and a dead copy holder (alive: false in a view) leaves the original running
    const t2 = tail()
    const view = t2.d.peers([['A', 1], ['B', 1, false]])
    expect(ofType(view, 'leaseEnded').map(e => [e.peer, e.reason])).toEqual([['B', 'peerDead']])
    expect(ofType(t2.d.done(t2.a0), 'jobDone')).toHaveLength(1)
  })

  it('no copy while queued tiles remain, in this job or an older one, and none into a prefetch slot', () => {
    const d = new Driver({ leaseMs: 1000, prefetch: 1 })
    d.peers([['A', 1], ['B', 1]])
    // 4 tiles: real slots first (0@A, 1@B), then prefetch (2@A, 3@B)
    const first = ofType(d.submit('j', 4), 'assign')
    expect(first.map(a => `${a.index}@${a.peer}`)).toEqual(['0@A', '1@B', '2@A', '3@B'])
    // nothing queued, but no real slot free: no copy
    expect(first.some(a => a.speculative === true)).toBe(false)
    const b = d.done(first[1]!) // B: one lease left (its prefetched tile 3) in one real slot: still full
    expect(assigned(b)).toEqual([])
    // B finishes tile 3 too: its real slot is free, nothing is queued: a copy of the oldest, tile 0
    const copy = only(ofType(d.done(first[3]!), 'assign'))
    expect([copy.index, copy.peer, copy.speculative]).toEqual([0, 'B', true])

    // a later job's queued tile takes an idle slot before any copy of an earlier job's tail
    const e = new Driver({ leaseMs: 1000, prefetch: 0 })
    e.peers([['A', 1], ['B', 1], ['C', 1]])
    e.submit('y', 1) // y0@A, and a copy of it on B
    const x = e.submit('x', 2)
    expect(assigned(x)).toEqual(['x/0/0@C', 'x/0/1@B'])
    // B's copy of y0 gave its slot to x1: revoked, and nothing of y is re-queued
    expect(ofType(x, 'revoke').map(r => [r.jobId, r.index, r.peer, r.reason])).toEqual([['y', 0, 'B', 'preempted']])
    expect(tileInfo(e.state, 'y', 0)).toMatchObject({ state: 'leased', lease: { peer: 'A' }, attempts: [] })
    expect(tileInfo(e.state, 'y', 0)?.copy).toBeUndefined()
  })

  it('queued work takes a copy\'s real slot rather than waiting behind it in a prefetch slot', () => {
    const d = new Driver({ leaseMs: 1000, prefetch: 1 })
    d.peers([['A', 1], ['B', 1]])
    const [a0, copy] = ofType(d.submit('x', 1), 'assign')
    expect([copy?.peer, copy?.index, copy?.speculative]).toEqual(['B', 0, true])
    // y: B (its copy does not count) and A's prefetch slot; B's copy is revoked for y's first tile
    const y = d.submit('y', 2)
    expect(assigned(y)).toEqual(['y/0/0@B', 'y/0/1@A'])
    expect(ofType(y, 'revoke').map(r => [r.leaseId, r.reason])).toEqual([[copy.leaseId, 'preempted']])
    expect(leasesOf(d.state, 'B')).toHaveLength(1)
    expect(kinds(d.done(copy!))).toEqual(['ignored'])
    expect(ofType(d.done(a0!), 'jobDone')).toEqual([{ type: 'jobDone', jobId: 'x' }])
  })

  it('a failed tile re-queued in the job stops new copies until it is leased again', () => {
    const d = new Driver({ leaseMs: 1000, prefetch: 0, maxAttempts: 3 })
    d.peers([['A', 1], ['B', 1], ['C', 1]])
    const [a0, b1, c2] = ofType(d.submit('j', 3), 'assign')
    // C fails tile 2 while A and B run: tile 2 is queued, C may not take it (A, B have not failed it)
    expect(assigned(d.fail(c2!, 'boom'))).toEqual([])
    expect(getJob(d.state, 'j')?.queued).toBe(1)
    // B finishes: it takes the re-queued tile; now nothing is queued and idle C copies the oldest tile
    const [b2, copy] = ofType(d.done(b1!), 'assign')
    expect([b2?.index, b2?.peer, b2?.speculative]).toEqual([2, 'B', undefined])
    expect([copy?.index, copy?.peer, copy?.speculative]).toEqual([0, 'C', true])
    expect(a0?.index).toBe(0)
  })

  it('speculate: false gives no copies', () => {
    const d = new Driver({ leaseMs: 1000, prefetch: 0, speculate: false })
    d.peers([['A', 1], ['B', 1]])
    const [a0, b1] = ofType(d.submit('j', 2), 'assign')
    expect(assigned(d.done(b1!))).toEqual([])
    expect(leasesOf(d.state).map(l => l.leaseId)).toEqual([a0!.leaseId])
  })

  it('copies go to the oldest leases first, maxSpeculative at once, and never to a peer that tried the tile', () => {
    const d = new Driver({ leaseMs: 10_000, prefetch: 0, maxSpeculative: 2 })
    d.peers([['A', 3]])
    const as = ofType(d.submit('j', 6), 'assign')
    expect(as.map(a => a.index)).toEqual([0, 1, 2])
    // three more peers take the queued tiles 3, 4, 5
    const more = ofType(d.peers([['A', 3], ['B', 1], ['C', 1], ['D', 1]]), 'assign')
    expect(more.map(a => `${a.index}@${a.peer}`)).toEqual(['3@B', '4@C', '5@D'])
    // B and C finish: copies of tiles 0 and 1 (leased first); D finishes: the limit of 2 holds
    const cb = only(ofType(d.done(more[0]!), 'assign'))
    const cc = only(ofType(d.done(more[1]!), 'assign'))
    expect([cb.index, cb.peer, cb.speculative, cc.index, cc.peer, cc.speculative]).toEqual([0, 'B', true, 1, 'C', true])
    expect(assigned(d.done(more[2]!))).toEqual([])
    // a copy wins: the limit frees a place, and tile 2 gets a copy on the first idle peer (B; not A, its holder)
    const won = d.done(cb)
    expect(ofType(won, 'revoke').map(e => [e.peer, e.leaseId, e.reason])).toEqual([['A', as[0]!.leaseId, 'speculated']])
    const cb2 = only(ofType(won, 'assign'))
    expect([cb2.index, cb2.peer, cb2.speculative]).toEqual([2, 'B', true])
    // D is idle, but every in-flight tile already has its copy
    expect(assigned(d.tick(1))).toEqual([])
    // C's copy of tile 1 fails: C tried tile 1, so the next copy of it goes to D
    const again = d.fail(cc, 'boom')
    expect(ofType(again, 'leaseEnded')).toHaveLength(1)
    const cd = only(ofType(again, 'assign'))
    expect([cd.index, cd.peer, cd.speculative]).toEqual([1, 'D', true])
  })

  it('the limit holds when several peers turn idle in one step', () => {
    const d = new Driver({ leaseMs: 10_000, prefetch: 0, maxSpeculative: 1 })
    d.peers([['A', 2]])
    d.submit('j', 2)
    const copies = ofType(d.peers([['A', 2], ['B', 1], ['C', 1]]), 'assign')
    expect(copies.map(a => [a.index, a.peer, a.speculative])).toEqual([[0, 'B', true]])
  })

  it('cancel and a job failure revoke both leases of a speculated tile', () => {
    const t1 = tail()
    const cancelled = t1.d.send({ type: 'cancel', jobId: 'j', now: 5 })
    expect(ofType(cancelled, 'revoke').map(e => [e.peer, e.leaseId, e.reason])).toEqual([['A', t1.a0.leaseId, 'cancelled'], ['B', t1.copy.leaseId, 'cancelled']])
    expect(leasesOf(t1.d.state)).toEqual([])
  })

  it('speculated tiles persist and rebuild to the same state; records without copies still load', () => {
    const { d, a0, copy } = tail()
    expect(d.kv.get('t/000000000001/0000/00000000')).toMatchObject({ state: 'leased', lease: { leaseId: a0.leaseId, peer: 'A' }, copy: { leaseId: copy.leaseId, peer: 'B' } })
    const config = { leaseMs: 1000, prefetch: 0 }
    const copyState = rebuildQueueState([...d.kv], { config })
    expect(toRecords(copyState)).toEqual(toRecords(d.state).map(([k, v]) => [k, v])) // deadlines: not renewed yet, equal
    expect(leasesOf(copyState)).toEqual(leasesOf(d.state))
    expect(tileInfo(copyState, 'j', 0)).toEqual(tileInfo(d.state, 'j', 0))
    // both carry on alike: the copy wins on each
    const ev = { type: 'done' as const, jobId: 'j', phase: 0, index: 0, leaseId: copy.leaseId, peer: 'B', now: 10 }
    expect(step(copyState, ev).effects).toEqual(step(d.state, ev).effects)

    // a record written before speculation (no copy field) loads as a single lease
    const old = new Driver({ leaseMs: 1000, prefetch: 0, speculate: false })
    old.peers([['A', 1]])
    old.submit('k', 2)
    for (const v of old.kv.values()) expect(v).not.toHaveProperty('copy')
    const fromOld = rebuildQueueState([...old.kv], { config: { speculate: true } })
    expect(leasesOf(fromOld)).toEqual(leasesOf(old.state))
    expect(tileInfo(fromOld, 'k', 0)?.copy).toBeUndefined()

    // a tile leased twice to one peer is corrupt
    const bad = [...d.kv].map(([k, v]) => k === 't/000000000001/0000/00000000'
      ? [k, { ...(v as object), copy: { ...(v as { copy: object }).copy, peer: 'A' } }] as const
      : [k, v] as const)
    expect(() => rebuildQueueState(bad)).toThrow(CorruptRecordError)
  })

  it('a failover keeps both leases: the new master renews them and either result counts', () => {
    const { d, copy } = tail()
    d.state = rebuildQueueState([...d.kv], { config: { leaseMs: 1000, prefetch: 0 }, now: 5000 })
    d.send({ type: 'elected', epoch: 2, now: 5000 })
    expect(leasesOf(d.state).map(l => l.deadline)).toEqual([6000, 6000])
    d.peers([['A', 1], ['B', 1]])
    d.now = 5001
    // an older-epoch result for the copy's lease is taken
    const won = d.send({ type: 'done', jobId: 'j', phase: 0, index: 0, leaseId: copy.leaseId, peer: 'B', now: 5001, epoch: 1 })
    expect(kinds(won)).toEqual(['tileDone', 'revoke', 'jobDone'])
  })
})
