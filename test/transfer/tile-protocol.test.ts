// The tile protocol between two real libp2p nodes on 127.0.0.1: the worker answers with the same
// pixels as running the tile here, and says whether it kept a copy (which spares the master a standby copy).
import { afterEach, describe, expect, it } from 'vitest'
import { parsePipeline, runTile, type TileResult } from '../../src/ops/index.ts'
import { WorkerRuntime } from '../../src/scheduler/worker.ts'
import { sendTile } from '../../src/transfer/tile-client.ts'
import type { TileRequest } from '../../src/transfer/messages.ts'
import { photoLike } from '../ops/helpers.ts'
import { Nodes } from './helpers.ts'

const nodes = new Nodes()
const workers: WorkerRuntime[] = []
afterEach(async () => {
  await Promise.all(workers.splice(0).map(async w => { await w.close() }))
  await nodes.stopAll()
})

const pipeline = parsePipeline(['blur:1', 'grayscale'])
const tile = photoLike(48, 40, 3, 7)
const core = { x: 4, y: 4, width: 40, height: 32 }
const req: TileRequest = {
  jobId: 'jtest', phase: 0, index: 5, leaseId: 'l1', epoch: 2, pipeline,
  width: tile.width, height: tile.height, channels: tile.channels, core, stats: [], renewMs: 1000
}

async function send (keep: WorkerRuntime['opts']['keep']): Promise<Awaited<ReturnType<typeof sendTile>>> {
  const [a, b] = [await nodes.start(), await nodes.start()]
  const worker = new WorkerRuntime({ slots: 1, epoch: () => 2, keep })
  workers.push(worker)
  await worker.register(b)
  await a.dial(b.getMultiaddrs()[0])
  return await sendTile(a, b.peerId, req, tile.data, { signal: AbortSignal.timeout(10_000), onWorking: () => {}, readTimeoutMs: 5000, commit: async () => {} })
}

describe('tile protocol', () => {
  it('the worker keeps its result before it answers, and says so', async () => {
    const kept: Array<{ req: TileRequest, result: TileResult }> = []
    const got = await send(async (r, result) => { kept.push({ req: r, result }) })
    const want = runTile(tile, pipeline, { phase: 0, stats: [], core })
    expect(got.kept).toBe(true)
    expect('image' in got && got.image.data).toEqual('image' in want && want.image.data)
    expect(kept.length).toBe(1)
    expect(kept[0].req.index).toBe(5)
    expect('image' in kept[0].result && kept[0].result.image.data).toEqual('image' in want && want.image.data)
  })

  it('a worker that cannot keep its result still sends it, marked not kept', async () => {
    const got = await send(async () => { throw new Error('disk full') })
    expect(got.kept).toBe(false)
    expect('image' in got && got.image.width).toBe(40)
  })

  it('a worker with no store says not kept', async () => {
    const got = await send(undefined)
    expect(got.kept).toBe(false)
  })
})
