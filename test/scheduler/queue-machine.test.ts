import { describe, expect, it } from 'vitest'
import {
  DEFAULT_QUEUE_CONFIG, createQueueState, getJob, leasesOf, listJobs, makeQueueConfig, nextDeadline,
  rebuildQueueState, step, tileInfo, toRecords
} from '../../src/scheduler/queue-machine.ts'
import {
  DuplicateJobError, InvalidConfigError, InvalidJobError, StaleEpochError, UnknownJobError
} from '../../src/scheduler/errors.ts'
import { Driver, assigned, ofType } from './helpers.ts'

// Tests that count every assign of a job's end, or every attempt of a tile, run with speculate: false;
// the copies an idle peer gets at a job's end have their own tests (queue-speculation.test.ts).

function only<T> (xs: T[]): T {
  expect(xs).toHaveLength(1)
  return xs[0] as T
}

describe('config', () => {
  it('has the documented defaults and rejects nonsense', () => {
    expect(DEFAULT_QUEUE_CONFIG).toEqual({ leaseMs: 10_000, maxLeaseMs: 900_000, prefetch: 1, maxAttempts: 3, maxLapses: 12, speculate: true, maxSpeculative: 4 })
    expect(makeQueueConfig({ prefetch: 0, speculate: false })).toEqual({ leaseMs: 10_000, maxLeaseMs: 900_000, prefetch: 0, maxAttempts: 3, maxLapses: 12, speculate: false, maxSpeculative: 4 })
    expect(() => makeQueueConfig({ leaseMs: 5000, maxLeaseMs: 4000 })).toThrow(InvalidConfigError)
    expect(() => makeQueueConfig({ speculate: 'yes' as unknown as boolean })).toThrow(InvalidConfigError)
    expect(() => makeQueueConfig({ maxSpeculative: 0 })).toThrow(InvalidConfigError)
    expect(() => makeQueueConfig({ maxSpeculative: 2.5 })).toThrow(InvalidConfigError)
    expect(() => makeQueueConfig({ maxLapses: 0 })).toThrow(InvalidConfigError)
    expect(() => makeQueueConfig({ leaseMs: 0 })).toThrow(InvalidConfigError)
    expect(() => makeQueueConfig({ prefetch: -1 })).toThrow(InvalidConfigError)
    expect(() => makeQueueConfig({ maxAttempts: 1.5 })).toThrow(InvalidConfigError)
  })
})

describe('fair share', () => {
  it('shares one slot between three jobs in turn, oldest first (a long job does not hold it to its end)', () => {
    const d = new Driver({ prefetch: 0 })
    d.submit('a', 2)
    d.submit('b', 2)
    d.submit('c', 2)
    expect(listJobs(d.state).map(j => [j.id, j.seq, j.state])).toEqual([['a', 1, 'queued'], ['b', 2, 'queued'], ['c', 3, 'queued']])
    const order: string[] = []
    let effects = d.peers([['A', 1]])
    for (let i = 0; i < 6; i++) {
      const a = only(ofType(effects, 'assign'))
      order.push(`${a.jobId}${a.index}`)
      effects = d.done(a)
    }
    expect(ofType(effects, 'assign')).toEqual([])
    expect(order).toEqual(['a0', 'b0', 'c0', 'a1', 'b1', 'c1'])
    expect(listJobs(d.state).map(j => [j.id, j.state, j.done, j.total])).toEqual([['a', 'done', 2, 2], ['b', 'done', 2, 2], ['c', 'done', 2, 2]])
  })

  it('a 1x1 job submitted behind a long one gets the next free slot, not the long job\'s end', () => {
    const d = new Driver({ prefetch: 0 })
    d.submit('long', 32)
    const first = only(ofType(d.peers([['A', 1]]), 'assign'))
    d.submit('small', 1)
    const next = only(ofType(d.done(first), 'assign'))
    expect([next.jobId, next.index]).toEqual(['small', 0])
    expect(ofType(d.done(next), 'jobDone')).toEqual([{ type: 'jobDone', jobId: 'small' }])
    expect(getJob(d.state, 'long')).toMatchObject({ state: 'running', done: 1 })
  })

  it('lets a later job use only the slots the earlier one cannot', () => {
    const d = new Driver({ prefetch: 0 })
    d.submit('a', 1)
    d.submit('b', 5)
    expect(assigned(d.peers([['A', 3]]))).toEqual(['a/0/0@A', 'b/0/0@A', 'b/0/1@A'])
    expect(getJob(d.state, 'a')?.state).toBe('running')
    expect(getJob(d.state, 'b')?.queued).toBe(3)
  })
})

describe('dispatch', () => {
  it('spreads tiles in proportion to free slots', () => {
    const d = new Driver({ prefetch: 0, speculate: false })
    d.peers([['A', 2], ['B', 6]])
    const got = assigned(d.submit('j', 4))
    expect(got.filter(x => x.endsWith('@A'))).toHaveLength(1)
    expect(got.filter(x => x.endsWith('@B'))).toHaveLength(3)
  })

  it('fills real slots before prefetch ones, idle peers first', () => {
    const d = new Driver({ prefetch: 1 })
    d.peers([['A', 1], ['B', 2]])
    // A (0/1), B (0/2) -> A; B (0/2) -> B; B (1/2) -> B; both full: prefetch, fewer held first -> A, B
    expect(assigned(d.submit('j', 10)).map(x => x.slice(-1))).toEqual(['A', 'B', 'B', 'A', 'B'])
  })

  it('gives new work to an idle peer before a busy one with free slots', () => {
    const d = new Driver({ prefetch: 0, speculate: false })
    d.peers([['A', 4]])
    expect(assigned(d.submit('j1', 1))).toEqual(['j1/0/0@A'])
    expect(assigned(d.peers([['A', 4], ['C', 1]]))).toEqual([])
    expect(assigned(d.submit('j2', 1))).toEqual(['j2/0/0@C'])
  })

  it('pipelines: a peer with 2 slots and prefetch 1 holds 3 leases, refilled as it finishes', () => {
    const d = new Driver({ prefetch: 1 })
    d.peers([['A', 2]])
    const first = ofType(d.submit('j', 10), 'assign')
    expect(first.map(a => a.index)).toEqual([0, 1, 2])
    expect(leasesOf(d.state, 'A')).toHaveLength(3)
    expect(assigned(d.done(first[0]!))).toEqual(['j/0/3@A'])
    expect(leasesOf(d.state, 'A')).toHaveLength(3)

    const d0 = new Driver({ prefetch: 0 })
    d0.peers([['A', 2]])
    expect(assigned(d0.submit('j', 10))).toHaveLength(2)

    const none = new Driver({ prefetch: 2 })
    none.peers([['A', 0], ['B', 1, false]])
    expect(assigned(none.submit('j', 10))).toEqual([])
  })
})

describe('leases', () => {
  it('a lapsed lease re-queues the tile, records the attempt uncounted (a slow peer), and the tile goes first', () => {
    const d = new Driver({ leaseMs: 1000, prefetch: 0 })
    d.peers([['A', 1], ['B', 1]])
    const [a0, b1] = ofType(d.submit('j', 3), 'assign')
    expect([a0?.peer, a0?.index, a0?.deadline, a0?.attempt]).toEqual(['A', 0, 1000, 1])
    expect(nextDeadline(d.state)).toBe(1000)
    d.now = 500
    d.renew(b1!)
    expect(d.tick(999)).toEqual([])
    const effects = d.tick(1000)
    expect(ofType(effects, 'revoke')).toEqual([{ type: 'revoke', jobId: 'j', phase: 0, index: 0, peer: 'A', leaseId: a0!.leaseId, reason: 'expired' }])
    expect(ofType(effects, 'requeued').map(e => [e.index, e.peer, e.reason, e.attempt])).toEqual([[0, 'A', 'expired', 1]])
    // A stalled on tile 0: while B exists it is not offered tile 0 again, it takes the fresh tile 2
    expect(assigned(effects)).toEqual(['j/0/2@A'])
    expect(tileInfo(d.state, 'j', 0)).toEqual({ state: 'queued', attempts: [{ peer: 'A', reason: 'lease expired', at: 1000, counted: false, lapsed: true }] })
    // when B is free, the re-queued tile goes before anything else, as attempt 2
    const next = only(ofType(d.done(b1!), 'assign'))
    expect([next.index, next.peer, next.attempt, next.deadline]).toEqual([0, 'B', 2, 2000])
  })

  it('slow peers whose leases lapse never fail the job; only maxLapses lapses of one tile do', () => {
    // Three live peers, each too slow for tile 0 once: the old rule (a stall counts) failed the job here.
    const d = new Driver({ leaseMs: 1000, prefetch: 0, maxAttempts: 3, maxLapses: 5, speculate: false })
    d.peers([['A', 1], ['B', 1], ['C', 1]])
    d.submit('j', 1)
    let t = 0
    for (let i = 0; i < 4; i++) d.tick(t += 1000)
    expect(getJob(d.state, 'j')?.state).toBe('running')
    expect(tileInfo(d.state, 'j', 0)?.attempts.map(a => [a.peer, a.counted, a.lapsed])).toEqual([['A', false, true], ['B', false, true], ['C', false, true], ['A', false, true]])
    // The fifth lapse: no peer can finish this tile within its lease, and the reason says so.
    const failed = ofType(d.tick(t += 1000), 'jobFailed')
    expect(failed.map(e => e.reason)).toEqual([expect.stringMatching(/^tile 0 of phase 0 failed on 3 peers \(5 attempts\): .*lease expired/)])
  })

  it('a lease renewed forever ends at maxLeaseMs: renewals stop extending it, it lapses uncounted, and the tile goes to another peer', () => {
    const d = new Driver({ leaseMs: 1000, maxLeaseMs: 3000, prefetch: 0, speculate: false })
    d.peers([['A', 1], ['B', 1]])
    const [a, b1] = ofType(d.submit('j', 2), 'assign')
    expect([a?.peer, b1?.peer]).toEqual(['A', 'B'])
    d.now = 400
    expect(assigned(d.done(b1!))).toEqual([]) // B is free; tile 0 is A's
    // "Working" every 500 ms: extended while the lease is younger than its bound.
    let last: ReturnType<Driver['renew']> = []
    for (let t = 500; t <= 2000; t += 500) { d.now = t; last = d.renew(a!) }
    expect(ofType(last, 'renewed')[0]?.deadline).toBe(3000)
    d.now = 2500
    expect(ofType(d.renew(a!), 'ignored').map(e => e.reason)).toEqual(['lease at its bound of 3000 ms'])
    const lapsed = d.tick(3000)
    expect(ofType(lapsed, 'requeued').map(e => [e.index, e.peer])).toEqual([[0, 'A']])
    expect(tileInfo(d.state, 'j', 0)?.attempts).toEqual([{ peer: 'A', reason: 'lease expired', at: 3000, counted: false, lapsed: true }])
    // A is not offered tile 0 again while B exists: B, free, takes it at once.
    expect(assigned(lapsed)).toEqual(['j/0/0@B'])
  })

  it('renew keeps a lease alive; a renew of an unknown lease is ignored', () => {
    const d = new Driver({ leaseMs: 1000, prefetch: 0 })
    d.peers([['A', 1]])
    const a = only(ofType(d.submit('j', 1), 'assign'))
    d.now = 800
    const r = d.renew(a)
    expect(r).toEqual([{ type: 'renewed', jobId: 'j', phase: 0, index: 0, peer: 'A', leaseId: a.leaseId, deadline: 1800 }])
    expect(d.tick(1000)).toEqual([])
    expect(d.tick(1799)).toEqual([])
    expect(ofType(d.send({ type: 'renew', jobId: 'j', phase: 0, index: 0, leaseId: 'nope', now: 1799 }), 'ignored')).toHaveLength(1)
    expect(ofType(d.tick(1800), 'requeued')).toHaveLength(1)
  })

  it('peerDead re-queues only that peer\'s tiles, at once, without counting them', () => {
    const d = new Driver({ prefetch: 0, maxAttempts: 3 })
    d.peers([['A', 2], ['B', 2]])
    expect(assigned(d.submit('j', 6))).toEqual(['j/0/0@A', 'j/0/1@B', 'j/0/2@A', 'j/0/3@B'])
    const bBefore = leasesOf(d.state, 'B')
    d.now = 50
    const effects = d.send({ type: 'peerDead', peer: 'A', now: 50 })
    expect(ofType(effects, 'requeued').map(e => [e.index, e.peer, e.reason])).toEqual([[0, 'A', 'peerDead'], [2, 'A', 'peerDead']])
    expect(ofType(effects, 'revoke')).toEqual([])
    expect(assigned(effects)).toEqual([]) // B is full
    expect(leasesOf(d.state, 'B')).toEqual(bBefore)
    expect(leasesOf(d.state, 'A')).toEqual([])
    expect(tileInfo(d.state, 'j', 0)?.attempts).toEqual([{ peer: 'A', reason: 'peer dead', at: 50, counted: false }])
    // A comes back: the re-queued tiles go first, to A too (a death is not the tile's fault)
    expect(assigned(d.peers([['A', 2], ['B', 2]]))).toEqual(['j/0/0@A', 'j/0/2@A'])
  })

  it('peers dying again and again never fail a job', () => {
    const d = new Driver({ prefetch: 0, maxAttempts: 2 })
    d.submit('j', 1)
    for (let i = 0; i < 6; i++) {
      expect(assigned(d.peers([['A', 1]]))).toEqual(['j/0/0@A'])
      expect(ofType(d.peers([['A', 1, false]]), 'requeued')).toHaveLength(1)
    }
    expect(getJob(d.state, 'j')?.state).toBe('running')
    expect(tileInfo(d.state, 'j', 0)?.attempts).toHaveLength(6)
  })

  it('a peer missing from a view is not dead: its lease runs out, uncounted', () => {
    const d = new Driver({ leaseMs: 1000, prefetch: 0, maxAttempts: 1 })
    d.peers([['A', 1], ['B', 1]])
    d.submit('j', 1)
    expect(ofType(d.peers([['B', 1]]), 'requeued')).toEqual([])
    const effects = d.tick(1000)
    expect(ofType(effects, 'requeued').map(e => e.reason)).toEqual(['expired'])
    expect(ofType(effects, 'jobFailed')).toEqual([]) // maxAttempts 1, but not counted
    expect(assigned(effects)).toEqual(['j/0/0@B'])
  })

  it('ignores results with a stale or foreign lease: a tile is done once', () => {
    const d = new Driver({ leaseMs: 1000, prefetch: 0 })
    d.peers([['A', 1], ['B', 1]])
    const [a0, b1] = ofType(d.submit('j', 2), 'assign')
    d.now = 500
    d.renew(b1!)
    d.tick(1000) // A's lease on tile 0 lapses; A is not offered tile 0 again while B exists
    const reassigned = only(ofType(d.done(b1!), 'assign'))
    expect([reassigned.index, reassigned.peer]).toEqual([0, 'B'])

    // A's late result for its old lease: harmless, not counted, nothing persisted
    const late = d.done(a0!)
    expect(late).toEqual([{ type: 'ignored', event: 'done', reason: 'stale lease', jobId: 'j', phase: 0, index: 0, leaseId: a0!.leaseId }])
    expect(getJob(d.state, 'j')?.done).toBe(1)
    // a current lease id sent for another tile is a malformed message: ignored too
    expect(ofType(d.send({ type: 'done', jobId: 'j', phase: 0, index: 1, leaseId: reassigned.leaseId, peer: 'B', now: 1000 }), 'ignored')[0]?.reason).toBe('lease is for another tile')
    // A cannot complete B's lease either
    expect(ofType(d.done(reassigned, 'A'), 'ignored')[0]?.reason).toBe('lease held by another peer')
    // B's result counts once; the duplicate is ignored
    const ok = d.done(reassigned)
    expect(ofType(ok, 'tileDone')).toHaveLength(1)
    expect(ofType(ok, 'jobDone')).toEqual([{ type: 'jobDone', jobId: 'j' }])
    expect(ofType(d.done(reassigned), 'tileDone')).toEqual([])
    expect(ofType(d.fail(reassigned, 'late'), 'requeued')).toEqual([])
    expect(getJob(d.state, 'j')).toMatchObject({ state: 'done', done: 2, total: 2 })
  })
})

describe('failures', () => {
  it('a tile that failed on maxAttempts different peers fails its job; other jobs go on', () => {
    const d = new Driver({ prefetch: 0, maxAttempts: 3, speculate: false })
    d.peers([['A', 1], ['B', 1], ['C', 1], ['D', 1]])
    const x = only(ofType(d.submit('x', 1), 'assign'))
    const ys = ofType(d.submit('y', 3), 'assign')
    expect([x.jobId, x.peer]).toEqual(['x', 'A'])
    expect(ys.map(a => a.peer)).toEqual(['B', 'C', 'D'])

    let effects = d.fail(x, 'boom on A')
    expect(ofType(effects, 'requeued').map(e => e.reason)).toEqual(['failed'])
    expect(assigned(effects)).toEqual([]) // A failed it and B, C, D exist: A is not offered it again
    effects = d.done(ys[0]!)
    const x2 = only(ofType(effects, 'assign'))
    expect([x2.jobId, x2.peer, x2.attempt]).toEqual(['x', 'B', 2])
    effects = d.fail(x2, 'boom on B')
    expect(assigned(effects)).toEqual([])
    const x3 = only(ofType(d.done(ys[1]!), 'assign'))
    expect([x3.jobId, x3.peer, x3.attempt]).toEqual(['x', 'C', 3])
    effects = d.fail(x3, 'boom on C')
    const failed = only(ofType(effects, 'jobFailed'))
    expect(failed.jobId).toBe('x')
    expect(failed.reason).toMatch(/tile 0 of phase 0 failed on 3 peers/)
    expect(failed.reason).toMatch(/A: boom on A; B: boom on B; C: boom on C/)
    expect(ofType(effects, 'requeued')).toEqual([])
    expect(getJob(d.state, 'x')).toMatchObject({ state: 'failed', failure: failed.reason, leasedTo: [] })

    effects = d.done(ys[2]!)
    expect(ofType(effects, 'jobDone')).toEqual([{ type: 'jobDone', jobId: 'y' }])
    expect(listJobs(d.state).map(j => j.state)).toEqual(['failed', 'done'])
  })

  it('failing a job revokes its other leases', () => {
    const d = new Driver({ prefetch: 0, maxAttempts: 2, speculate: false })
    d.peers([['A', 1], ['B', 1], ['C', 1], ['D', 1]])
    const [x0, x1] = ofType(d.submit('x', 2), 'assign')
    const again = only(ofType(d.fail(x0!, 'e1'), 'assign'))
    expect([again.index, again.peer]).toEqual([0, 'C'])
    const effects = d.fail(again, 'e2')
    expect(ofType(effects, 'revoke')).toEqual([{ type: 'revoke', jobId: 'x', phase: 0, index: 1, peer: 'B', leaseId: x1!.leaseId, reason: 'jobFailed' }])
    expect(ofType(effects, 'jobFailed')).toHaveLength(1)
    expect(leasesOf(d.state)).toEqual([])
    // the job's tile records are gone from the store; its job record stays
    expect([...d.kv.keys()].filter(k => k.startsWith('t/'))).toEqual([])
  })

  it('in a swarm smaller than maxAttempts, maxAttempts failures in total fail the tile', () => {
    const d = new Driver({ prefetch: 0, maxAttempts: 3 })
    d.peers([['A', 1]])
    let a = only(ofType(d.submit('x', 1), 'assign'))
    a = only(ofType(d.fail(a, 'e1'), 'assign')) // no other peer exists: re-offered to A
    a = only(ofType(d.fail(a, 'e2'), 'assign'))
    expect(a.attempt).toBe(3)
    const effects = d.fail(a, 'e3')
    expect(ofType(effects, 'jobFailed')[0]?.reason).toMatch(/failed on 1 peer \(3 attempts\): A: e1; A: e2; A: e3/)
  })
})

describe('phases', () => {
  it('emits phaseComplete and queues the next phase only after phaseReady; slots are shared across phases', () => {
    const d = new Driver({ prefetch: 0 })
    d.peers([['A', 2]])
    const p0 = ofType(d.submit('p', 2, 2), 'assign')
    d.submit('q', 3)
    expect(p0.map(a => `${a.jobId}/${a.phase}/${a.index}`)).toEqual(['p/0/0', 'p/0/1'])
    expect(assigned(d.done(p0[0]!))).toEqual(['q/0/0@A']) // p has no queued tile left: q may use the slot
    const effects = d.done(p0[1]!)
    expect(ofType(effects, 'phaseComplete')).toEqual([{ type: 'phaseComplete', jobId: 'p', phase: 0 }])
    expect(ofType(effects, 'jobDone')).toEqual([])
    // p waits for its merged statistics: its slots go to q meanwhile
    expect(assigned(effects)).toEqual(['q/0/1@A'])
    expect(getJob(d.state, 'p')).toMatchObject({ state: 'running', phase: 0, awaitingMerge: true, done: 2, total: 4, queued: 0 })
    expect(assigned(d.tick(5))).toEqual([])
    expect(ofType(d.send({ type: 'phaseReady', jobId: 'p', phase: 2, now: 5 }), 'ignored')).toHaveLength(1)

    const ready = d.send({ type: 'phaseReady', jobId: 'p', phase: 1, data: { threshold: 117 }, now: 6 })
    expect(ofType(ready, 'ignored')).toEqual([])
    expect(assigned(ready)).toEqual([]) // A is full
    expect(getJob(d.state, 'p')).toMatchObject({ phase: 1, awaitingMerge: false, done: 2, queued: 2 })
    expect(ofType(d.send({ type: 'phaseReady', jobId: 'p', phase: 1, now: 6 }), 'ignored')).toHaveLength(1)

    const qs = leasesOf(d.state, 'A')
    // A freed slot goes to the job with fewer leases out: p (none) before q (one), then q's last tile
    // (q has none out now, p one) before p's second phase-1 tile.
    const n1 = only(ofType(d.send({ type: 'done', jobId: 'q', phase: 0, index: 0, leaseId: qs[0]!.leaseId, peer: 'A', now: 7 }), 'assign'))
    expect([n1.jobId, n1.phase, n1.index]).toEqual(['p', 1, 0])
    const n2 = only(ofType(d.send({ type: 'done', jobId: 'q', phase: 0, index: 1, leaseId: qs[1]!.leaseId, peer: 'A', now: 8 }), 'assign'))
    expect([n2.jobId, n2.phase, n2.index]).toEqual(['q', 0, 2])
    const n3 = only(ofType(d.done(n1), 'assign'))
    expect([n3.jobId, n3.phase, n3.index]).toEqual(['p', 1, 1])
    expect(ofType(d.done(n2), 'jobDone')).toEqual([{ type: 'jobDone', jobId: 'q' }])
    const last = d.done(n3)
    expect(ofType(last, 'phaseComplete')).toEqual([])
    expect(ofType(last, 'jobDone')).toEqual([{ type: 'jobDone', jobId: 'p' }])
    expect(getJob(d.state, 'p')).toMatchObject({ state: 'done', done: 4, total: 4 })
  })
})

describe('commands and epochs', () => {
  it('rejects bad submits and unknown cancels without changing anything', () => {
    const d = new Driver()
    d.submit('a', 1)
    const before = JSON.stringify(toRecords(d.state))
    expect(() => d.submit('a', 3)).toThrow(DuplicateJobError)
    expect(() => d.submit('b', 0)).toThrow(InvalidJobError)
    expect(() => d.submit('b', 1.5)).toThrow(InvalidJobError)
    expect(() => d.submit('', 1)).toThrow(InvalidJobError)
    expect(() => d.submit('b', 1, 0)).toThrow(InvalidJobError)
    expect(() => d.send({ type: 'cancel', jobId: 'zz', now: 0 })).toThrow(UnknownJobError)
    expect(JSON.stringify(toRecords(d.state))).toBe(before)
  })

  it('cancel revokes the job\'s leases and frees the slots for the next job', () => {
    const d = new Driver({ prefetch: 0 })
    d.peers([['A', 2]])
    const [a0] = ofType(d.submit('a', 5), 'assign')
    d.submit('b', 1)
    const effects = d.send({ type: 'cancel', jobId: 'a', now: 10 })
    expect(ofType(effects, 'revoke').map(e => [e.index, e.reason])).toEqual([[0, 'cancelled'], [1, 'cancelled']])
    expect(ofType(effects, 'jobCancelled')).toEqual([{ type: 'jobCancelled', jobId: 'a' }])
    expect(assigned(effects)).toEqual(['b/0/0@A'])
    expect(getJob(d.state, 'a')).toMatchObject({ state: 'cancelled', finishedAt: 10 })
    expect(ofType(d.done(a0!), 'ignored')).toHaveLength(1)
    expect(ofType(d.send({ type: 'cancel', jobId: 'a', now: 11 }), 'ignored')).toHaveLength(1)
  })

  it('forget removes a finished job\'s record for good (prune), and refuses one that has not finished', () => {
    const d = new Driver({ prefetch: 0 })
    d.peers([['A', 1]])
    const [a0] = ofType(d.submit('a', 1), 'assign')
    d.submit('b', 2)
    // Running: not forgotten (it would leave leases and watchers behind); cancel it first.
    expect(ofType(d.send({ type: 'forget', jobId: 'b', now: 5 }), 'ignored')).toHaveLength(1)
    d.done(a0!)
    expect(getJob(d.state, 'a')?.state).toBe('done')
    const effects = d.send({ type: 'forget', jobId: 'a', now: 6 })
    expect(ofType(effects, 'jobForgotten')).toEqual([{ type: 'jobForgotten', jobId: 'a' }])
    // Persisted as a deletion of its record (the Driver checks its disk equals the state after each step).
    const persist = only(ofType(effects, 'persist'))
    expect(persist.ops.filter(op => op.type === 'del').map(op => op.key)).toEqual(['j/000000000001'])
    expect(getJob(d.state, 'a')).toBeUndefined()
    expect(listJobs(d.state).map(j => j.id)).toEqual(['b'])
    expect(() => d.send({ type: 'forget', jobId: 'a', now: 7 })).toThrow(UnknownJobError)
    d.send({ type: 'cancel', jobId: 'b', now: 8 })
    expect(ofType(d.send({ type: 'forget', jobId: 'b', now: 9 }), 'jobForgotten')).toHaveLength(1)
    expect(listJobs(d.state)).toEqual([])
  })

  it('retire dates a done job\'s record (its files were given up) and keeps it; refuses a job that is not done', () => {
    const d = new Driver({ prefetch: 0 })
    d.peers([['A', 1]])
    const [a0] = ofType(d.submit('a', 1), 'assign')
    d.submit('b', 1)
    expect(ofType(d.send({ type: 'retire', jobId: 'b', now: 5 }), 'ignored')).toHaveLength(1)
    d.done(a0!)
    const effects = d.send({ type: 'retire', jobId: 'a', now: 6 })
    expect(ofType(effects, 'jobRetired')).toEqual([{ type: 'jobRetired', jobId: 'a', removedAt: 6 }])
    expect(getJob(d.state, 'a')).toMatchObject({ state: 'done', removedAt: 6 })
    // Persisted in the record, so a restart and every replica know it.
    expect(getJob(rebuildQueueState(toRecords(d.state)), 'a')?.removedAt).toBe(6)
    expect(ofType(d.send({ type: 'retire', jobId: 'a', now: 8 }), 'ignored')).toHaveLength(1)
    expect(getJob(d.state, 'a')?.removedAt).toBe(6)
    d.send({ type: 'cancel', jobId: 'b', now: 9 })
    expect(ofType(d.send({ type: 'retire', jobId: 'b', now: 10 }), 'ignored')).toHaveLength(1)
  })

  it('elected fences by epoch, renews outstanding leases and re-announces pending merges', () => {
    const d = new Driver({ leaseMs: 1000, prefetch: 0 })
    d.send({ type: 'elected', epoch: 3, now: 0 })
    d.peers([['A', 1]])
    const a = only(ofType(d.submit('p', 1, 2), 'assign'))
    expect(a.epoch).toBe(3)
    expect(a.leaseId.startsWith('3:')).toBe(true)
    // a result from a newer epoch means this master is stale: not accepted
    const newer = d.send({ type: 'done', jobId: 'p', phase: 0, index: 0, leaseId: a.leaseId, peer: 'A', now: 1, epoch: 4 })
    expect(ofType(newer, 'ignored')[0]?.reason).toMatch(/newer epoch/)
    const before = JSON.stringify(toRecords(d.state))
    expect(() => d.send({ type: 'elected', epoch: 2, now: 5 })).toThrow(StaleEpochError)
    expect(JSON.stringify(toRecords(d.state))).toBe(before)

    d.send({ type: 'elected', epoch: 4, now: 5000 })
    expect(leasesOf(d.state)[0]?.deadline).toBe(6000)
    // an older-epoch worker's result for a lease that is still current is accepted (work survives failover)
    const ok = d.send({ type: 'done', jobId: 'p', phase: 0, index: 0, leaseId: a.leaseId, peer: 'A', now: 5001, epoch: 3 })
    expect(ofType(ok, 'phaseComplete')).toHaveLength(1)
    expect(ofType(d.send({ type: 'elected', epoch: 5, now: 6000 }), 'phaseComplete')).toEqual([{ type: 'phaseComplete', jobId: 'p', phase: 0 }])
  })
})

describe('rebuild', () => {
  it('restores jobs, FIFO order, leases and attempts from the persisted records', () => {
    const d = new Driver({ leaseMs: 1000, prefetch: 1 })
    d.peers([['A', 1], ['B', 2]])
    for (let i = 0; i < 12; i++) d.submit(`j${i}`, 3, i % 2 + 1)
    const first = leasesOf(d.state)
    d.send({ type: 'failed', ...first[0]!, reason: 'bad', now: 10 })
    const copy = rebuildQueueState([...d.kv], { config: { leaseMs: 1000, prefetch: 1 } })
    expect(listJobs(copy)).toEqual(listJobs(d.state))
    expect(listJobs(copy).map(j => j.id)).toEqual(Array.from({ length: 12 }, (_, i) => `j${i}`))
    expect(leasesOf(copy)).toEqual(leasesOf(d.state))
    expect(tileInfo(copy, first[0]!.jobId, first[0]!.index)).toEqual(tileInfo(d.state, first[0]!.jobId, first[0]!.index))
    // with `now`, restored leases get a fresh deadline
    const rebased = rebuildQueueState([...d.kv], { config: { leaseMs: 1000 }, now: 50_000 })
    expect(leasesOf(rebased).every(l => l.deadline === 51_000)).toBe(true)
    // the rebuilt state carries on: same next lease id as the original would give
    const s2 = step(copy, { type: 'peers', view: [{ peer: 'C', freeSlots: 1, alive: true }], now: 20 })
    const s1 = step(d.state, { type: 'peers', view: [{ peer: 'C', freeSlots: 1, alive: true }], now: 20 })
    expect(ofType(s2.effects, 'assign')).toEqual(ofType(s1.effects, 'assign'))
  })

  it('an empty record set is an empty queue', () => {
    expect(listJobs(rebuildQueueState([]))).toEqual([])
    expect(createQueueState().config).toEqual(DEFAULT_QUEUE_CONFIG)
  })
})
