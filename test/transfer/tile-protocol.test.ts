// The tile protocol between two real libp2p nodes on 127.0.0.1: the worker answers with the same
// pixels as running the tile here, and says whether it kept a copy (which spares the master a standby copy).
// On a manual clock: "working" frames come every renewMs of the worker's clock, and once the worker follows
// another master its renewals and its kept result go to that one (tile-done notices) instead.
import { afterEach, describe, expect, it } from 'vitest'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createRaw, encodeImageToBuffer, parsePipeline, runTile, sliceTile, type TileResult } from '../../src/ops/index.ts'
import { RemoteError } from '../../src/transfer/errors.ts'
import { ErrorCodes } from '../../src/transfer/messages.ts'
import { WorkerRuntime, type WorkerOptions } from '../../src/scheduler/worker.ts'
import { ManualClock } from '../../src/transfer/clock.ts'
import type { TileNotice } from '../../src/transfer/tile-done.ts'
import { sendTile, TileService } from '../../src/transfer/tile-protocol.ts'
import type { TileRequest } from '../../src/transfer/messages.ts'
import { photoLike } from '../ops/helpers.ts'
import { MemoryBudget } from '../../src/ops/memory-budget.ts'
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

async function send (keep: WorkerRuntime['opts']['keep'], opts: { copy?: WorkerOptions['copy'], fetchInput?: WorkerOptions['fetchInput'], wholeInputMaxBytes?: number, req?: TileRequest, memory?: MemoryBudget } = {}): Promise<Awaited<ReturnType<typeof sendTile>>> {
  const [a, b] = [await nodes.start(), await nodes.start()]
  const worker = new WorkerRuntime({ slots: 1, epoch: () => 2, keep, copy: opts.copy, fetchInput: opts.fetchInput, wholeInputMaxBytes: opts.wholeInputMaxBytes, memory: opts.memory })
  workers.push(worker)
  await new TileService({ libp2p: b }, { handler: worker }).start()
  await a.dial(b.getMultiaddrs()[0])
  return await sendTile(a, b.peerId, opts.req ?? req, tile.data, { signal: AbortSignal.timeout(10_000), onWorking: () => {}, readTimeoutMs: 5000, commit: async () => {} })
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

  it('asked to copy its result to standbys, a worker that kept it and copied it sends only its size', async () => {
    const asked: string[][] = []
    const got = await send(async () => {}, { req: { ...req, copyTo: ['standby-1', 'standby-2'] }, copy: async (_r, peers) => { asked.push(peers); return peers.slice(1) } })
    expect(asked).toEqual([['standby-1', 'standby-2']])
    expect(got).toEqual({ stored: { width: 40, height: 32, channels: 1 }, copies: ['standby-2'], kept: true })
  })

  it('a worker whose copies all failed, or that could not keep its result, sends the pixels', async () => {
    const none = await send(async () => {}, { req: { ...req, copyTo: ['standby-1'] }, copy: async () => [] })
    expect('image' in none && none.image.width).toBe(40)
    let copied = false
    const unkept = await send(async () => { throw new Error('disk full') }, { req: { ...req, copyTo: ['standby-1'] }, copy: async (_r, p) => { copied = true; return p } })
    expect('image' in unkept && unkept.kept).toBe(false)
    expect(copied).toBe(false)
  })

  it('a request with a source: the worker cuts the tile from the job\'s input (fetched once), no pixels sent', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'swarm-cut-'))
    try {
      const image = createRaw(80, 60, 3)
      image.data.set(photoLike(80, 60, 3, 11).data)
      const path = join(dir, 'input.png')
      await writeFile(path, await encodeImageToBuffer(image, 'png'))
      const halo = { x: 20, y: 10, width: tile.width, height: tile.height }
      const fetched: string[] = []
      const got = await send(undefined, {
        req: { ...req, source: { sha256: 'cd'.repeat(32), holders: ['standby-1'], x: halo.x, y: halo.y } },
        fetchInput: async (r) => { fetched.push(`${r.jobId}<-${r.source?.holders.join(',')}`); return path }
      })
      const want = runTile(sliceTile(image, { index: 5, core: halo, halo }), pipeline, { phase: 0, stats: [], core })
      expect(fetched).toEqual(['jtest<-standby-1'])
      expect('image' in got && Buffer.from(got.image.data).equals(Buffer.from('image' in want ? want.image.data : []))).toBe(true)
      // An input larger than the worker keeps whole: only the tile's rectangle is decoded, same pixels.
      const regional = await send(undefined, {
        req: { ...req, source: { sha256: 'cd'.repeat(32), holders: ['standby-1'], x: halo.x, y: halo.y } },
        fetchInput: async () => path,
        wholeInputMaxBytes: 1000
      })
      expect('image' in regional && Buffer.from(regional.image.data).equals(Buffer.from('image' in want ? want.image.data : []))).toBe(true)
      // No holder answers: the master hears input-unavailable (not the tile's fault), not bad-tile.
      const failed = await send(undefined, { req: { ...req, source: { sha256: 'cd'.repeat(32), holders: ['gone'], x: 0, y: 0 } }, fetchInput: async () => { throw new Error('no holder is live') } }).catch((err: Error) => err)
      expect(failed).toBeInstanceOf(RemoteError)
      expect(failed).toMatchObject({ code: ErrorCodes.inputUnavailable, message: expect.stringContaining('no holder is live') })
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('a tile announced larger than the worker\'s memory budget is refused as no-memory before anything is read or fetched', async () => {
    const MiB = 1024 * 1024
    const budget = new MemoryBudget(512 * MiB, () => 200 * MiB)
    const fetched: string[] = []
    const huge = { ...req, width: 65_536, height: 65_536, channels: 4 as const, core: { x: 0, y: 0, width: 65_536, height: 65_536 } }
    const refused = await send(undefined, {
      memory: budget,
      req: { ...huge, source: { sha256: 'cd'.repeat(32), holders: ['standby-1'], x: 0, y: 0 } },
      fetchInput: async (r) => { fetched.push(r.jobId); return '/nonexistent' }
    }).catch((err: Error) => err)
    expect(refused).toBeInstanceOf(RemoteError)
    expect(refused).toMatchObject({ code: ErrorCodes.noMemory, message: expect.stringContaining('has no room for a 65536x65536 tile (81920 MiB)') })
    expect(fetched).toEqual([])
    // With its pixels announced instead: refused too (the stream reset), nothing reserved or held after.
    const withPixels = await send(undefined, { memory: budget, req: huge }).catch((err: Error) => err)
    expect(withPixels).toBeInstanceOf(Error)
    expect(budget.reserved).toBe(0) // never reserved: refused before
    // A tile that fits is worked as before, and gives its memory back.
    const fits = await send(undefined, { memory: budget })
    expect('image' in fits && fits.image.width).toBe(40)
    await waitFor('the tile\'s memory given back once its stream ends', () => budget.reserved === 0)
  })

  it('a worker with no store says not kept', async () => {
    const got = await send(undefined)
    expect(got.kept).toBe(false)
  })
})

/** Waits (bounded) for a condition that real network traffic or the kernel pool makes true. */
async function waitFor (what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`)
    await new Promise(resolve => setTimeout(resolve, 10))
  }
}

/** A worker on a manual clock whose every tile takes 10 s of that clock; the master's node dialled. */
async function slowWorker (clock: ManualClock, opts: Partial<WorkerOptions>): Promise<{ a: Awaited<ReturnType<Nodes['start']>>, b: Awaited<ReturnType<Nodes['start']>> }> {
  const [a, b] = [await nodes.start(), await nodes.start()]
  const worker = new WorkerRuntime({ slots: 1, epoch: () => 2, clock, slowdownMs: 10_000, ...opts })
  workers.push(worker)
  await new TileService({ libp2p: b }, { handler: worker, clock }).start()
  await a.dial(b.getMultiaddrs()[0])
  return { a, b }
}

describe('tile protocol on a manual clock', () => {
  it('the worker says "working" every renewMs of its clock, and stops when it answers', async () => {
    const clock = new ManualClock()
    const { a, b } = await slowWorker(clock, {})
    let working = 0
    const sent = sendTile(a, b.peerId, req, tile.data, { signal: AbortSignal.timeout(60_000), onWorking: () => { working++ }, readTimeoutMs: 30_000, commit: async () => {} })
    // The renewal timer and the 10 s slowdown: the tile is computed and held.
    await waitFor('the tile held', () => clock.pending === 2)
    for (let i = 1; i <= 3; i++) {
      clock.advance(req.renewMs)
      await waitFor(`renewal ${i}`, () => working === i)
    }
    clock.advance(10_000 - 3 * req.renewMs)
    const got = await sent
    expect('image' in got && got.image.width).toBe(40)
    expect(working).toBeGreaterThanOrEqual(3)
    // The worker's stream closes after the master's ack; then no renewal is armed any more.
    await waitFor('the worker done with the stream', () => clock.pending === 0)
  })

  it('once the worker follows another master, renewals and the kept result go to it, not to the stream', async () => {
    const clock = new ManualClock()
    const notices: TileNotice[] = []
    let master = ''
    const { a, b } = await slowWorker(clock, {
      master: () => master,
      keep: async () => {},
      notify: async (n) => { notices.push(n); return true }
    })
    master = a.peerId.toString()
    let working = 0
    const sent = sendTile(a, b.peerId, req, tile.data, { signal: AbortSignal.timeout(60_000), onWorking: () => { working++ }, readTimeoutMs: 30_000, commit: async () => {} })
      .then(() => 'answered', () => 'stream reset')
    await waitFor('the tile held', () => clock.pending === 2)
    master = 'the-new-master'
    clock.advance(req.renewMs)
    await waitFor('a renewal notice', () => notices.length === 1)
    expect(notices[0]).toEqual({ type: 'renew', jobId: 'jtest', phase: 0, index: 5, leaseId: 'l1', epoch: 2 })
    clock.advance(10_000 - req.renewMs)
    expect(await sent).toBe('stream reset')
    await waitFor('the done notice', () => notices.some(n => n.type === 'done'))
    expect(notices.at(-1)).toEqual({ type: 'done', jobId: 'jtest', phase: 0, index: 5, leaseId: 'l1', epoch: 2 })
    expect(working).toBe(0)
  })
})
