// Framing for the swarm's direct streams: each frame is a 4-byte big-endian length, a 1-byte kind
// (JSON or binary) and the payload. The reader bounds every frame, times out every read, and applies
// backpressure: past a high-water mark it pauses the libp2p stream, which stops yamux window updates,
// so a fast sender waits instead of filling this peer's memory.
import type { Stream, StreamCloseEvent } from '@libp2p/interface'
import type { z } from 'zod'
import { systemClock, timeoutSignal, type Clock } from './clock.ts'
import { FrameTooLargeError, MalformedFrameError, RemoteError, StreamEndedError, StreamTimeoutError } from './errors.ts'

const KIND_JSON = 1
const KIND_BINARY = 2
const HEADER = 5
/** Frames up to this size are sent with their header in one buffer (a copy this small costs less than a second send). */
const COALESCE_MAX_BYTES = 64 * 1024
/**
 * The slowest a run of binary frames (an upload, a blob, a hand-over, a tile) may come in on average. Each
 * frame's own timeout alone let a sender keep a stream, a descriptor and a half-written file for ever with
 * a byte every few seconds; this bounds the whole transfer. Low enough for a Pi on poor Wi-Fi (an 8 GiB
 * upload at this rate takes over an hour and is still taken).
 */
export const MIN_TRANSFER_BYTES_PER_S = 256 * 1024
/** Added to every transfer's bound: a small transfer may still wait through a slow start or a busy peer. */
export const TRANSFER_GRACE_MS = 60_000

/** No message of the swarm nests deeper than a few levels; this is far above them and far below any stack. */
export const MAX_JSON_DEPTH = 64

/** Whether JSON text nests arrays and objects deeper than `max` (brackets inside strings not counted). */
export function nestedDeeperThan (bytes: Uint8Array, max: number): boolean {
  let depth = 0
  let inString = false
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]
    if (inString) {
      if (b === 0x5c) i++ // a backslash: the next byte is escaped
      else if (b === 0x22) inString = false
    } else if (b === 0x22) {
      inString = true
    } else if (b === 0x5b || b === 0x7b) {
      if (++depth > max) return true
    } else if (b === 0x5d || b === 0x7d) {
      depth--
    }
  }
  return false
}

/** How long `bytes` sent as binary frames may take in all. */
export const transferDeadlineMs = (bytes: number): number => TRANSFER_GRACE_MS + Math.ceil(bytes / MIN_TRANSFER_BYTES_PER_S * 1000)

export interface FrameOptions {
  /** The largest frame accepted, header excluded. */
  maxFrameBytes: number
  /** The longest wait for one frame. */
  readTimeoutMs: number
  highWaterBytes?: number
  /** Read and drain deadlines are measured on this clock (default: the system's). */
  clock?: Clock
}

export class FrameStream {
  readonly stream: Stream
  private readonly opts: Required<FrameOptions>
  private chunks: Uint8Array[] = []
  private buffered = 0
  private ended = false
  private failure: Error | undefined
  private wake: (() => void) | undefined
  private paused = false
  private resuming = false

  constructor (stream: Stream, opts: FrameOptions) {
    this.stream = stream
    // An explicit `highWaterBytes: undefined` must not erase the default, and the mark must hold a whole frame.
    const highWaterBytes = Math.max(opts.highWaterBytes ?? Math.max(2 * 1024 * 1024, 2 * opts.maxFrameBytes), opts.maxFrameBytes + HEADER)
    this.opts = { ...opts, highWaterBytes, clock: opts.clock ?? systemClock }
    stream.addEventListener('message', (evt) => {
      const data = evt.data
      const bytes = data instanceof Uint8Array ? data : data.subarray()
      this.chunks.push(bytes)
      this.buffered += bytes.byteLength
      if (!this.paused && !this.resuming && this.buffered > this.opts.highWaterBytes) this.pauseStream()
      this.notify()
    })
    stream.addEventListener('remoteCloseWrite', () => { this.ended = true; this.notify() })
    stream.addEventListener('close', (evt) => {
      this.ended = true
      if (evt.error != null) this.failure ??= evt.error
      this.notify()
    })
  }

  private pauseStream (): void {
    this.paused = true
    try { this.stream.pause() } catch {} // the readable end closed: nothing more will come anyway
  }

  /**
   * resume() first hands over what libp2p kept while the stream was paused, then lets the muxer grant window
   * again: a pause() from the 'message' listener in between would be undone (the stream would read as paused
   * while yamux keeps granting window), so the listener does not pause during resume(); this pauses after it.
   * resume() throws if the readable end closed meanwhile (remote end of stream, reset); nothing is lost then.
   */
  private resumeStream (): void {
    this.paused = false
    this.resuming = true
    try { this.stream.resume() } catch {} finally { this.resuming = false }
    if (this.buffered > this.opts.highWaterBytes) this.pauseStream()
  }

  private notify (): void {
    const w = this.wake
    this.wake = undefined
    w?.()
  }

  /** Waits until n bytes are buffered; false on a clean end of stream with nothing buffered. */
  private async need (n: number, deadline: number, waitMs: number): Promise<boolean> {
    while (this.buffered < n) {
      if (this.failure != null) throw this.failure
      // Never wait while paused: the frame needs more than is buffered (n <= highWaterBytes, so this stays resumed).
      if (this.paused) { this.resumeStream(); continue }
      if (this.ended) {
        if (this.buffered === 0) return false
        throw new StreamEndedError(`stream ended inside a frame (${this.buffered} of ${n} bytes)`)
      }
      const left = deadline - this.opts.clock.now()
      if (left <= 0) throw new StreamTimeoutError(`no frame within ${waitMs} ms`)
      await new Promise<void>((resolve) => {
        const t = this.opts.clock.after(left, resolve)
        this.wake = () => { t.cancel(); resolve() }
      })
    }
    return true
  }

  private take (n: number): Uint8Array {
    const out = new Uint8Array(n)
    let off = 0
    while (off < n) {
      const head = this.chunks[0]
      const len = Math.min(head.byteLength, n - off)
      out.set(head.subarray(0, len), off)
      off += len
      if (len === head.byteLength) this.chunks.shift()
      else this.chunks[0] = head.subarray(len)
    }
    this.buffered -= n
    if (this.paused && this.buffered < this.opts.highWaterBytes / 2) this.resumeStream()
    return out
  }

  private peekHeader (): { len: number, kind: number } {
    const h = this.chunks[0].byteLength >= HEADER ? this.chunks[0] : this.take(HEADER)
    if (h !== this.chunks[0]) {
      this.chunks.unshift(h)
      this.buffered += HEADER
    }
    return { len: new DataView(h.buffer, h.byteOffset, HEADER).getUint32(0), kind: h[4] }
  }

  /** Reads one frame; null on a clean end of stream between frames. `timeoutMs`: this read's wait, if not the stream's. */
  async read (timeoutMs = this.opts.readTimeoutMs): Promise<{ kind: 'json' | 'binary', payload: Uint8Array } | null> {
    const deadline = this.opts.clock.now() + timeoutMs
    if (!await this.need(HEADER, deadline, timeoutMs)) return null
    const { len, kind } = this.peekHeader()
    if (kind !== KIND_JSON && kind !== KIND_BINARY) throw new MalformedFrameError(`unknown frame kind ${kind}`)
    if (len > this.opts.maxFrameBytes) throw new FrameTooLargeError(`frame of ${len} bytes, the limit is ${this.opts.maxFrameBytes}`)
    if (!await this.need(HEADER + len, deadline, timeoutMs)) throw new StreamEndedError('stream ended inside a frame')
    this.take(HEADER)
    return { kind: kind === KIND_JSON ? 'json' : 'binary', payload: this.take(len) }
  }

  /** Reads a JSON frame and checks it against the schema. A remote `{ error }` frame is thrown as RemoteError. */
  async readJson<T> (schema: z.ZodType<T>, timeoutMs?: number): Promise<T> {
    const f = await this.read(timeoutMs)
    if (f == null) throw new StreamEndedError('stream ended where a message was expected')
    if (f.kind !== 'json') throw new MalformedFrameError('expected a JSON frame, got binary')
    // Before parsing: a frame of a million '[' parses, and then overflows the stack of whatever walks it.
    if (nestedDeeperThan(f.payload, MAX_JSON_DEPTH)) throw new MalformedFrameError(`a JSON frame nested deeper than ${MAX_JSON_DEPTH} levels`)
    let value: unknown
    try {
      value = JSON.parse(new TextDecoder().decode(f.payload))
    } catch {
      throw new MalformedFrameError('a JSON frame is not JSON')
    }
    const remote = ErrorFrame.safeParse(value)
    if (remote.success) throw new RemoteError(remote.data.error.code, remote.data.error.message)
    const parsed = schema.safeParse(value)
    if (!parsed.success) {
      const issue = parsed.error.issues[0]
      throw new MalformedFrameError(`invalid message: ${issue?.path.join('.') || '(root)'} ${issue?.message ?? ''}`)
    }
    return parsed.data
  }

  /** Reads exactly `total` bytes sent as binary frames, within transferDeadlineMs(total) in all. */
  async readBinary (total: number, onChunk?: (chunk: Uint8Array) => Promise<void> | void): Promise<Uint8Array | undefined> {
    const out = onChunk == null ? new Uint8Array(total) : undefined
    const limitMs = transferDeadlineMs(total)
    const until = this.opts.clock.now() + limitMs
    let got = 0
    while (got < total) {
      const left = until - this.opts.clock.now()
      const late = (): StreamTimeoutError => new StreamTimeoutError(`${got} of ${total} bytes came within ${limitMs} ms: slower than ${MIN_TRANSFER_BYTES_PER_S / 1024} KiB/s`)
      if (left <= 0) throw late()
      const f = await this.read(Math.min(this.opts.readTimeoutMs, left)).catch((err: Error) => {
        throw err instanceof StreamTimeoutError && left < this.opts.readTimeoutMs ? late() : err
      })
      if (f == null) throw new StreamEndedError(`stream ended after ${got} of ${total} bytes`)
      if (f.kind !== 'binary') throw new MalformedFrameError('expected a binary frame, got JSON')
      if (got + f.payload.byteLength > total) throw new MalformedFrameError(`more bytes than announced (${got + f.payload.byteLength} > ${total})`)
      if (out != null) out.set(f.payload, got)
      else await onChunk!(f.payload)
      got += f.payload.byteLength
    }
    return out
  }

  async writeJson (value: unknown): Promise<void> {
    await this.writeFrame(KIND_JSON, new TextEncoder().encode(JSON.stringify(value)))
  }

  async writeError (code: string, message: string): Promise<void> {
    await this.writeJson({ error: { code, message } })
  }

  /** Sends bytes as binary frames of at most chunkBytes each, waiting for the stream to drain. */
  async writeBinary (bytes: Uint8Array, chunkBytes = 1024 * 1024): Promise<void> {
    for (let off = 0; off < bytes.byteLength; off += chunkBytes) {
      await this.writeFrame(KIND_BINARY, bytes.subarray(off, Math.min(bytes.byteLength, off + chunkBytes)))
    }
  }

  private async writeFrame (kind: number, payload: Uint8Array): Promise<void> {
    // A small frame goes as one buffer: each send is a muxer frame, a noise message and a socket write of
    // its own, which for a heartbeat or an acknowledgement cost more than the copy. A large one is not copied.
    const small = payload.byteLength <= COALESCE_MAX_BYTES
    const head = new Uint8Array(small ? HEADER + payload.byteLength : HEADER)
    new DataView(head.buffer).setUint32(0, payload.byteLength)
    head[4] = kind
    if (small) {
      head.set(payload, HEADER)
      this.stream.send(head)
    } else {
      this.stream.send(head)
      this.stream.send(payload)
    }
    await this.drained()
  }

  /**
   * Waits until the stream has handed everything queued to the muxer. Not stream.onDrain(): in @libp2p/utils 7.4
   * it keeps the promise of the first drain, so afterwards it resolves at once and a sender queues everything.
   */
  private async drained (): Promise<void> {
    const deadline = this.opts.clock.now() + this.opts.readTimeoutMs
    while (this.stream.writeBufferLength > 0) {
      const left = deadline - this.opts.clock.now()
      if (left <= 0) throw new StreamTimeoutError(`the remote took no data for ${this.opts.readTimeoutMs} ms`)
      await new Promise<void>((resolve, reject) => {
        const stream = this.stream
        const finish = (err?: Error): void => {
          timer.cancel()
          stream.removeEventListener('drain', onDrain)
          stream.removeEventListener('idle', onDrain)
          stream.removeEventListener('close', onClose)
          if (err != null) reject(err)
          else resolve()
        }
        const onDrain = (): void => { finish() }
        const onClose = (evt: StreamCloseEvent): void => { finish(evt.error ?? new Error('stream closed while writing')) }
        const timer = this.opts.clock.after(left, onDrain)
        stream.addEventListener('drain', onDrain)
        stream.addEventListener('idle', onDrain)
        stream.addEventListener('close', onClose)
      })
    }
  }

  async close (): Promise<void> {
    const timeout = timeoutSignal(this.opts.clock, this.opts.readTimeoutMs)
    try {
      await this.stream.close({ signal: timeout.signal }).catch((err: Error) => { this.stream.abort(err) })
    } finally {
      timeout.cancel()
    }
  }

  abort (err: Error): void {
    this.stream.abort(err)
  }
}

import { z as zod } from 'zod'
const ErrorFrame = zod.object({ error: zod.object({ code: zod.string().max(64), message: zod.string().max(4096) }) })
