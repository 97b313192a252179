// Fuzzes the servers of the blob, tile-done, handover, tile and heartbeat protocols with hostile streams
// (random bytes and mutations of valid requests): each handler settles without throwing, leaves its stream
// closed or reset (never open), hands its callbacks only schema-valid messages, and the blob server leaves no
// temporary file and no descriptor behind.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { streamPair } from '@libp2p/utils'
import type { Libp2p, Stream } from '@libp2p/interface'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BlobService, BLOB_PROTOCOL } from '../../src/transfer/blob.ts'
import { TileDoneService, TileNoticeSchema, TILE_DONE_PROTOCOL, type TileNotice } from '../../src/transfer/tile-done.ts'
import { HandoverService, HandoverRequestSchema, HANDOVER_PROTOCOL } from '../../src/transfer/handover-protocol.ts'
import { TileService } from '../../src/transfer/tile-protocol.ts'
import { TILE_PROTOCOL, TileRequestSchema } from '../../src/transfer/messages.ts'
import { HeartbeatService, HEARTBEAT_PROTOCOL } from '../../src/node/heartbeat-protocol.ts'
import { HeartbeatFrameSchema } from '../../src/node/heartbeat.ts'
import { JobFiles } from '../../src/scheduler/job-files.ts'
import { concat, cuts, mutatedBytes, splitAt } from './mutate.ts'
import { messageSamples, otherSamples } from './samples.ts'
import { activeTimers, countingClock, expectOneLine, filesUnder, openFds, settledFds, settledTimers } from './leaks.ts'
import { fuzz, fuzzTimeout } from './runs.ts'

const MASTER = 'master-peer'
const enc = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v))
function frame (kind: 1 | 2, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + payload.byteLength)
  new DataView(out.buffer).setUint32(0, payload.byteLength)
  out[4] = kind
  out.set(payload, 5)
  return out
}
const json = (v: unknown): Uint8Array => frame(1, enc(v))
const binary = (n: number, fill = 7): Uint8Array => n === 0 ? new Uint8Array(0) : frame(2, new Uint8Array(n).fill(fill))

/** Every service here arms its timers on this clock: once a handler settled, none may be left armed. */
const clock = countingClock()

type Handler = (stream: Stream, connection: { remotePeer: { toString: () => string } }) => Promise<void>

/** A libp2p that only records the handler a service registers, so a test can hand it streams. */
function fakeLibp2p (): { libp2p: Pick<Libp2p, 'handle' | 'unhandle' | 'dialProtocol'>, serve: (protocol: string, stream: Stream, from: string) => Promise<void> } {
  const handlers = new Map<string, Handler>()
  return {
    libp2p: {
      handle: async (protocol: string, h: Handler) => { handlers.set(protocol, h) },
      unhandle: async (protocol: string) => { handlers.delete(protocol) },
      dialProtocol: async () => { throw new Error('no dialling in this test') }
    } as unknown as Pick<Libp2p, 'handle' | 'unhandle' | 'dialProtocol'>,
    serve: async (protocol, stream, from) => { await handlers.get(protocol)!(stream, { remotePeer: { toString: () => from } }) }
  }
}

/**
 * Sends `bytes` (in pieces) on a fresh in-memory stream to the protocol's handler and ends the sending side;
 * the handler must settle, and its side of the stream must not stay open.
 */
async function exchange (serve: (stream: Stream) => Promise<void>, bytes: Uint8Array, points: number[]): Promise<void> {
  const [a, b] = await streamPair()
  const done = serve(b).then(() => 'settled' as const, (err: Error) => err)
  for (const c of splitAt(bytes, points)) a.send(c)
  await a.close().catch(() => {})
  let timer: NodeJS.Timeout | undefined
  const r = await Promise.race([done, new Promise<'pending'>(resolve => { timer = setTimeout(() => { resolve('pending') }, 5000) })])
  clearTimeout(timer)
  expect(r).toBe('settled')
  for (let i = 0; i < 100 && b.status === 'open'; i++) await new Promise(resolve => setTimeout(resolve, 2))
  expect(b.status, 'the handler left its stream open').not.toBe('open')
  expect(clock.armed(), 'a timer outlived the stream that armed it').toBe(0)
  a.abort(new Error('done'))
}

/** A valid exchange, or one mutated, or random bytes. */
function hostile (valid: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> {
  return fc.oneof(
    { weight: 1, arbitrary: valid },
    { weight: 4, arbitrary: mutatedBytes(valid).map(m => m.mutated) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }) }
  )
}

let dir: string
let timersBefore = 0
let fdsBefore: number | undefined
beforeAll(async () => {
  timersBefore = activeTimers()
  fdsBefore = openFds()
  dir = await mkdtemp(join(tmpdir(), 'swarm-fuzz-services-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
  expect(await settledTimers(timersBefore)).toBeLessThanOrEqual(timersBefore + 2)
  const fds = await settledFds(fdsBefore, 2)
  if (fdsBefore != null) expect(fds).toBeLessThanOrEqual(fdsBefore + 2)
})

describe('protocol servers under hostile streams', () => {
  it('blob: puts, gets, has and drops, mutated: the server settles, never leaves a temporary file, and stores only valid job file names', async () => {
    const data = join(dir, 'blob')
    const files = new JobFiles(data)
    const drops: string[] = []
    const refused: string[] = []
    const net = fakeLibp2p()
    const service = new BlobService({ libp2p: net.libp2p }, { files, epoch: () => 3, onDrop: async (jobId) => { drops.push(jobId) }, master: () => MASTER, onRefused: (m) => { refused.push(m) }, clock })
    await service.start()
    const jobId = fc.constantFrom('j1', 'j2', 'bad/../x', '')
    const name = fc.constantFrom('input', 'tiles/3.raw', 'tiles/stats-0-1.json', 'output.png', '../etc', 'tiles/x')
    const valid = fc.oneof(
      fc.record({ jobId, name, n: fc.integer({ min: 0, max: 3000 }), epoch: fc.integer({ min: 0, max: 5 }) }).map(r =>
        concat(json({ op: 'put', jobId: r.jobId, name: r.name, bytes: r.n, epoch: r.epoch }), ...splitAt(new Uint8Array(r.n), [1000, 2000]).map(p => frame(2, p.fill(r.n % 251))))),
      fc.record({ op: fc.constantFrom('get', 'has'), jobId, name }).map(r => json(r)),
      fc.record({ jobId, epoch: fc.integer({ min: 0, max: 5 }) }).map(r => json({ op: 'drop', ...r })),
      fc.constantFrom(0xffff_ffff, 4 * 1024 ** 3).map(n => concat(json({ op: 'put', jobId: 'j1', name: 'tiles/9.raw', bytes: n, epoch: 3 }), binary(100)))
    )
    await fc.assert(fc.asyncProperty(hostile(valid), cuts, fc.constantFrom(MASTER, 'worker-peer'), async (bytes, points, from) => {
      await exchange(async (s) => { await net.serve(BLOB_PROTOCOL, s, from) }, bytes, points)
      const left = await filesUnder(data)
      expect(left.filter(f => f.endsWith('.tmp')), 'a temporary file was left behind').toEqual([])
      for (const f of left) expect(f).toMatch(/^jobs\/j[12]\/(input|output\.png|tiles\/(3|9)\.raw|tiles\/stats-0-1\.json)$/)
    }), fuzz(200))
    for (const j of drops) expect(j).toMatch(/^.{1,64}$/)
    for (const m of refused) expectOneLine(m)
    await service.stop()
  }, fuzzTimeout())

  it('tile-done: the master hears only schema-valid notices, and every stream is answered or reset', async () => {
    const net = fakeLibp2p()
    const heard: TileNotice[] = []
    const service = new TileDoneService({ libp2p: net.libp2p }, { onNotice: async (n) => { heard.push(n); return n.type !== 'holding' }, clock })
    await service.start()
    const valid = otherSamples.TileNoticeSchema.valid.map(json)
    await fc.assert(fc.asyncProperty(hostile(valid), cuts, async (bytes, points) => {
      heard.length = 0
      await exchange(async (s) => { await net.serve(TILE_DONE_PROTOCOL, s, 'worker') }, bytes, points)
      for (const n of heard) expect(TileNoticeSchema.safeParse(n).success).toBe(true)
    }), fuzz(200))
    await service.stop()
  }, fuzzTimeout())

  it('handover: a job is taken only from a schema-valid request, and never with more input than it announced', async () => {
    const net = fakeLibp2p()
    const taken: Array<{ bytes: number, got: number }> = []
    const service = new HandoverService({ libp2p: net.libp2p }, {
      handler: {
        serving: () => true,
        masterId: () => null,
        take: async (req, input) => {
          expect(HandoverRequestSchema.safeParse(req).success).toBe(true)
          const t = { bytes: req.bytes, got: 0 }
          taken.push(t)
          await input.read((chunk) => { t.got += chunk.byteLength })
          return 'taken'
        }
      },
      clock
    })
    await service.start()
    const valid = fc.record({ jobId: fc.stringMatching(/^[a-z0-9]{1,8}$/), meta: fc.jsonValue({ maxDepth: 2 }), n: fc.integer({ min: 1, max: 3000 }) })
      .map(r => concat(json({ jobId: r.jobId, meta: r.meta, bytes: r.n }), binary(r.n)))
    await fc.assert(fc.asyncProperty(hostile(valid), cuts, async (bytes, points) => {
      taken.length = 0
      await exchange(async (s) => { await net.serve(HANDOVER_PROTOCOL, s, 'loser') }, bytes, points)
      for (const t of taken) expect(t.got).toBeLessThanOrEqual(t.bytes)
    }), fuzz(200))
    await service.stop()
  }, fuzzTimeout())

  it('tile: a worker accepts only schema-valid requests whose pixels all came, and releases each tile once', async () => {
    const net = fakeLibp2p()
    let accepted = 0
    let released = 0
    const service = new TileService({ libp2p: net.libp2p }, {
      readTimeoutMs: 5000,
      clock,
      handler: {
        accept: (req) => {
          expect(TileRequestSchema.safeParse(req).success).toBe(true)
          accepted++
          return {
            compute: async (data) => {
              if (req.source == null) expect(data?.byteLength).toBe(req.width * req.height * req.channels)
              return { result: { stats: { n: 1 } }, kept: false }
            },
            leaserHere: () => true,
            renewElsewhere: () => {},
            orphaned: async () => {},
            release: () => { released++ }
          }
        }
      }
    })
    await service.start()
    // Small tiles with their pixels (dimensions a mutation may still blow up), or a source to cut them from.
    const valid = (messageSamples.TileRequestSchema.valid as fc.Arbitrary<Record<string, unknown>>).chain(r => fc.record({
      width: fc.integer({ min: 1, max: 40 }), height: fc.integer({ min: 1, max: 40 }), withSource: fc.boolean()
    }).map(d => {
      const req: Record<string, unknown> = { ...r, width: d.width, height: d.height }
      if (!d.withSource) delete req.source
      const n = d.width * d.height * (req.channels as number)
      return req.source == null ? concat(json(req), binary(n)) : json(req)
    }))
    await fc.assert(fc.asyncProperty(hostile(valid), cuts, async (bytes, points) => {
      const a0 = accepted
      await exchange(async (s) => { await net.serve(TILE_PROTOCOL, s, MASTER) }, bytes, points)
      expect(accepted - a0).toBeLessThanOrEqual(1)
      expect(released).toBe(accepted)
    }), fuzz(200))
    await service.stop()
  }, fuzzTimeout())

  it('heartbeat: the peer hears only schema-valid frames, logs refusals on one line, and drops the stream at its end', async () => {
    const net = fakeLibp2p()
    const frames: unknown[] = []
    const errors: string[] = []
    const service = new HeartbeatService({ libp2p: net.libp2p }, { onFrame: (f) => { frames.push(f) }, onError: (m) => { errors.push(m) }, clock })
    await service.start()
    const valid = fc.array(otherSamples.HeartbeatFrameSchema.valid.map(json), { minLength: 1, maxLength: 3 }).map(fs => concat(...fs))
    await fc.assert(fc.asyncProperty(hostile(valid), cuts, async (bytes, points) => {
      frames.length = 0
      errors.length = 0
      await exchange(async (s) => { await net.serve(HEARTBEAT_PROTOCOL, s, 'sender') }, bytes, points)
      for (const f of frames) expect(HeartbeatFrameSchema.safeParse(f).success).toBe(true)
      for (const m of errors) expectOneLine(m)
    }), fuzz(200))
    await service.stop()
  }, fuzzTimeout())
})
