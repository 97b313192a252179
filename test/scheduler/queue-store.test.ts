import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Level } from 'level'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { QueueStore } from '../../src/scheduler/queue-store.ts'
import { type QueueEffect, leasesOf, listJobs, tileInfo, toRecords } from '../../src/scheduler/queue-machine.ts'
import { DuplicateJobError, PersistError, StoreClosedError, StoreOpenError } from '../../src/scheduler/errors.ts'
import { type Eff, ofType } from './helpers.ts'

let dir: string

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'swarm-queue-'))
})

afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

const view = (now: number, ...peers: Array<[string, number]>) => ({ type: 'peers' as const, view: peers.map(([peer, freeSlots]) => ({ peer, freeSlots, alive: true })), now })

function doneOf (a: Eff<'assign'>, now: number) {
  return { type: 'done' as const, jobId: a.jobId, phase: a.phase, index: a.index, leaseId: a.leaseId, peer: a.peer, now }
}

/** what the disk holds must equal what the state says it persisted (deadlines aside: renewals are not written) */
async function expectDiskMatches (store: QueueStore): Promise<void> {
  const strip = (v: unknown): unknown => {
    const c = JSON.parse(JSON.stringify(v)) as { lease?: { deadline?: number } }
    if (c.lease !== undefined) delete c.lease.deadline
    return c
  }
  const disk = (await store.records()).map(([k, v]) => [k, strip(v)])
  expect(disk).toEqual(toRecords(store.state).map(([k, v]) => [k, strip(v)]))
}

describe('QueueStore', () => {
  it('persists every step; after close and reopen the read model is the same and leases come back', async () => {
    const location = join(dir, 'q')
    const cfg = { leaseMs: 1000, prefetch: 0 }
    let store = await QueueStore.open({ location, config: cfg, now: 0 })
    await store.step({ type: 'elected', epoch: 1, now: 0 })
    await store.step(view(0, ['A', 1], ['B', 2]))
    const assigns: Array<Eff<'assign'>> = []
    const collect = (effs: QueueEffect[]): QueueEffect[] => {
      expect(effs.some(e => e.type === 'persist')).toBe(false)
      assigns.push(...ofType(effs, 'assign'))
      return effs
    }
    collect(await store.step({ type: 'submit', job: { id: 'first', tileCount: 4, meta: { input: 'blob:1', ops: ['blur'] } }, now: 1 }))
    collect(await store.step({ type: 'submit', job: { id: 'second', tileCount: 2, phaseCount: 2 }, now: 2 }))
    collect(await store.step({ type: 'submit', job: { id: 'third', tileCount: 1 }, now: 3 }))
    expect(assigns.map(a => `${a.jobId}/${a.index}@${a.peer}`)).toEqual(['first/0@A', 'first/1@B', 'first/2@B'])
    collect(await store.step(doneOf(assigns[0]!, 10)))
    collect(await store.step({ type: 'failed', jobId: 'first', phase: 0, index: 1, leaseId: assigns[1]!.leaseId, peer: 'B', reason: 'oom', now: 11 }))
    await expectDiskMatches(store)
    const before = listJobs(store.state)
    const leasesBefore = leasesOf(store.state)
    expect(leasesBefore.length).toBeGreaterThan(0)
    expect(before.find(j => j.id === 'first')?.meta).toEqual({ input: 'blob:1', ops: ['blur'] })
    await store.close()
    await expect(store.step({ type: 'tick', now: 12 })).rejects.toThrow(StoreClosedError)

    store = await QueueStore.open({ location, config: cfg, now: 50_000 })
    expect(listJobs(store.state)).toEqual(before)
    // leases come back as leases (workers that are still alive keep their work), with a fresh
    // deadline from the restart time: nobody could renew while the master was down
    expect(leasesOf(store.state)).toEqual(leasesBefore.map(l => ({ ...l, deadline: 51_000 })))
    expect(tileInfo(store.state, 'first', 1)?.attempts).toEqual([{ peer: 'B', reason: 'oom', at: 11, counted: true }])
    // a worker that kept working across the restart delivers: its result counts once
    const held = leasesBefore[0]!
    const effs = await store.step({ type: 'done', jobId: held.jobId, phase: held.phase, index: held.index, leaseId: held.leaseId, peer: held.peer, now: 50_001 })
    expect(ofType(effs, 'tileDone')).toHaveLength(1)
    // new lease ids never collide with the ones before the restart
    const fresh = ofType(await store.step(view(50_002, ['A', 1], ['B', 2], ['C', 4])), 'assign')
    expect(fresh.length).toBeGreaterThan(0)
    for (const a of fresh) expect(assigns.map(x => x.leaseId)).not.toContain(a.leaseId)
    await expectDiskMatches(store)
    await store.close()
    await store.close() // idempotent
  })

  it('keeps FIFO order across a reload (zero-padded seq keys)', async () => {
    const location = join(dir, 'fifo')
    let store = await QueueStore.open({ location })
    const ids = Array.from({ length: 12 }, (_, i) => `job-${String.fromCharCode(122 - i)}`) // z, y, x...: ids sort backwards
    for (const [i, id] of ids.entries()) await store.step({ type: 'submit', job: { id, tileCount: 1 }, now: i })
    await store.close()
    store = await QueueStore.open({ location, now: 100, config: { prefetch: 0 } })
    expect(listJobs(store.state).map(j => j.id)).toEqual(ids)
    const jobKeys = (await store.records()).map(([k]) => k).filter(k => k.startsWith('j/'))
    expect(jobKeys).toEqual(ids.map((_, i) => `j/${String(i + 1).padStart(12, '0')}`))
    // and dispatch after the reload serves them in that order
    const order: string[] = []
    let effs = await store.step(view(101, ['A', 1]))
    for (let i = 0; i < ids.length; i++) {
      const a = ofType(effs, 'assign')[0]!
      order.push(a.jobId)
      effs = await store.step(doneOf(a, 102 + i))
    }
    expect(order).toEqual(ids)
    await store.close()
  })

  it('lives in a sublevel of a db owned by the caller and leaves it open', async () => {
    const db = new Level<string, string>(join(dir, 'db'), { valueEncoding: 'utf8' })
    await db.open()
    await db.put('node/epoch', '7')
    const store = await QueueStore.open({ db })
    await store.step({ type: 'submit', job: { id: 'a', tileCount: 3 }, now: 0 })
    expect(store.jobs().map(j => j.id)).toEqual(['a'])
    await store.close()
    expect(db.status).toBe('open')
    expect(await db.get('node/epoch')).toBe('7')
    const again = await QueueStore.open({ db, now: 5 })
    expect(again.job('a')).toMatchObject({ state: 'queued', total: 3 })
    await again.close()
    await db.close()
  })

  it('a failed batch writes nothing and leaves the state as it was on disk', async () => {
    const db = new Level<string, string>(join(dir, 'db'), { valueEncoding: 'utf8' })
    const store = await QueueStore.open({ db })
    await store.step({ type: 'submit', job: { id: 'a', tileCount: 2 }, now: 0 })
    const before = listJobs(store.state)
    const realBatch = db.batch.bind(db)
    let fail = true
    ;(db as unknown as { batch: (...args: unknown[]) => Promise<void> }).batch = async (...args: unknown[]) => {
      if (fail) {
        fail = false
        throw new Error('disk full')
      }
      return await (realBatch as (...a: unknown[]) => Promise<void>)(...args)
    }
    await expect(store.step({ type: 'submit', job: { id: 'b', tileCount: 1 }, now: 1 })).rejects.toThrow(PersistError)
    expect(listJobs(store.state)).toEqual(before)
    await expectDiskMatches(store)
    // the store goes on; the event can be retried
    await store.step({ type: 'submit', job: { id: 'b', tileCount: 1 }, now: 2 })
    expect(store.jobs().map(j => j.id)).toEqual(['a', 'b'])
    // a bad command throws its own error, writes nothing, and does not jam the queue of steps
    await expect(store.step({ type: 'submit', job: { id: 'b', tileCount: 1 }, now: 3 })).rejects.toThrow(DuplicateJobError)
    await store.step({ type: 'submit', job: { id: 'c', tileCount: 1 }, now: 4 })
    await expectDiskMatches(store)
    await store.close()
    await db.close()
  })

  it('serialises concurrent steps in call order', async () => {
    const store = await QueueStore.open({ location: join(dir, 'c') })
    const results = await Promise.all(Array.from({ length: 20 }, async (_, i) =>
      await store.step({ type: 'submit', job: { id: `j${i}`, tileCount: 1 }, now: i })))
    expect(results.map(r => ofType(r, 'jobQueued')[0]?.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1))
    await expectDiskMatches(store)
    await store.close()
  })

  it('a step starts only after the previous step\'s batch is written', async () => {
    const db = new Level<string, string>(join(dir, 'slow'), { valueEncoding: 'utf8' })
    const store = await QueueStore.open({ db })
    const realBatch = db.batch.bind(db) as (...a: unknown[]) => Promise<void>
    let calls = 0
    ;(db as unknown as { batch: (...args: unknown[]) => Promise<void> }).batch = async (...args: unknown[]) => {
      if (calls++ === 0) await new Promise(resolve => setTimeout(resolve, 50)) // a slow disk, once
      return await realBatch(...args)
    }
    const order: string[] = []
    await Promise.all([
      store.step({ type: 'submit', job: { id: 'slow', tileCount: 1 }, now: 0 }).then(() => order.push('slow')),
      store.step({ type: 'submit', job: { id: 'fast', tileCount: 1 }, now: 1 }).then(() => order.push('fast'))
    ])
    expect(order).toEqual(['slow', 'fast'])
    await store.close()
    await db.close()
  })

  it('refuses a data dir another store holds', async () => {
    const location = join(dir, 'locked')
    const store = await QueueStore.open({ location })
    await expect(QueueStore.open({ location })).rejects.toThrow(StoreOpenError)
    await store.close()
  })
})
