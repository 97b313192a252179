// The follower's side of queue replication against a stand-in master over in-memory streams: a master
// whose snapshot lacks jobs this peer holds gets them handed over first, and its queue is taken once its
// snapshot holds them; a master that says it took them and then replicates a queue without them (a rogue
// answering "taken" with an empty queue) is refused, and this peer keeps its queue.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { streamPair } from '@libp2p/utils'
import type { Libp2p, PeerId } from '@libp2p/interface'
import { afterEach, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { openStore, type SwarmDb } from '../../src/node/store.ts'
import { jobKey } from '../../src/scheduler/records.ts'
import { QueueReplica } from '../../src/scheduler/replica.ts'
import { ReplicationSink } from '../../src/scheduler/replication.ts'
import { FrameStream } from '../../src/transfer/frames.ts'

let dir = ''
let db: SwarmDb | undefined
let sink: ReplicationSink | undefined
afterEach(async () => {
  await sink?.stop()
  sink = undefined
  await db?.close()
  db = undefined
  if (dir !== '') await rm(dir, { recursive: true, force: true })
})

const job = (seq: number, id: string): [string, unknown] =>
  [jobKey(seq), { v: 1, id, seq, tileCount: 4, phaseCount: 1, submittedAt: 0, state: 'running', phase: 0, awaitingReady: false, doneBefore: 0 }]

/** A stand-in master: each subscription gets a snapshot of `queue()` and then stays open. */
function standIn (queue: () => Array<[string, unknown]>): { node: Libp2p, subscriptions: () => number } {
  let n = 0
  const node = {
    dialProtocol: async () => {
      n++
      const [a, b] = await streamPair()
      void (async () => {
        const fs = new FrameStream(b, { maxFrameBytes: 1 << 20, readTimeoutMs: 10_000 })
        await fs.readJson(z.unknown()).catch(() => {})
        const records = queue()
        await fs.writeJson({ type: 'snapshot', epoch: 5, pos: 10, count: records.length })
        if (records.length > 0) await fs.writeJson({ type: 'records', records })
      })().catch(() => {})
      return a
    }
  } as unknown as Libp2p
  return { node, subscriptions: () => n }
}

async function until (cond: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await cond()) return
    await new Promise(resolve => setTimeout(resolve, 25))
  }
  throw new Error(`timed out waiting for ${what}`)
}

async function setup (): Promise<{ replica: QueueReplica, master: PeerId }> {
  dir = await mkdtemp(join(tmpdir(), 'swarm-sink-'))
  db = await openStore(dir)
  const replica = new QueueReplica(db)
  await replica.replace([job(1, 'mine-a'), job(2, 'mine-b')])
  return { replica, master: peerIdFromPrivateKey(await generateKeyPair('Ed25519')) }
}

describe('replication sink: adopting a new master\'s queue', () => {
  it('an honest master: jobs handed over first, its queue taken once its snapshot holds them', async () => {
    const { replica, master } = await setup()
    const taken: string[] = []
    const m = standIn(() => [job(7, 'theirs'), ...taken.map((id, i) => job(20 + i, id))])
    const logs: string[] = []
    sink = new ReplicationSink(m.node, replica, () => 5, {
      position: () => {}, finished: () => {}, forgotten: () => {}, log: (msg) => { logs.push(msg) },
      handover: async (missing) => { const ids = missing.map(([, v]) => (v as { id: string }).id); taken.push(...ids); return { failed: 0, taken: ids } }
    })
    await sink.follow(master)
    await until(async () => (await replica.job('theirs')) != null, 'the master\'s queue taken')
    for (const id of ['theirs', 'mine-a', 'mine-b']) expect(await replica.job(id), id).toBeDefined()
    expect(taken.sort()).toEqual(['mine-a', 'mine-b'])
    expect(logs.filter(l => /refused/.test(l))).toEqual([])
  })

  it('a master that said it took the jobs but replicates a queue without them is refused, and the queue here is kept', async () => {
    const { replica, master } = await setup()
    const m = standIn(() => [])
    const logs: string[] = []
    let handovers = 0
    sink = new ReplicationSink(m.node, replica, () => 5, {
      position: () => {}, finished: () => {}, forgotten: () => {}, log: (msg) => { logs.push(msg) },
      handover: async (missing) => { handovers++; return { failed: 0, taken: missing.map(([, v]) => (v as { id: string }).id) } }
    })
    await sink.follow(master)
    await until(() => logs.some(l => l.includes('refused')), 'the refusal')
    await until(() => m.subscriptions() >= 4, 'a few more tries')
    expect(logs.find(l => l.includes('refused'))).toContain(master.toString())
    // Handed over once; every later snapshot without them is refused, not answered with more hand-overs.
    expect(handovers).toBe(1)
    for (const id of ['mine-a', 'mine-b']) expect(await replica.job(id), id).toBeDefined()
  })
  it('acknowledges the snapshot\'s position, then each batch\'s once it is written', async () => {
    const { replica, master } = await setup()
    const acks: number[] = []
    const node = {
      dialProtocol: async () => {
        const [a, b] = await streamPair()
        void (async () => {
          const fs = new FrameStream(b, { maxFrameBytes: 1 << 20, readTimeoutMs: 10_000 })
          await fs.readJson(z.unknown())
          const records = [job(1, 'mine-a'), job(2, 'mine-b')]
          await fs.writeJson({ type: 'snapshot', epoch: 5, pos: 10, count: records.length })
          await fs.writeJson({ type: 'records', records })
          const Ack = z.object({ type: z.literal('ack'), pos: z.number() })
          acks.push((await fs.readJson(Ack)).pos)
          await fs.writeJson({ type: 'batch', epoch: 5, pos: 11, ops: [{ type: 'put', key: jobKey(3), value: job(3, 'new')[1] }] })
          acks.push((await fs.readJson(Ack)).pos)
        })().catch(() => {})
        return a
      }
    } as unknown as Libp2p
    sink = new ReplicationSink(node, replica, () => 5, { position: () => {}, finished: () => {}, forgotten: () => {}, log: () => {}, handover: async () => ({ failed: 0, taken: [] }) })
    await sink.follow(master)
    await until(() => acks.length === 2, 'two acknowledgements')
    expect(acks).toEqual([10, 11])
    // Acknowledged means written: the batch's job is in the replica by then.
    expect(await replica.job('new')).toBeDefined()
  })
})
