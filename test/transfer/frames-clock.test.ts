// The frame reader's deadlines run on the clock it is given: a ManualClock decides when a read times out,
// to the millisecond, whatever the machine's clock does. The read timeout is a minute, so a reader that
// still used the system clock would not time out before the test does.
import { describe, expect, it } from 'vitest'
import { ManualClock } from '../../src/transfer/clock.ts'
import { StreamTimeoutError } from '../../src/transfer/errors.ts'
import { MIN_TRANSFER_BYTES_PER_S, transferDeadlineMs } from '../../src/transfer/frames.ts'
import { bytes, framePair, KIND_BINARY, rawFrame } from './helpers.ts'

const MINUTE = 60_000

/** Lets the stream deliver what was sent and the reader run, without moving any clock. */
async function turns (n = 5): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise(resolve => setImmediate(resolve))
}

/** Tracks a read: `state` is 'pending' until it settles. */
function track<T> (p: Promise<T>): { state: 'pending' | 'done' | Error } {
  const t: { state: 'pending' | 'done' | Error } = { state: 'pending' }
  p.then(() => { t.state = 'done' }, (err: Error) => { t.state = err })
  return t
}

describe('frames on a manual clock', () => {
  it('a read with nothing arriving times out exactly at readTimeoutMs of the injected clock', async () => {
    const clock = new ManualClock(1_000_000)
    const { reader } = await framePair({ readTimeoutMs: MINUTE, clock })
    const r = track(reader.read())
    clock.advance(MINUTE - 1)
    await turns()
    expect(r.state).toBe('pending')
    clock.advance(1)
    await turns()
    expect(r.state).toBeInstanceOf(StreamTimeoutError)
    expect(clock.pending).toBe(0)
  })

  it('the deadline bounds the whole frame: bytes trickling in do not extend it', async () => {
    const clock = new ManualClock()
    const { a, reader } = await framePair({ readTimeoutMs: MINUTE, clock })
    const f = rawFrame(KIND_BINARY, bytes(40))
    const r = track(reader.read())
    for (let i = 0; i < 4; i++) {
      a.send(f.subarray(i * 9, i * 9 + 9))
      await turns()
      clock.advance(MINUTE / 4 - 1)
      await turns()
    }
    expect(r.state).toBe('pending')
    clock.advance(4)
    await turns()
    expect(r.state).toBeInstanceOf(StreamTimeoutError)
  })

  it('binary frames trickling in, each in time, are cut off at the whole transfer\'s bound', async () => {
    const clock = new ManualClock()
    const { writer, reader } = await framePair({ readTimeoutMs: MINUTE, clock })
    const limit = transferDeadlineMs(10)
    const r = track(reader.readBinary(10))
    // A byte every 59 s: no frame is ever late, but the 10 bytes would take nine minutes.
    await writer.writeBinary(bytes(1))
    await turns()
    clock.advance(MINUTE - 1000)
    await turns()
    expect(r.state).toBe('pending')
    await writer.writeBinary(bytes(1))
    await turns()
    clock.advance(limit - (MINUTE - 1000) - 1)
    await turns()
    expect(r.state).toBe('pending')
    clock.advance(1)
    await turns()
    expect(r.state).toBeInstanceOf(StreamTimeoutError)
    expect((r.state as Error).message).toBe(`2 of 10 bytes came within ${limit} ms: slower than ${MIN_TRANSFER_BYTES_PER_S / 1024} KiB/s`)
    expect(clock.pending).toBe(0)
  })

  it('a frame that arrives in time is read, and leaves no timer armed', async () => {
    const clock = new ManualClock()
    const { writer, reader } = await framePair({ readTimeoutMs: MINUTE, clock })
    const read = reader.read()
    clock.advance(MINUTE - 1)
    await writer.writeBinary(bytes(100))
    const f = await read
    expect(f?.payload).toEqual(bytes(100))
    expect(clock.pending).toBe(0)
  })
})
