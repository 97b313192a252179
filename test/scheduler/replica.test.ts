import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { openStore, type SwarmDb } from '../../src/node/store.ts'
import { QueueReplica } from '../../src/scheduler/replica.ts'
import { jobKey, tileKey } from '../../src/scheduler/records.ts'

let dir = ''
let db: SwarmDb | undefined
afterEach(async () => {
  await db?.close()
  db = undefined
  if (dir !== '') await rm(dir, { recursive: true, force: true })
})

describe('queue replica', () => {
  it('finds one job by id among the job records only', async () => {
    dir = await mkdtemp(join(tmpdir(), 'swarm-replica-'))
    db = await openStore(dir)
    const replica = new QueueReplica(db)
    const job = (seq: number, id: string, state: string): [string, unknown] =>
      [jobKey(seq), { v: 1, id, seq, tileCount: 4, phaseCount: 1, submittedAt: 0, state, phase: 0, awaitingReady: false, doneBefore: 0 }]
    await replica.replace([
      job(1, 'first', 'done'),
      job(2, 'second', 'running'),
      [tileKey(2, 0, 0), { v: 1, state: 'done', peer: 'p', attempts: [] }],
      [tileKey(2, 0, 1), { v: 1, state: 'queued', attempts: [] }]
    ])
    expect(await replica.job('second')).toMatchObject({ id: 'second', state: 'running' })
    expect(await replica.job('first')).toMatchObject({ id: 'first', state: 'done' })
    expect(await replica.job('none')).toBeUndefined()
  })
})
