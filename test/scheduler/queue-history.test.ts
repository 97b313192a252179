// A job's history in the queue's own records: when its first tile was leased and which peers completed its
// tiles are on the job record, so they outlive the master that ran the job (a restart, a standby's replica)
// and the tile records, which go when the job ends. Records written before these fields load as they are.
import { describe, expect, it } from 'vitest'
import { checkOp } from '../../src/scheduler/records.ts'
import { getJob, rebuildQueueState, toRecords } from '../../src/scheduler/queue-machine.ts'
import { Driver, ofType } from './helpers.ts'

describe('queue machine: a job\'s history', () => {
  it('keeps the first lease\'s time and the peers that did its tiles, through a rebuild from its records', () => {
    const d = new Driver({ leaseMs: 1000, prefetch: 0, speculate: false })
    d.now = 100
    d.submit('a', 3)
    expect(getJob(d.state, 'a')).toMatchObject({ workers: [] })
    expect(getJob(d.state, 'a')?.startedAt).toBeUndefined()
    d.now = 250
    const first = ofType(d.peers([['p1', 1], ['p2', 1]]), 'assign')
    expect(first).toHaveLength(2)
    d.now = 400
    const p2 = first.find(a => a.peer === 'p2')!
    const next = ofType(d.done(p2), 'assign')
    d.now = 500
    for (const a of [...first.filter(a => a.peer === 'p1'), ...next]) d.done(a)
    const job = getJob(d.state, 'a')!
    expect(job.state).toBe('done')
    expect(job).toMatchObject({ submittedAt: 100, startedAt: 250, finishedAt: 500, workers: ['p1', 'p2'] })
    // A new master (or this one restarted) reads them from the job record alone: no tile record is left.
    const records = toRecords(d.state)
    expect(records.filter(([k]) => k.startsWith('t/'))).toEqual([])
    const rebuilt = rebuildQueueState(records.map(([k, v]) => [k, JSON.parse(JSON.stringify(v))]), { now: 900 })
    expect(getJob(rebuilt, 'a')).toMatchObject({ startedAt: 250, workers: ['p1', 'p2'] })
    // And a follower keeps them from the replicated change.
    const [key, value] = records.find(([k]) => k.startsWith('j/'))!
    expect(checkOp({ type: 'put', key, value: JSON.parse(JSON.stringify(value)) })).toMatchObject({ value: { startedAt: 250, workers: ['p1', 'p2'] } })
  })

  it('a later lease does not move the start, and a peer that did several tiles is listed once', () => {
    const d = new Driver({ leaseMs: 1000, prefetch: 0, speculate: false })
    d.submit('a', 2, 2)
    d.now = 10
    let out = ofType(d.peers([['p1', 1]]), 'assign')
    for (let i = 0; i < 2; i++) { d.now += 10; out = ofType(d.done(out[0]!), 'assign') }
    // phase 0 complete: phase 1 is leased once its merged statistics come
    d.now = 100
    out = ofType(d.send({ type: 'phaseReady', jobId: 'a', phase: 1, data: null, now: d.now }), 'assign')
    expect(out).toHaveLength(1)
    expect(getJob(d.state, 'a')).toMatchObject({ startedAt: 10, workers: ['p1'] })
  })

  it('loads a job record written before startedAt and workers were kept', () => {
    const old = { v: 1, id: 'x', seq: 0, tileCount: 1, phaseCount: 1, submittedAt: 5, state: 'done', phase: 0, awaitingReady: false, doneBefore: 1, finishedAt: 9 }
    const s = rebuildQueueState([['m', { v: 1, epoch: 1, pos: 3, nextSeq: 1, nextLease: 1 }], ['j/000000000000', old]])
    const job = getJob(s, 'x')!
    expect(job.workers).toEqual([])
    expect(job.startedAt).toBeUndefined()
    expect(toRecords(s).find(([k]) => k === 'j/000000000000')?.[1]).toEqual(old)
  })
})
