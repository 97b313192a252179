// Result verification in the queue machine: a checked tile is done only when two different peers returned
// the same hash; disagreement goes to a third peer, and the peer outvoted is distrusted (no more tiles, its
// work in running jobs redone, remembered across a rebuild). A tile nobody else can check is taken on one
// result; two that disagree with nobody left to decide fail the job.
import { describe, expect, it } from 'vitest'
import {
  type QueueConfig, blockedPeers, getJob, isChecked, leasesOf, rebuildQueueState, step, tileInfo
} from '../../src/scheduler/queue-machine.ts'
import { InvalidJobError } from '../../src/scheduler/errors.ts'
import { Driver, type Eff, ofType } from './helpers.ts'

function only<T> (xs: T[]): T {
  expect(xs).toHaveLength(1)
  return xs[0] as T
}

function driver (config: Partial<QueueConfig> = {}): Driver {
  return new Driver({ leaseMs: 1000, prefetch: 0, speculate: false, ...config })
}

function submit (d: Driver, id: string, tileCount: number, verify: number[], phaseCount = 1): ReturnType<Driver['send']> {
  return d.send({ type: 'submit', job: { id, tileCount, phaseCount, verify }, now: d.now })
}

function doneWith (d: Driver, a: Eff<'assign'>, hash: string): ReturnType<Driver['send']> {
  return d.send({ type: 'done', jobId: a.jobId, phase: a.phase, index: a.index, leaseId: a.leaseId, peer: a.peer, hash, now: d.now })
}

const at = (effects: ReturnType<Driver['send']>, peer: string): Eff<'assign'> => only(ofType(effects, 'assign').filter(a => a.peer === peer))

describe('verification: two peers must agree on a checked tile', () => {
  it('the first result waits for another peer\'s; the same hash from it completes the tile', () => {
    const d = driver()
    d.peers([['A', 1], ['B', 1]])
    const first = submit(d, 'j', 2, [0])
    expect(isChecked(d.state, 'j', 0)).toBe(true)
    expect(isChecked(d.state, 'j', 1)).toBe(false)
    const a0 = at(first, 'A')
    const b1 = at(first, 'B')
    expect([a0.index, b1.index]).toEqual([0, 1])

    const r1 = doneWith(d, a0, 'h')
    expect(ofType(r1, 'verifying')).toEqual([{ type: 'verifying', jobId: 'j', phase: 0, index: 0, peer: 'A', leaseId: a0.leaseId, disputed: false }])
    expect(ofType(r1, 'tileDone')).toEqual([])
    // A may not check itself: it stays idle while the tile waits for B
    expect(ofType(r1, 'assign')).toEqual([])
    expect(tileInfo(d.state, 'j', 0)).toMatchObject({ state: 'queued', results: [{ peer: 'A', hash: 'h' }] })

    const r2 = d.done(b1) // tile 1 is not checked: one result does
    expect(ofType(r2, 'tileDone').map(e => e.index)).toEqual([1])
    const b0 = at(r2, 'B')
    expect(b0.index).toBe(0)
    const r3 = doneWith(d, b0, 'h')
    expect(ofType(r3, 'tileDone')).toEqual([{ type: 'tileDone', jobId: 'j', phase: 0, index: 0, peer: 'B', leaseId: b0.leaseId }])
    expect(ofType(r3, 'jobDone')).toHaveLength(1)
    expect(ofType(r3, 'distrusted')).toEqual([])
  })

  it('results that differ go to a third peer; the one outvoted is distrusted, its other tiles redone, and it gets no more', () => {
    const d = driver()
    d.peers([['A', 1], ['B', 1], ['C', 1]])
    const first = submit(d, 'j', 4, [0])
    const a0 = at(first, 'A')
    const b1 = at(first, 'B')
    const c2 = at(first, 'C')
    // A lies on tile 0, then does tile 3 (its lie there is not checked)
    const a3 = at(doneWith(d, a0, 'bad'), 'A')
    expect(a3.index).toBe(3)
    const b0 = at(d.done(b1), 'B')
    expect(b0.index).toBe(0)
    expect(ofType(d.done(a3), 'tileDone').map(e => e.index)).toEqual([3])
    const disputed = doneWith(d, b0, 'good')
    expect(ofType(disputed, 'verifying')).toEqual([{ type: 'verifying', jobId: 'j', phase: 0, index: 0, peer: 'B', leaseId: b0.leaseId, disputed: true }])
    // neither A nor B may decide: it waits for C
    expect(ofType(disputed, 'assign')).toEqual([])
    const c0 = at(d.done(c2), 'C')
    expect(c0.index).toBe(0)

    const decided = doneWith(d, c0, 'good')
    expect(only(ofType(decided, 'distrusted'))).toMatchObject({ peer: 'A', reason: expect.stringMatching(/tile 0 .* of job j differs from that of 2 other peers/) })
    expect(ofType(decided, 'redo')).toEqual([{ type: 'redo', jobId: 'j', phase: 0, index: 3, peer: 'A' }])
    expect(ofType(decided, 'tileDone').map(e => [e.index, e.peer])).toEqual([[0, 'C']])
    // tile 3 is redone by an honest peer, never by A
    const redo = ofType(decided, 'assign')
    expect(redo.map(a => [a.index, a.peer])).toEqual([[3, 'B']])
    expect(getJob(d.state, 'j')).toMatchObject({ state: 'running', done: 3 })
    expect(ofType(d.done(redo[0]!), 'jobDone')).toHaveLength(1)
    expect(blockedPeers(d.state)).toEqual([{ peer: 'A', reason: expect.stringMatching(/differs/) }])

    // remembered on disk: a new master (rebuilt from the records) gives A nothing either
    const again = rebuildQueueState(d.kv, { config: d.state.config, now: d.now })
    expect(blockedPeers(again)).toEqual(blockedPeers(d.state))
    step(again, { type: 'peers', view: [{ peer: 'A', freeSlots: 4, alive: true }], now: d.now })
    const next = step(again, { type: 'submit', job: { id: 'k', tileCount: 2 }, now: d.now })
    expect(ofType(next.effects, 'assign')).toEqual([])
  })

  it('a checked tile no other peer can check is taken on one result', () => {
    const d = driver()
    d.peers([['A', 1]])
    const a0 = only(ofType(submit(d, 'j', 1, [0]), 'assign'))
    const r = doneWith(d, a0, 'h')
    expect(ofType(r, 'unverified')).toEqual([{ type: 'unverified', jobId: 'j', phase: 0, index: 0, peer: 'A', reason: 'no other peer can check it' }])
    expect(ofType(r, 'tileDone').map(e => e.peer)).toEqual(['A'])
    expect(ofType(r, 'jobDone')).toHaveLength(1)
  })

  it('two results that differ with no third peer to decide fail the job, naming both', () => {
    const d = driver()
    d.peers([['A', 1], ['B', 1]])
    const first = submit(d, 'j', 2, [0])
    expect(ofType(doneWith(d, at(first, 'A'), 'x'), 'assign')).toEqual([])
    const b0 = at(d.done(at(first, 'B')), 'B')
    const again = doneWith(d, b0, 'y')
    expect(only(ofType(again, 'jobFailed')).reason).toMatch(/results of A and B differ, and no other peer is left to decide/)
    expect(getJob(d.state, 'j')?.state).toBe('failed')
  })

  it('a speculative copy is the check: the original lease stands after the copy\'s result', () => {
    const d = driver({ speculate: true })
    d.peers([['A', 1], ['B', 1]])
    const first = submit(d, 'j', 2, [0])
    const a0 = at(first, 'A')
    const copy = at(d.done(at(first, 'B')), 'B')
    expect([copy.index, copy.speculative]).toEqual([0, true])
    const r1 = doneWith(d, copy, 'h')
    expect(ofType(r1, 'verifying')).toHaveLength(1)
    expect(ofType(r1, 'revoke')).toEqual([])
    expect(tileInfo(d.state, 'j', 0)).toMatchObject({ state: 'leased', lease: { leaseId: a0.leaseId } })
    const r2 = doneWith(d, a0, 'h')
    expect(ofType(r2, 'tileDone').map(e => e.peer)).toEqual(['A'])
    expect(ofType(r2, 'jobDone')).toHaveLength(1)
  })

  it('the shell\'s distrust revokes the peer\'s leases and redoes its work, also in a phase waiting for its merge', () => {
    const d = driver()
    d.peers([['A', 1], ['B', 1]])
    // job x: two phases, both tiles done, waiting for phaseReady; job y: A holds its tile
    const x = submit(d, 'x', 2, [], 2)
    d.done(at(x, 'A'))
    const yA = ofType(d.send({ type: 'submit', job: { id: 'y', tileCount: 1 }, now: d.now }), 'assign')
    expect(yA.map(a => a.peer)).toEqual(['A'])
    const waiting = d.done(at(x, 'B'))
    expect(ofType(waiting, 'phaseComplete')).toHaveLength(1)
    expect(getJob(d.state, 'x')?.awaitingMerge).toBe(true)

    const r = d.send({ type: 'distrust', peer: 'A', reason: 'kept pixels other than it reported', now: d.now })
    expect(ofType(r, 'distrusted')).toEqual([{ type: 'distrusted', peer: 'A', reason: 'kept pixels other than it reported' }])
    expect(ofType(r, 'revoke')).toEqual([expect.objectContaining({ jobId: 'y', peer: 'A', reason: 'distrusted' })])
    expect(ofType(r, 'redo').map(e => [e.jobId, e.index])).toEqual([['x', 0]])
    expect(getJob(d.state, 'x')).toMatchObject({ awaitingMerge: false, done: 1 })
    expect(leasesOf(d.state, 'A')).toEqual([])
    // B takes the redo of x first (FIFO), then y
    expect(ofType(r, 'assign').map(a => `${a.jobId}/${a.index}@${a.peer}`)).toEqual(['x/0@B'])
    // a second distrust of the same peer changes nothing
    expect(ofType(d.send({ type: 'distrust', peer: 'A', reason: 'again', now: d.now }), 'distrusted')).toEqual([])
  })

  it('a verify list with an index outside the job is refused before anything changes', () => {
    const d = driver()
    expect(() => submit(d, 'j', 2, [2])).toThrow(InvalidJobError)
    expect(() => submit(d, 'j', 2, [-1])).toThrow(/verify must list tile indices in 0\.\.1/)
    expect(getJob(d.state, 'j')).toBeUndefined()
  })
})
