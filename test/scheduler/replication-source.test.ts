// The master's side of queue replication, over an in-memory stream: snapshot first, then every batch
// in order, with batches that pile up while a frame is written merged into the next frame.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { streamPair } from '@libp2p/utils'
import type { Connection, Libp2p, Stream } from '@libp2p/interface'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { ReplicationSource } from '../../src/scheduler/replication.ts'
import { QueueStore } from '../../src/scheduler/queue-store.ts'
import type { PersistOp } from '../../src/scheduler/records.ts'
import { FrameStream } from '../../src/transfer/frames.ts'
import { RemoteError } from '../../src/transfer/errors.ts'

let dir: string
let store: QueueStore | undefined

beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'swarm-repl-')) })
afterEach(async () => {
  await store?.close()
  store = undefined
  await rm(dir, { recursive: true, force: true })
})

const Frame = z.object({ type: z.string(), epoch: z.number().optional(), pos: z.number().optional(), count: z.number().optional(), ops: z.array(z.unknown()).optional(), records: z.array(z.unknown()).optional() })

/** A source registered on a stand-in node, with one follower connected over an in-memory stream. */
let handler: ((s: Stream, c: Connection) => Promise<void>) | undefined
async function follower (source: ReplicationSource, peer = 'follower-a'): Promise<FrameStream> {
  const node = { handle: async (_p: string, h: (s: Stream, c: Connection) => Promise<void>) => { handler = h }, unhandle: async () => { handler = undefined } } as unknown as Libp2p
  await source.start({ libp2p: node })
  const [a, b] = await streamPair()
  void handler!(b, { remotePeer: { toString: () => peer } } as unknown as Connection)
  const fs = new FrameStream(a, { maxFrameBytes: 1 << 20, readTimeoutMs: 2000 })
  await fs.writeJson({ epoch: 0 })
  return fs
}

const op = (i: number): PersistOp => ({ type: 'del', key: `t/x/0/${i}` })

describe('ReplicationSource', () => {
  it('sends the snapshot, then every batch in order; a burst goes out in fewer frames ending at the last position', async () => {
    store = await QueueStore.open({ location: join(dir, 'q') })
    const source = new ReplicationSource({ store: () => store, epoch: () => 3 })
    const fs = await follower(source)
    const head = await fs.readJson(Frame)
    expect(head.type).toBe('snapshot')
    expect(head.epoch).toBe(3)
    const from = head.pos ?? 0
    for (let n = 0; n < (head.count ?? 0);) n += (await fs.readJson(Frame)).records?.length ?? 0
    expect(source.followers).toBe(1)

    // Ops of a batch at or before the snapshot's position are not sent again.
    source.publish([op(-1)], from)
    const burst = 250
    for (let i = 1; i <= burst; i++) source.publish([op(i)], from + i)
    const got: unknown[] = []
    let frames = 0
    let last = from
    for (let i = 0; i < burst && got.length < burst; i++) {
      const m = await fs.readJson(Frame)
      expect(m.type).toBe('batch')
      expect(m.pos).toBeGreaterThan(last)
      last = m.pos!
      got.push(...m.ops!)
      frames++
    }
    expect(got).toEqual(Array.from({ length: burst }, (_, i) => op(i + 1)))
    expect(last).toBe(from + burst)
    expect(frames).toBeLessThan(burst)
    source.closeAll()
    expect(source.followers).toBe(0)
  })

  it('stop unregisters the protocol and cuts every follower off', async () => {
    store = await QueueStore.open({ location: join(dir, 'q') })
    const source = new ReplicationSource({ store: () => store, epoch: () => 2 })
    const fs = await follower(source)
    expect((await fs.readJson(Frame)).type).toBe('snapshot')
    expect(source.followers).toBe(1)
    await source.stop()
    expect(handler).toBeUndefined()
    expect(source.followers).toBe(0)
    // The follower's stream ends: it reads what is left, then fails instead of waiting for batches.
    await expect((async () => { for (let i = 0; i < 100; i++) await fs.readJson(Frame) })()).rejects.toThrow()
  })

  it('answers "not master" when it holds no queue', async () => {
    const source = new ReplicationSource({ store: () => undefined, epoch: () => 1 })
    const fs = await follower(source)
    await expect(fs.readJson(Frame)).rejects.toThrow(RemoteError)
  })
  it('acknowledged: true once a named follower has written the position, false for others or after the bound', async () => {
    store = await QueueStore.open({ location: join(dir, 'q') })
    const source = new ReplicationSource({ store: () => store, epoch: () => 1 })
    const fs = await follower(source, 'standby')
    const head = await fs.readJson(Frame)
    const from = head.pos ?? 0
    for (let n = 0; n < (head.count ?? 0);) n += (await fs.readJson(Frame)).records?.length ?? 0
    source.publish([op(1)], from + 1)
    expect((await fs.readJson(Frame)).pos).toBe(from + 1)
    // Not yet acknowledged: a short bound runs out; a peer that is not subscribed is never waited for.
    expect(await source.acknowledged(['standby'], from + 1, 50)).toBe(false)
    expect(await source.acknowledged(['someone-else'], from, 50)).toBe(false)
    expect(await source.acknowledged([], from, 50)).toBe(false)
    const waiting = source.acknowledged(['other', 'standby'], from + 1, 10_000)
    await fs.writeJson({ type: 'ack', pos: from })
    await fs.writeJson({ type: 'ack', pos: from + 1 })
    expect(await waiting).toBe(true)
    // Already acknowledged: answered at once.
    expect(await source.acknowledged(['standby'], from + 1, 1)).toBe(true)
    // A waiter is released (false) when this peer stops being master.
    const cut = source.acknowledged(['standby'], from + 2, 10_000)
    source.closeAll()
    expect(await cut).toBe(false)
  })
})
