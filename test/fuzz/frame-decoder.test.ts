// Fuzzes FrameStream (src/transfer/frames.ts), the reader under every direct stream of the swarm: random
// and mutated byte streams, cut anywhere, must read exactly as a small reference reader says (frames, a
// clean end, or a typed error with a one-line message), an announced length over the limit is refused
// before its payload comes, and nothing (timers, memory) is left behind.
import fc from 'fast-check'
import { streamPair } from '@libp2p/utils'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { FrameTooLargeError, MalformedFrameError, RemoteError, StreamEndedError, StreamTimeoutError } from '../../src/transfer/errors.ts'
import { FrameStream } from '../../src/transfer/frames.ts'
import { HeartbeatFrameSchema } from '../../src/node/heartbeat.ts'
import { TileRequestSchema } from '../../src/transfer/messages.ts'
import { concat, cuts, HUGE_LENGTHS, mutatedBytes, splitAt } from './mutate.ts'
import { fuzz, fuzzTimeout } from './runs.ts'
import { activeTimers, countingClock, expectOneLine, settledTimers } from './leaks.ts'
import { tileRequest } from './samples.ts'

const MAX = 1024
/** Every FrameStream here arms its timers on this clock: after each case, none may be left armed. */
const clock = countingClock()
const noTimerLeft = (): void => { expect(clock.armed(), 'a timer outlived the read that armed it').toBe(0) }
const KIND_JSON = 1
const KIND_BINARY = 2

function frame (kind: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + payload.byteLength)
  new DataView(out.buffer).setUint32(0, payload.byteLength)
  out[4] = kind
  out.set(payload, 5)
  return out
}

type Frame = { kind: 'json' | 'binary', payload: Uint8Array }
type Outcome = { frames: Frame[], end: 'null' | { name: string, message: string } }

/** What FrameStream must make of `bytes` followed by a clean end of stream, written as plainly as it can be. */
function reference (bytes: Uint8Array, max: number): Outcome {
  const frames: Frame[] = []
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  let off = 0
  for (;;) {
    const left = bytes.byteLength - off
    if (left === 0) return { frames, end: 'null' }
    if (left < 5) return { frames, end: { name: 'StreamEndedError', message: `stream ended inside a frame (${left} of 5 bytes)` } }
    const len = view.getUint32(off)
    const kind = bytes[off + 4]
    if (kind !== KIND_JSON && kind !== KIND_BINARY) return { frames, end: { name: 'MalformedFrameError', message: `unknown frame kind ${kind}` } }
    if (len > max) return { frames, end: { name: 'FrameTooLargeError', message: `frame of ${len} bytes, the limit is ${max}` } }
    if (left < 5 + len) return { frames, end: { name: 'StreamEndedError', message: `stream ended inside a frame (${left} of ${5 + len} bytes)` } }
    frames.push({ kind: kind === KIND_JSON ? 'json' : 'binary', payload: bytes.slice(off + 5, off + 5 + len) })
    off += 5 + len
  }
}

/** Sends `chunks` over an in-memory libp2p stream pair, ends it, and reads every frame with FrameStream. */
async function decodeAll (chunks: Uint8Array[], max: number): Promise<Outcome> {
  const [a, b] = await streamPair()
  const reader = new FrameStream(b, { maxFrameBytes: max, readTimeoutMs: 10_000, clock })
  for (const c of chunks) a.send(c)
  await a.close()
  const frames: Frame[] = []
  try {
    for (let i = 0; i < 100_000; i++) {
      const f = await reader.read()
      if (f == null) {
        await reader.close()
        return { frames, end: 'null' }
      }
      frames.push(f)
    }
    throw new Error('more frames than bytes')
  } catch (err) {
    reader.abort(err as Error)
    const e = err as Error
    expect(e, `${e.name}: ${e.message}`).toBeInstanceOf(MalformedFrameError)
    expectOneLine(e.message)
    return { frames, end: { name: e.name, message: e.message } }
  }
}

function same (got: Outcome, want: Outcome): void {
  expect(got.frames.length).toBe(want.frames.length)
  for (let i = 0; i < want.frames.length; i++) {
    expect(got.frames[i].kind).toBe(want.frames[i].kind)
    expect(got.frames[i].payload.byteLength).toBeLessThanOrEqual(MAX)
    expect(Buffer.from(got.frames[i].payload).equals(Buffer.from(want.frames[i].payload))).toBe(true)
  }
  expect(got.end).toEqual(want.end)
}

/** A valid stream of frames: JSON texts and binary payloads, each within MAX. */
const validStream = fc.array(fc.oneof(
  fc.jsonValue({ maxDepth: 3 }).map(v => frame(KIND_JSON, new TextEncoder().encode(JSON.stringify(v)))).filter(f => f.byteLength <= MAX + 5),
  fc.uint8Array({ maxLength: 200 }).map(p => frame(KIND_BINARY, p)),
  fc.integer({ min: MAX - 8, max: MAX }).map(n => frame(KIND_BINARY, new Uint8Array(n).fill(7)))
), { maxLength: 6 }).map(fs => concat(...fs))

let timersBefore = 0
beforeAll(() => { timersBefore = activeTimers() })

describe('frame decoder fuzz', () => {
  it('random bytes, cut anywhere, read exactly as the reference reader says', async () => {
    await fc.assert(fc.asyncProperty(
      fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ maxLength: 600 }), fc.uint8Array({ maxLength: 12 }).map(b => concat(Uint8Array.of(0, 0, 0), b))),
      cuts,
      async (bytes, points) => { same(await decodeAll(splitAt(bytes, points), MAX), reference(bytes, MAX)); noTimerLeft() }
    ), fuzz(300))
  }, fuzzTimeout())

  it('mutated valid frame streams (bit flips, truncation, huge length fields, splices, concatenations) read as the reference says', async () => {
    await fc.assert(fc.asyncProperty(mutatedBytes(validStream), cuts, async ({ mutated }, points) => {
      same(await decodeAll(splitAt(mutated, points), MAX), reference(mutated, MAX))
      noTimerLeft()
    }), fuzz(400))
  }, fuzzTimeout())

  it('a valid frame stream always reads back whole', async () => {
    await fc.assert(fc.asyncProperty(validStream, cuts, async (bytes, points) => {
      const got = await decodeAll(splitAt(bytes, points), MAX)
      expect(got.end).toBe('null')
      same(got, reference(bytes, MAX))
      noTimerLeft()
    }), fuzz(200))
  }, fuzzTimeout())

  it('an announced length over the limit is refused at once, while the stream is open and before any payload, and nothing is allocated for it', async () => {
    await fc.assert(fc.asyncProperty(
      fc.oneof(fc.constantFrom(...HUGE_LENGTHS), fc.integer({ min: MAX + 1, max: 0xffff_ffff })),
      fc.constantFrom(KIND_JSON, KIND_BINARY),
      fc.uint8Array({ maxLength: 64 }),
      fc.option(validStream, { nil: undefined }),
      cuts,
      async (len, kind, prefix, before, points) => {
        const [a, b] = await streamPair()
        const reader = new FrameStream(b, { maxFrameBytes: MAX, readTimeoutMs: 30_000, clock })
        const head = new Uint8Array(5)
        new DataView(head.buffer).setUint32(0, len)
        head[4] = kind
        const good = before ?? new Uint8Array(0)
        const memBefore = process.memoryUsage().arrayBuffers
        for (const c of splitAt(concat(good, head, prefix), points)) a.send(c)
        try {
          const want = reference(good, MAX).frames.length
          for (let i = 0; i < want; i++) expect((await reader.read())?.kind).toBeDefined()
          // The stream stays open: a reader that waited for the payload would still be waiting.
          let timer: NodeJS.Timeout | undefined
          const r = await Promise.race([
            reader.read().then(() => 'read' as const, (e: Error) => e),
            new Promise<'pending'>(resolve => { timer = setTimeout(() => { resolve('pending') }, 1000) })
          ])
          clearTimeout(timer)
          expect(r).toBeInstanceOf(FrameTooLargeError)
          expect((r as Error).message).toBe(`frame of ${len} bytes, the limit is ${MAX}`)
          expect(process.memoryUsage().arrayBuffers - memBefore).toBeLessThan(8 * 1024 * 1024)
        } finally {
          reader.abort(new Error('done'))
          a.abort(new Error('done'))
        }
        noTimerLeft()
      }
    ), fuzz(150))
  }, fuzzTimeout())

  it('frames written by FrameStream round-trip: JSON as the same value, binary as the same bytes, then a clean end', async () => {
    const message = fc.oneof(
      fc.jsonValue({ maxDepth: 4 }).map(v => ({ json: v })),
      fc.uint8Array({ minLength: 1, maxLength: 3000 }).map(bytes => ({ bytes }))
    )
    await fc.assert(fc.asyncProperty(fc.array(message, { maxLength: 6 }), fc.integer({ min: 1, max: 4096 }), async (messages, chunkBytes) => {
      const [a, b] = await streamPair()
      const opts = { maxFrameBytes: 64 * 1024, readTimeoutMs: 10_000, clock }
      const writer = new FrameStream(a, opts)
      const reader = new FrameStream(b, opts)
      for (const m of messages) {
        if ('json' in m) await writer.writeJson(m.json)
        else await writer.writeBinary(m.bytes, chunkBytes)
      }
      await writer.close()
      for (const m of messages) {
        if ('json' in m) {
          const f = await reader.read()
          expect(f?.kind).toBe('json')
          expect(JSON.parse(new TextDecoder().decode(f!.payload))).toEqual(JSON.parse(JSON.stringify(m.json)))
        } else {
          const got = await reader.readBinary(m.bytes.byteLength)
          expect(Buffer.from(got!).equals(Buffer.from(m.bytes))).toBe(true)
        }
      }
      expect(await reader.read()).toBeNull()
      await reader.close()
      noTimerLeft()
    }), fuzz(200))
  }, fuzzTimeout())

  it('readJson over hostile JSON frames gives a schema-valid message or a typed error, never a crash', async () => {
    const enc = (s: string): Uint8Array => new TextEncoder().encode(s)
    const payload = fc.oneof(
      fc.uint8Array({ maxLength: 200 }),
      fc.jsonValue({ maxDepth: 3 }).map(v => enc(JSON.stringify(v))),
      fc.string({ maxLength: 200 }).map(enc),
      mutatedBytes(tileRequest.map(r => enc(JSON.stringify(r)))).map(m => m.mutated),
      tileRequest.map(r => enc(JSON.stringify(r))),
      fc.integer({ min: 1, max: 200 }).map(n => enc('['.repeat(n) + ']'.repeat(n))),
      fc.record({ code: fc.string({ maxLength: 80 }), message: fc.string({ maxLength: 100 }) }).map(error => enc(JSON.stringify({ error })))
    )
    await fc.assert(fc.asyncProperty(fc.array(payload.filter(p => p.byteLength <= MAX), { minLength: 1, maxLength: 3 }), fc.boolean(), async (payloads, heartbeat) => {
      const schema: z.ZodType = heartbeat ? HeartbeatFrameSchema : TileRequestSchema
      const [a, b] = await streamPair()
      const reader = new FrameStream(b, { maxFrameBytes: MAX, readTimeoutMs: 10_000, clock })
      for (const p of payloads) a.send(frame(KIND_JSON, p))
      await a.close()
      for (let i = 0; i < payloads.length; i++) {
        try {
          const value = await reader.readJson(schema)
          expect(schema.safeParse(value).success).toBe(true)
        } catch (err) {
          if (err instanceof RemoteError) {
            expect(err.code.length).toBeLessThanOrEqual(64)
            expect(err.message.length).toBeLessThanOrEqual(4096)
            continue
          }
          expect(err).toBeInstanceOf(MalformedFrameError)
          expect(err).not.toBeInstanceOf(StreamEndedError)
          expectOneLine((err as Error).message)
        }
      }
      expect(await reader.read()).toBeNull()
      await reader.close()
      noTimerLeft()
    }), fuzz(300))
  }, fuzzTimeout())

  it('readBinary over mutated binary frames hands over at most the announced bytes, or fails with a typed error', async () => {
    const binaryStream = fc.array(fc.uint8Array({ minLength: 1, maxLength: 300 }).map(p => frame(KIND_BINARY, p)), { minLength: 1, maxLength: 5 }).map(fs => concat(...fs))
    await fc.assert(fc.asyncProperty(mutatedBytes(binaryStream, 2), fc.integer({ min: 0, max: 2000 }), cuts, async ({ mutated }, total, points) => {
      const [a, b] = await streamPair()
      const reader = new FrameStream(b, { maxFrameBytes: MAX, readTimeoutMs: 10_000, clock })
      for (const c of splitAt(mutated, points)) a.send(c)
      await a.close()
      let got = 0
      try {
        await reader.readBinary(total, (chunk) => { got += chunk.byteLength })
        expect(got).toBe(total)
      } catch (err) {
        expect(err, String(err)).toBeInstanceOf(MalformedFrameError)
        expect(err).not.toBeInstanceOf(StreamTimeoutError)
        expectOneLine((err as Error).message)
        expect(got).toBeLessThanOrEqual(total)
      } finally {
        reader.abort(new Error('done'))
      }
      noTimerLeft()
    }), fuzz(300))
  }, fuzzTimeout())
})

afterAll(async () => {
  // Nor did the test or the in-memory muxer leave timers of their own.
  expect(await settledTimers(timersBefore)).toBeLessThanOrEqual(timersBefore + 2)
})
