// `/swarm/blob/1.0.0`: copy a job's files between peers. The master puts a job's input (before it
// says "accepted"), its tile results and its output on a standby; a newly elected master gets what it
// lacks from whoever has it. Both halves are here: putBlob/getBlob/dropBlobs (the master's) and
// BlobService (every peer runs one, over its job files).
import type { Libp2p, PeerId } from '@libp2p/interface'
import { z } from 'zod'
import { systemClock, timeoutSignal, type Clock } from './clock.ts'
import { MalformedFrameError, RemoteError } from './errors.ts'
import { FrameStream } from './frames.ts'
import { ErrorCodes, FRAME_BYTES } from './messages.ts'

export const BLOB_PROTOCOL = '/swarm/blob/1.0.0'

/**
 * Copies a peer takes at once: a standby gets the input of each job and the result of each tile as it
 * is stored, one stream each, and a new master's gets; 64 holds a busy master's bursts.
 */
export const MAX_INBOUND_STREAMS = 64
/** Copies a master sends one standby at once (the results of the tiles in flight): libp2p's default, which it always ran with. */
export const MAX_OUTBOUND_STREAMS = 64
/** File bytes travel in frames of this size (1 MiB, the swarm's frame size). */
export const MAX_FRAME_BYTES = FRAME_BYTES
/** The largest file: an input is at most 2 GiB (maxInputBytes' default), with room for a raised limit. */
export const MAX_BLOB_BYTES = 4 * 1024 ** 3
/** Job ids and file names are short ("j<time><hex>", "tiles/42.raw"). */
export const MAX_NAME_CHARS = 64
/** Longest silence either side waits for the other's next frame, and for a connection to the peer. */
export const TIMEOUT_MS = 30_000

/** Where a peer keeps job files (the scheduler's JobFiles): all the blob server needs of it. */
/** A file received into a temporary place: commit() moves it where it belongs, discard() drops it (after commit: nothing). */
export interface ReceivedFile {
  bytes: number
  sha256: string
  commit: () => Promise<void>
  discard: () => Promise<void>
}

/** A stored file to send as it is read: its size, then its bytes in chunks (never whole in memory). */
export interface BlobSource {
  bytes: number
  chunks: () => AsyncIterable<Uint8Array>
}

export interface BlobStore {
  /** The file's path; throws on a name that is not a valid job file name. */
  pathOf: (jobId: string, name: string) => string
  /** The file to stream; rejects when there is none. */
  openBlob: (jobId: string, name: string) => Promise<BlobSource>
  /** Stores what `fill` writes, as it comes (never whole in memory), to be committed or discarded. */
  receive: (jobId: string, name: string, fill: (write: (chunk: Uint8Array) => Promise<void>) => Promise<void>) => Promise<ReceivedFile>
  /** Bytes free on the disk the files are stored on. */
  freeBytes: () => Promise<number>
  /** The SHA-256 (hex) of a stored file, read as a stream; rejects when there is none. */
  sha256: (jobId: string, name: string) => Promise<string>
  has: (jobId: string, name: string) => Promise<boolean>
}

/**
 * Files only the master may write: a job's input and its output. A tile's pixels and statistics may also
 * come from the worker that computed them (copyTo), which any keyed peer can claim to be.
 */
const MASTER_ONLY = /^(input|output\..+)$/

/**
 * Left free on a peer's disk by every put: LevelDB (the queue, the epoch) writes to the same disk, and a
 * queue that cannot write stops the whole swarm's work, not one file.
 */
export const DISK_RESERVE_BYTES = 64 * 1024 ** 2

const mib = (bytes: number): string => `${(bytes / 1024 ** 2).toFixed(1)} MiB`

const name = z.string().min(1).max(MAX_NAME_CHARS)
const BlobRequestSchema = z.discriminatedUnion('op', [
  z.object({ op: z.literal('put'), jobId: name, name, bytes: z.number().int().min(0).max(MAX_BLOB_BYTES), epoch: z.number().int().min(0) }).strict(),
  z.object({ op: z.literal('get'), jobId: name, name }).strict(),
  /** Whether the file is here (a new master checking a finished job's copies): no bytes move. */
  z.object({ op: z.literal('has'), jobId: name, name }).strict(),
  /** The job's output is stored: its input and tile copies may go. */
  z.object({ op: z.literal('drop'), jobId: name, epoch: z.number().int().min(0) }).strict()
])
const BlobReplySchema = z.object({ ok: z.literal(true), bytes: z.number().int().min(0) }).strict()

export interface BlobComponents {
  libp2p: Pick<Libp2p, 'handle' | 'unhandle'>
}

export interface BlobInit {
  files: BlobStore
  /** The epoch of the master this peer follows: a put from an older one is refused. */
  epoch: () => number
  /** Decides on a drop (only a job done in this peer's own queue may go). */
  onDrop: (jobId: string) => Promise<void>
  /**
   * The master this peer follows (null: none). Given, a put of an input or output from any other peer is
   * refused, and so is a tile's from another at an epoch other than the current one.
   */
  master?: () => string | null
  /**
   * Whether this peer's queue (or its replica of the master's) holds the job. Given, a put from a peer
   * other than the master for a job it does not hold is refused: a keyed peer cannot leave files here
   * for jobs it made up. (The master's own puts are not checked: it copies a job's input to a standby
   * before the job is queued.)
   */
  knows?: (jobId: string) => Promise<boolean>
  /** Told every refused put, with the peer that tried. */
  onRefused?: (message: string) => void
  /** Read deadlines run on this clock (default: the system's). */
  clock?: Clock
}

/** Serves puts, gets and drops of this peer's job files. */
export class BlobService {
  readonly #components: BlobComponents
  readonly #init: BlobInit
  readonly #clock: Clock
  #started = false

  constructor (components: BlobComponents, init: BlobInit) {
    this.#components = components
    this.#init = init
    this.#clock = init.clock ?? systemClock
  }

  async start (): Promise<void> {
    if (this.#started) return
    await this.#components.libp2p.handle(BLOB_PROTOCOL, async (stream, connection) => {
      const fs = new FrameStream(stream, { maxFrameBytes: MAX_FRAME_BYTES, readTimeoutMs: TIMEOUT_MS, clock: this.#clock })
      try {
        await this.#serve(fs, connection.remotePeer.toString())
        await fs.close()
      } catch (err) {
        fs.abort(err as Error)
      }
    }, { maxInboundStreams: MAX_INBOUND_STREAMS, maxOutboundStreams: MAX_OUTBOUND_STREAMS })
    this.#started = true
  }

  async stop (): Promise<void> {
    if (!this.#started) return
    await this.#components.libp2p.unhandle(BLOB_PROTOCOL)
    this.#started = false
  }

  async #serve (fs: FrameStream, from: string): Promise<void> {
    const { files, epoch } = this.#init
    const req = await fs.readJson(BlobRequestSchema)
    if (req.op === 'drop') {
      if (req.epoch >= epoch()) await this.#init.onDrop(req.jobId)
      await fs.writeJson({ ok: true, bytes: 0 })
    } else if (req.op === 'put') {
      if (req.epoch < epoch()) {
        await fs.writeError(ErrorCodes.staleEpoch, `put from epoch ${req.epoch}, this peer follows epoch ${epoch()}`)
        return
      }
      files.pathOf(req.jobId, req.name) // validates the name before any byte is stored
      const refuse = async (why: string): Promise<void> => {
        const message = `put of ${req.jobId}/${req.name} from ${from} refused: ${why}`
        this.#init.onRefused?.(message)
        await fs.writeError(ErrorCodes.forbidden, message)
      }
      const master = this.#init.master?.()
      if (master !== undefined && from !== master && (MASTER_ONLY.test(req.name) || req.epoch !== epoch())) {
        await refuse(master == null ? 'this peer follows no master' : `only the master (${master}) writes ${MASTER_ONLY.test(req.name) ? 'a job\'s input and output' : 'at another epoch'}`)
        return
      }
      if (from !== master && this.#init.knows != null && !await this.#init.knows(req.jobId)) {
        await refuse(`job ${req.jobId} is not in this peer's queue`)
        return
      }
      // What is announced is checked against the disk before a byte is taken, and then goes to disk as it
      // comes: a put may announce gigabytes, and held in memory it once could take the peer down.
      const free = await files.freeBytes()
      if (req.bytes + DISK_RESERVE_BYTES > free) {
        const message = `no room for ${req.jobId}/${req.name} (${mib(req.bytes)}) on ${from.slice(-8)}'s disk: ${mib(free)} free, ${mib(DISK_RESERVE_BYTES)} kept back`
        this.#init.onRefused?.(message)
        await fs.writeError(ErrorCodes.noSpace, message)
        return
      }
      const got = await files.receive(req.jobId, req.name, async (write) => { await fs.readBinary(req.bytes, write) })
      try {
        // A stored input or output is never replaced: it came from a master (an output stitched again on
        // another CPU may differ in its compressed bytes, not in its pixels). A tile's bytes are the contract:
        // the same again (redone after a failover) is taken as it is; other bytes only from the master followed,
        // which replaces the tiles of a peer it caught lying (result verification), never from a worker.
        // (A stored input or output is not read back to compare: it stays whatever the put carries.)
        if (!await files.has(req.jobId, req.name)) {
          await got.commit()
        } else if (!MASTER_ONLY.test(req.name) && await files.sha256(req.jobId, req.name) !== got.sha256) {
          if (master === undefined || from !== master) {
            await refuse('a different copy is stored here already')
            return
          }
          await got.commit()
        }
      } finally {
        await got.discard()
      }
      await fs.writeJson({ ok: true, bytes: got.bytes })
    } else if (req.op === 'has') {
      files.pathOf(req.jobId, req.name)
      if (await files.has(req.jobId, req.name)) await fs.writeJson({ ok: true, bytes: 0 })
      else await fs.writeError(ErrorCodes.unknownJob, `no ${req.name} of job ${req.jobId} here`)
    } else {
      // Streamed from the file: a get of a 2 GiB input once read it whole into memory first.
      let source: BlobSource
      try {
        source = await files.openBlob(req.jobId, req.name)
      } catch {
        await fs.writeError(ErrorCodes.unknownJob, `no ${req.name} of job ${req.jobId} here`)
        return
      }
      await fs.writeJson({ ok: true, bytes: source.bytes })
      await writeSource(fs, source)
    }
  }
}

export function blob (init: BlobInit): (components: BlobComponents) => BlobService {
  return (components) => new BlobService(components, init)
}

export interface BlobCallOptions {
  /** Deadlines run on this clock (default: the system's). */
  clock?: Clock
}

type Dialer = Pick<Libp2p, 'dialProtocol'>

/** Writes a source's bytes as binary frames; a file that is not the size it said ends the stream in error. */
export async function writeSource (fs: FrameStream, source: BlobSource): Promise<void> {
  let sent = 0
  for await (const chunk of source.chunks()) {
    sent += chunk.byteLength
    if (sent > source.bytes) break
    await fs.writeBinary(chunk, MAX_FRAME_BYTES)
  }
  if (sent !== source.bytes) throw new MalformedFrameError(`the file changed while it was sent (${sent} of ${source.bytes} bytes)`)
}

/** One request on a fresh stream: the request (and its bytes), then whatever `read` takes of the reply. */
async function call<T> (node: Dialer, peer: PeerId, req: object, body: Uint8Array | BlobSource | undefined, opts: BlobCallOptions, read: (fs: FrameStream) => Promise<T>): Promise<T> {
  const clock = opts.clock ?? systemClock
  const dial = timeoutSignal(clock, TIMEOUT_MS)
  let stream
  try {
    stream = await node.dialProtocol(peer, BLOB_PROTOCOL, { signal: dial.signal })
  } finally {
    dial.cancel()
  }
  const fs = new FrameStream(stream, { maxFrameBytes: MAX_FRAME_BYTES, readTimeoutMs: TIMEOUT_MS, clock })
  try {
    await fs.writeJson(req)
    if (body instanceof Uint8Array) await fs.writeBinary(body, MAX_FRAME_BYTES)
    else if (body != null) await writeSource(fs, body)
    const out = await read(fs)
    await fs.close()
    return out
  } catch (err) {
    fs.abort(err as Error)
    throw err
  }
}

/** Puts a file on `peer`: bytes in memory, or a source streamed from this peer's disk. */
export async function putBlob (node: Dialer, peer: PeerId, jobId: string, name: string, data: Uint8Array | BlobSource, epoch: number, opts: BlobCallOptions = {}): Promise<void> {
  const bytes = data instanceof Uint8Array ? data.byteLength : data.bytes
  await call(node, peer, { op: 'put', jobId, name, bytes, epoch }, data, opts, async fs => { await fs.readJson(BlobReplySchema) })
}

export async function dropBlobs (node: Dialer, peer: PeerId, jobId: string, epoch: number, opts: BlobCallOptions = {}): Promise<void> {
  await call(node, peer, { op: 'drop', jobId, epoch }, undefined, opts, async fs => { await fs.readJson(BlobReplySchema) })
}

/** Whether `peer` holds the file (false when it answers that it has none; other failures reject). */
export async function hasBlob (node: Dialer, peer: PeerId, jobId: string, name: string, opts: BlobCallOptions = {}): Promise<boolean> {
  try {
    return await call(node, peer, { op: 'has', jobId, name }, undefined, opts, async fs => { await fs.readJson(BlobReplySchema); return true })
  } catch (err) {
    if (err instanceof RemoteError && err.code === ErrorCodes.unknownJob) return false
    throw err
  }
}

/**
 * Gets a file from `peer` into `receive` as it comes (JobFiles.receive: a temporary file, hashed on the
 * way), never whole in memory: the size is the remote peer's word, and a get of an input may be 2 GiB.
 */
export async function getBlobInto (node: Dialer, peer: PeerId, jobId: string, name: string, receive: (fill: (write: (chunk: Uint8Array) => Promise<void>) => Promise<void>) => Promise<ReceivedFile>, opts: BlobCallOptions = {}): Promise<ReceivedFile> {
  return await call(node, peer, { op: 'get', jobId, name }, undefined, opts, async fs => {
    const { bytes } = await fs.readJson(BlobReplySchema)
    return await receive(async (write) => { await fs.readBinary(bytes, write) })
  })
}

/**
 * Gets a small file (a tile) into memory; one announced larger than `maxBytes` is refused before any of
 * it is read or allocated.
 */
export async function getBlob (node: Dialer, peer: PeerId, jobId: string, name: string, maxBytes: number, opts: BlobCallOptions = {}): Promise<Uint8Array> {
  return await call(node, peer, { op: 'get', jobId, name }, undefined, opts, async fs => {
    const { bytes } = await fs.readJson(BlobReplySchema)
    if (bytes > maxBytes) throw new MalformedFrameError(`${name} of job ${jobId} announced as ${bytes} bytes, at most ${maxBytes} expected`)
    return await fs.readBinary(bytes) as Uint8Array
  })
}
