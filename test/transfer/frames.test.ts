// FrameStream: the framing of the swarm's direct streams (4-byte big-endian length, 1-byte kind, payload).
// Unit tests run over the in-memory stream pair of @libp2p/utils; flow control and stream isolation run over
// two real libp2p nodes (TCP + noise + yamux) on 127.0.0.1, because the mock muxer has no flow control.
import { afterEach, describe, expect, it } from 'vitest'
import { z } from 'zod'
import type { Stream } from '@libp2p/interface'
import { FrameTooLargeError, MalformedFrameError, RemoteError, StreamTimeoutError } from '../../src/transfer/errors.ts'
import { FrameStream, MAX_JSON_DEPTH, nestedDeeperThan } from '../../src/transfer/frames.ts'
import {
  bytes, countDelivered, countPauses, framePair, header, inbound, KIND_BINARY, KIND_JSON, MiB, Nodes, rawFrame, settle, sleep
} from './helpers.ts'

const Hello = z.object({
  type: z.literal('hello'),
  n: z.number().int(),
  tags: z.array(z.string()),
  inner: z.object({ size: z.number().int().min(1) }).strict().optional()
}).strict()

describe('wire format', () => {
  it('writes length (big-endian), kind, payload', async () => {
    const { b, writer } = await framePair()
    const seen: Uint8Array[] = []
    b.addEventListener('message', (evt) => { seen.push(evt.data.subarray()) })
    await writer.writeJson({ a: 1 })
    await writer.writeBinary(Uint8Array.of(9, 8, 7))
    for (let i = 0; i < 50 && seen.reduce((n, s) => n + s.byteLength, 0) < 20; i++) await sleep(10)
    const all = new Uint8Array(seen.reduce((n, s) => n + s.byteLength, 0))
    let off = 0
    for (const s of seen) { all.set(s, off); off += s.byteLength }
    expect([...all]).toEqual([0, 0, 0, 7, KIND_JSON, ...new TextEncoder().encode('{"a":1}'), 0, 0, 0, 3, KIND_BINARY, 9, 8, 7])
  })

  it('reads frames split anywhere (even inside the header) and frames coalesced in one chunk', async () => {
    const { a, reader } = await framePair()
    const delivered = countDelivered(reader.stream)
    const one = rawFrame(KIND_JSON, '{"type":"hello","n":1,"tags":[]}')
    const first = reader.readJson(Hello)
    for (const byte of one.subarray(0, 8)) { a.send(Uint8Array.of(byte)); await sleep(3) }
    a.send(one.subarray(8))
    a.send(new Uint8Array([...rawFrame(KIND_BINARY, Uint8Array.of(1, 2, 3)), ...rawFrame(KIND_JSON, '{"type":"hello","n":2,"tags":["x"]}')]))
    expect(await first).toEqual({ type: 'hello', n: 1, tags: [] })
    // The header really was delivered in pieces (the mock muxer may merge some of them, not all).
    expect(delivered.sizes[0]).toBeLessThan(5)
    expect(await reader.read()).toEqual({ kind: 'binary', payload: Uint8Array.of(1, 2, 3) })
    expect(await reader.readJson(Hello)).toEqual({ type: 'hello', n: 2, tags: ['x'] })
  })
})

describe('JSON frames', () => {
  it('round-trips messages checked by a zod schema, in order', async () => {
    const { writer, reader } = await framePair()
    const m1 = { type: 'hello', n: 1, tags: ['a', 'b'] }
    const m2 = { type: 'hello', n: -7, tags: [], inner: { size: 3 } }
    await writer.writeJson(m1)
    await writer.writeJson(m2)
    expect(await reader.readJson(Hello)).toEqual(m1)
    expect(await reader.readJson(Hello)).toEqual(m2)
  })

  it('a frame failing the schema is a MalformedFrameError naming the field, and the next frame still reads', async () => {
    const { writer, reader } = await framePair()
    await writer.writeJson({ type: 'hello', n: 'three', tags: [] })
    await writer.writeJson({ type: 'hello', n: 1, tags: [], inner: { size: 0 } })
    await writer.writeJson({ type: 'hello', n: 2, tags: [] })
    const e1 = await settle(reader.readJson(Hello))
    expect(e1.error).toBeInstanceOf(MalformedFrameError)
    expect(e1.error?.message).toMatch(/^invalid message: n /)
    const e2 = await settle(reader.readJson(Hello))
    expect(e2.error).toBeInstanceOf(MalformedFrameError)
    expect(e2.error?.message).toMatch(/^invalid message: inner\.size /)
    // The bad frames were consumed whole: the stream is still aligned on frame boundaries.
    expect(await reader.readJson(Hello)).toEqual({ type: 'hello', n: 2, tags: [] })
  })

  it('a frame nested deeper than MAX_JSON_DEPTH is refused before it is parsed; brackets in strings do not count', async () => {
    const deep = (n: number): string => '['.repeat(n) + ']'.repeat(n)
    expect(nestedDeeperThan(new TextEncoder().encode(deep(MAX_JSON_DEPTH)), MAX_JSON_DEPTH)).toBe(false)
    expect(nestedDeeperThan(new TextEncoder().encode(deep(MAX_JSON_DEPTH + 1)), MAX_JSON_DEPTH)).toBe(true)
    expect(nestedDeeperThan(new TextEncoder().encode(JSON.stringify({ s: '[[[[[[\\"[[[[' })), 2)).toBe(false)
    const { a, writer, reader } = await framePair()
    // Sent raw: this side's own JSON.stringify of it would overflow the stack.
    a.send(rawFrame(KIND_JSON, deep(30_000)))
    await writer.writeJson({ type: 'hello', n: 2, tags: ['[[[[[[[[[['] })
    const e = await settle(reader.readJson(Hello))
    expect(e.error).toBeInstanceOf(MalformedFrameError)
    expect(e.error?.message).toBe(`a JSON frame nested deeper than ${MAX_JSON_DEPTH} levels`)
    expect(await reader.readJson(Hello)).toEqual({ type: 'hello', n: 2, tags: ['[[[[[[[[[['] })
  })

  it('an unexpected extra field is refused by a strict schema', async () => {
    const { writer, reader } = await framePair()
    await writer.writeJson({ type: 'hello', n: 1, tags: [], evil: true })
    await expect(reader.readJson(Hello)).rejects.toThrow(MalformedFrameError)
  })

  it('a JSON frame whose payload is not JSON is a MalformedFrameError', async () => {
    const { a, reader } = await framePair()
    a.send(rawFrame(KIND_JSON, '{"type":"hello",'))
    a.send(rawFrame(KIND_JSON, Uint8Array.of(0xff, 0xfe, 0x00)))
    a.send(rawFrame(KIND_JSON, ''))
    for (let i = 0; i < 3; i++) {
      const r = await settle(reader.readJson(Hello))
      expect(r.error).toBeInstanceOf(MalformedFrameError)
      expect(r.error?.message).toMatch(/not JSON/)
    }
  })

  it('a binary frame where JSON is expected is a MalformedFrameError', async () => {
    const { writer, reader } = await framePair()
    await writer.writeBinary(new TextEncoder().encode('{"type":"hello","n":1,"tags":[]}'))
    const r = await settle(reader.readJson(Hello))
    expect(r.error).toBeInstanceOf(MalformedFrameError)
    expect(r.error?.message).toMatch(/expected a JSON frame, got binary/)
  })

  it('a JSON frame where binary is expected is a MalformedFrameError', async () => {
    const { writer, reader } = await framePair()
    await writer.writeJson([1, 2, 3])
    const r = await settle(reader.readBinary(4))
    expect(r.error).toBeInstanceOf(MalformedFrameError)
    expect(r.error?.message).toMatch(/expected a binary frame, got JSON/)
  })

  it.each([0, 3, 0x7f, 0xff])('an unknown kind byte (%i) is a MalformedFrameError', async (kind) => {
    const { a, reader } = await framePair()
    a.send(rawFrame(kind, '{}'))
    const r = await settle(reader.read())
    expect(r.error).toBeInstanceOf(MalformedFrameError)
    expect(r.error).not.toBeInstanceOf(FrameTooLargeError)
    expect(r.error?.message).toBe(`unknown frame kind ${kind}`)
  })

  it('a remote error frame is thrown as RemoteError with its code and message', async () => {
    const { writer, reader } = await framePair()
    await writer.writeError('stale-epoch', 'tile of epoch 3 refused')
    await writer.writeError('bad-tile', 'no')
    const r = await settle(reader.readJson(Hello))
    expect(r.error).toBeInstanceOf(RemoteError)
    expect((r.error as RemoteError).code).toBe('stale-epoch')
    expect(r.error?.message).toBe('tile of epoch 3 refused')
    // Even a schema that accepts anything sees the error frame as an error.
    const r2 = await settle(reader.readJson(z.unknown()))
    expect(r2.error).toBeInstanceOf(RemoteError)
    expect((r2.error as RemoteError).code).toBe('bad-tile')
  })

  it('an error-shaped frame with an oversized code is not a RemoteError (the schema decides)', async () => {
    const { writer, reader } = await framePair()
    await writer.writeJson({ error: { code: 'x'.repeat(65), message: 'm' } })
    const r = await settle(reader.readJson(Hello))
    expect(r.error).toBeInstanceOf(MalformedFrameError)
  })
})

describe('binary frames', () => {
  it('readBinary assembles exactly `total` bytes from several chunks and leaves the next frame alone', async () => {
    const { writer, reader } = await framePair()
    const data = bytes(10_500, 7)
    await writer.writeBinary(data, 1000)
    await writer.writeJson({ type: 'hello', n: 9, tags: [] })
    const got = await reader.readBinary(data.byteLength)
    expect(got).toBeInstanceOf(Uint8Array)
    expect(got!.byteLength).toBe(10_500)
    expect(Buffer.from(got!).equals(Buffer.from(data))).toBe(true)
    expect(await reader.readJson(Hello)).toEqual({ type: 'hello', n: 9, tags: [] })
  })

  it('readBinary with onChunk hands over each frame in order (11 frames of <= 1000 bytes)', async () => {
    const { writer, reader } = await framePair()
    const data = bytes(10_500, 8)
    await writer.writeBinary(data, 1000)
    const chunks: Uint8Array[] = []
    const out = await reader.readBinary(data.byteLength, async (c) => { chunks.push(c); await sleep(1) })
    expect(out).toBeUndefined()
    expect(chunks.map(c => c.byteLength)).toEqual([...Array(10).fill(1000), 500])
    expect(Buffer.concat(chunks).equals(Buffer.from(data))).toBe(true)
  })

  it('readBinary refuses more bytes than announced', async () => {
    const { writer, reader } = await framePair()
    await writer.writeBinary(bytes(1500), 1000)
    const r = await settle(reader.readBinary(1200))
    expect(r.error).toBeInstanceOf(MalformedFrameError)
    expect(r.error?.message).toBe('more bytes than announced (1500 > 1200)')
  })

  it('readBinary fails when the stream ends short of `total`', async () => {
    const { writer, reader } = await framePair()
    await writer.writeBinary(bytes(500), 1000)
    await writer.close()
    const r = await settle(reader.readBinary(1000))
    expect(r.error).toBeInstanceOf(MalformedFrameError)
    expect(r.error?.message).toBe('stream ended after 500 of 1000 bytes')
  })
})

describe('frame size limit', () => {
  it('a declared length above maxFrameBytes is a FrameTooLargeError at once, before any payload arrives', async () => {
    const { a, reader } = await framePair({ maxFrameBytes: 1024, readTimeoutMs: 5000 })
    const delivered = countDelivered(reader.stream)
    a.send(header(KIND_BINARY, 0xffffffff)) // 4 GiB announced, nothing follows
    const r = await settle(reader.read())
    expect(r.error).toBeInstanceOf(FrameTooLargeError)
    expect(r.error).toBeInstanceOf(MalformedFrameError)
    expect(r.error?.message).toBe('frame of 4294967295 bytes, the limit is 1024')
    // It did not wait for the payload (nor for the 5 s read timeout): only the header was ever delivered.
    expect(r.ms).toBeLessThan(1000)
    expect(delivered.bytes).toBe(5)
  })

  it('also for JSON frames, and with part of the payload already there', async () => {
    const { a, reader } = await framePair({ maxFrameBytes: 1024, readTimeoutMs: 5000 })
    a.send(new Uint8Array([...header(KIND_JSON, 1025), ...new Uint8Array(300)]))
    const r = await settle(reader.readJson(Hello))
    expect(r.error).toBeInstanceOf(FrameTooLargeError)
    expect(r.ms).toBeLessThan(1000)
  })

  it('a frame of exactly maxFrameBytes is accepted, one byte more is not', async () => {
    const { writer, reader } = await framePair({ maxFrameBytes: 1024 })
    await writer.writeBinary(bytes(1024), 1024)
    await writer.writeBinary(bytes(1025), 1025) // the writer does not check; the reader must
    expect((await reader.read())?.payload.byteLength).toBe(1024)
    await expect(reader.read()).rejects.toThrow(FrameTooLargeError)
  })
})

describe('timeouts and end of stream', () => {
  it('a read with nothing arriving fails with StreamTimeoutError after readTimeoutMs', async () => {
    const { reader } = await framePair({ readTimeoutMs: 200 })
    const r = await settle(reader.read())
    expect(r.error).toBeInstanceOf(StreamTimeoutError)
    expect(r.ms).toBeGreaterThanOrEqual(190)
    expect(r.ms).toBeLessThan(1500)
  })

  it('the timeout bounds the whole frame: a frame trickling in slower than readTimeoutMs fails', async () => {
    const { a, reader } = await framePair({ readTimeoutMs: 250 })
    const f = rawFrame(KIND_BINARY, bytes(40))
    const pending = settle(reader.read())
    for (let i = 0; i < f.byteLength && i < 45; i += 9) { a.send(f.subarray(i, i + 9)); await sleep(80) }
    const r = await pending
    expect(r.error).toBeInstanceOf(StreamTimeoutError)
    expect(r.ms).toBeLessThan(1500)
  })

  it('a clean end of stream between frames: read() returns null (and keeps doing so)', async () => {
    const { writer, reader } = await framePair()
    await writer.writeJson({ type: 'hello', n: 1, tags: [] })
    await writer.close()
    expect(await reader.readJson(Hello)).toEqual({ type: 'hello', n: 1, tags: [] })
    expect(await reader.read()).toBeNull()
    expect(await reader.read()).toBeNull()
    // readJson needs a message: an end of stream there is an error.
    const r = await settle(reader.readJson(Hello))
    expect(r.error).toBeInstanceOf(MalformedFrameError)
    expect(r.error?.message).toBe('stream ended where a message was expected')
  })

  it('an end of stream inside a frame is a MalformedFrameError (inside the payload)', async () => {
    const { a, writer, reader } = await framePair()
    a.send(new Uint8Array([...header(KIND_BINARY, 100), ...bytes(10)]))
    await writer.close()
    const r = await settle(reader.read())
    expect(r.error).toBeInstanceOf(MalformedFrameError)
    expect(r.error?.message).toMatch(/stream ended inside a frame/)
  })

  it('an end of stream inside a frame is a MalformedFrameError (inside the header)', async () => {
    const { a, writer, reader } = await framePair()
    a.send(Uint8Array.of(0, 0, 0))
    await writer.close()
    const r = await settle(reader.read())
    expect(r.error).toBeInstanceOf(MalformedFrameError)
    expect(r.error?.message).toMatch(/stream ended inside a frame \(3 of 5 bytes\)/)
  })

  it('a reset by the remote is an error, not a clean end', async () => {
    const { writer, reader } = await framePair()
    writer.abort(new Error('remote gave up'))
    const r = await settle(reader.read())
    expect(r.error?.name).toBe('StreamResetError')
  })
})

describe('over real libp2p nodes (TCP + noise + yamux on 127.0.0.1)', () => {
  const nodes = new Nodes()
  afterEach(async () => { await nodes.stopAll() })

  it('flow control: 64 MiB in 1 MiB frames to a slow reader; the bytes held by the reader stay bounded', async () => {
    const a = await nodes.start()
    const b = await nodes.start()
    const streams = await inbound(b, '/swarm-test/bulk/1.0.0')
    const t0 = Date.now()
    const out = await a.dialProtocol(b.getMultiaddrs()[0], '/swarm-test/bulk/1.0.0')
    const s = await streams.next()
    const delivered = countDelivered(s)
    const pauses = countPauses(s)
    // Small next to 64 MiB, and at least 2 * (frame + header): a smaller mark can stall the reader (BUG 2 in
    // frames.bugs.test.ts).
    const highWaterBytes = 2 * (MiB + 5)
    const reader = new FrameStream(s, { maxFrameBytes: MiB, readTimeoutMs: 10_000, highWaterBytes })
    const writer = new FrameStream(out, { maxFrameBytes: MiB, readTimeoutMs: 10_000 })
    const FRAMES = 64
    let closed: Error | undefined
    s.addEventListener('close', (evt) => { closed = evt.error })

    let framesWritten = 0
    const sending = (async () => {
      for (let i = 0; i < FRAMES; i++) {
        const chunk = new Uint8Array(MiB).fill(i)
        await writer.writeBinary(chunk, MiB)
        framesWritten++
      }
    })()
    sending.catch(() => {}) // awaited below; this only keeps a failure from being reported twice

    // Bytes the receiving peer holds for this stream: delivered to the FrameStream but not yet read, plus what
    // libp2p keeps in the stream's own read buffer while it is paused.
    let consumed = 0
    let maxHeld = 0
    const sample = (): void => { maxHeld = Math.max(maxHeld, delivered.bytes - consumed + s.readBufferLength) }
    const sampler = setInterval(sample, 2)
    try {
      // The reader stalls: the network must stop the sender long before 64 MiB have crossed.
      await sleep(400)
      sample()
      const deliveredWhileStalled = delivered.bytes
      // Then it reads slowly, stalling again now and then.
      for (let i = 0; i < FRAMES; i++) {
        const f = await reader.read()
        expect(f?.kind).toBe('binary')
        expect(f?.payload.byteLength).toBe(MiB)
        expect(f!.payload[0] === i && f!.payload[MiB - 1] === i).toBe(true)
        consumed += 5 + MiB
        sample()
        await sleep(i % 16 === 15 ? 100 : 2)
      }
      sample()
      await sending
      // The sender closes only now: a close while the reader is paused trips a bug (frames.bugs.test.ts).
      await writer.close()
      expect(await reader.read()).toBeNull()

      // yamux grants at most 16 MiB of window per stream (MAX_STREAM_WINDOW); pausing stops the window
      // updates, so what crosses after the pause is at most one window. Without the pause (stream.pause()
      // removed from frames.ts) about 43 MB crossed during the first stall, and this test failed.
      const bound = highWaterBytes + 16 * MiB + MiB + 5
      expect(deliveredWhileStalled).toBeLessThanOrEqual(bound)
      expect(deliveredWhileStalled).toBeLessThan(FRAMES * MiB / 2)
      expect(maxHeld).toBeLessThanOrEqual(bound)
      expect(pauses.pauses).toBeGreaterThan(0)
      expect(pauses.resumes).toBeGreaterThan(0)
      expect(framesWritten).toBe(FRAMES)
      expect(delivered.bytes).toBe(FRAMES * (MiB + 5))
      expect(closed).toBeUndefined()
      expect(Date.now() - t0).toBeLessThan(20_000)
    } finally {
      clearInterval(sampler)
    }
  })

  it.each([
    ['an unknown frame kind', rawFrame(9, '{"ping":1}'), MalformedFrameError, /unknown frame kind 9/],
    ['a frame above maxFrameBytes', header(KIND_JSON, 64 * 1024 + 1), FrameTooLargeError, /frame of 65537 bytes/],
    ['a JSON frame failing the schema', rawFrame(KIND_JSON, '{"ping":"x"}'), MalformedFrameError, /invalid message: ping/]
  ])('%s resets that stream only; other streams on the same connection keep working', async (_what, bad, errorClass, message) => {
    const a = await nodes.start()
    const b = await nodes.start()
    const protocol = '/swarm-test/ping/1.0.0'
    const Request = z.object({ ping: z.number().int().optional(), bye: z.literal(true).optional() }).strict()
    const Reply = z.object({ pong: z.number().int() }).strict()
    const serverErrors: Error[] = []
    // The server side of a small protocol, shaped like the swarm's handlers: any error resets the stream.
    await b.handle(protocol, async (stream) => {
      const fs = new FrameStream(stream, { maxFrameBytes: 64 * 1024, readTimeoutMs: 5000 })
      try {
        for (let i = 0; i < 100; i++) {
          const req = await fs.readJson(Request)
          if (req.bye === true) break
          await fs.writeJson({ pong: req.ping })
        }
        await fs.close()
      } catch (err) {
        serverErrors.push(err as Error)
        fs.abort(err as Error)
      }
    })
    const open = async (): Promise<{ stream: Stream, fs: FrameStream }> => {
      const stream = await a.dialProtocol(b.peerId, protocol)
      return { stream, fs: new FrameStream(stream, { maxFrameBytes: 64 * 1024, readTimeoutMs: 5000 }) }
    }
    await a.dial(b.getMultiaddrs()[0])
    const good = await open()
    await good.fs.writeJson({ ping: 1 })
    expect(await good.fs.readJson(Reply)).toEqual({ pong: 1 })

    const victim = await open()
    const conns = a.getConnections(b.peerId)
    expect(conns).toHaveLength(1)
    const connId = conns[0].id
    expect(conns[0].streams).toContain(victim.stream)
    expect(conns[0].streams).toContain(good.stream)
    victim.stream.send(bad)
    const r = await settle(victim.fs.read())
    expect(r.error?.name).toBe('StreamResetError')
    expect(victim.stream.status).toBe('reset')
    expect(serverErrors).toHaveLength(1)
    expect(serverErrors[0]).toBeInstanceOf(errorClass)
    expect(serverErrors[0].message).toMatch(message)

    // The stream that was open all along still works...
    await good.fs.writeJson({ ping: 2 })
    expect(await good.fs.readJson(Reply)).toEqual({ pong: 2 })
    await good.fs.writeJson({ bye: true })
    expect(await good.fs.read()).toBeNull()
    // ...and so does a new stream, on the same connection.
    const later = await open()
    await later.fs.writeJson({ ping: 3 })
    expect(await later.fs.readJson(Reply)).toEqual({ pong: 3 })
    await later.fs.writeJson({ bye: true })
    expect(await later.fs.read()).toBeNull()
    const after = a.getConnections(b.peerId)
    expect(after.map(c => c.id)).toEqual([connId])
    expect(after[0].status).toBe('open')
    expect(serverErrors).toHaveLength(1)
  })
})
