// The client side of the job protocols, used by `swarm submit`, `swarm result` and `swarm jobs` from
// any device: find the master (asking any peer), then talk to it directly.
import { open } from 'node:fs/promises'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import type { Libp2p, PeerId } from '@libp2p/interface'
import type { OutputFormat, Pipeline } from '../ops/index.ts'
import { queryStatus } from './status.ts'
import { RemoteError } from './errors.ts'
import { FrameStream } from './frames.ts'
import {
  ErrorCodes, FRAME_BYTES, JOBS_PROTOCOL, JobEventSchema, JobsReplySchema, SUBMIT_PROTOCOL, WATCH_PROTOCOL,
  type JobEvent, type JobsReply
} from './messages.ts'

export class NoMasterError extends Error {
  override name = 'NoMasterError'
}

const READ_TIMEOUT_MS = 60_000

/**
 * Asks the given peers who the master is, until one names a master or the time is up. Adds the
 * master's addresses to the peer store so it can be dialled by PeerId.
 */
export async function findMaster (node: Libp2p, targets: Array<PeerId | Multiaddr>, timeoutMs: number): Promise<PeerId> {
  const deadline = Date.now() + timeoutMs
  const errors = new Set<string>()
  for (let round = 0; round < 1000 && Date.now() < deadline; round++) {
    for (const target of targets) {
      try {
        const snap = await queryStatus(node, target, Math.max(500, Math.min(5000, deadline - Date.now())))
        if (snap.master == null) continue
        const row = snap.peers.find(p => p.peerId === snap.master)
        const id = peerIdFromString(snap.master)
        if (row != null) await node.peerStore.merge(id, { multiaddrs: row.addrs.map(a => multiaddr(a)) })
        return id
      } catch (err) {
        errors.add((err as Error).message)
      }
    }
    await new Promise(resolve => setTimeout(resolve, 250))
  }
  throw new NoMasterError(`no master found within ${timeoutMs} ms${errors.size > 0 ? ` (${[...errors].slice(0, 3).join('; ')})` : ' (the swarm may still be electing one)'}`)
}

export interface SubmitInput {
  path: string
  name: string
  bytes: number
  pipeline: Pipeline
  format: OutputFormat
  tileSize?: number
  watch: boolean
}

export interface JobOutcome {
  jobId: string
  /** The encoded output, when it was asked for and the job succeeded. */
  data?: Uint8Array
  result?: Extract<JobEvent, { type: 'result' }>
  failure?: string
}

/** Uploads the file and, with watch, follows the job to its end. */
export async function submitImage (node: Libp2p, master: PeerId, input: SubmitInput, onEvent: (e: JobEvent) => void): Promise<JobOutcome> {
  const stream = await node.dialProtocol(master, SUBMIT_PROTOCOL, { signal: AbortSignal.timeout(10_000) })
  const fs = new FrameStream(stream, { maxFrameBytes: FRAME_BYTES, readTimeoutMs: READ_TIMEOUT_MS })
  try {
    await fs.writeJson({ name: input.name, bytes: input.bytes, pipeline: input.pipeline, format: input.format, tileSize: input.tileSize, watch: input.watch })
    const fh = await open(input.path, 'r')
    try {
      const buf = new Uint8Array(FRAME_BYTES)
      let sent = 0
      while (sent < input.bytes) {
        const { bytesRead } = await fh.read(buf, 0, Math.min(buf.byteLength, input.bytes - sent), sent)
        if (bytesRead === 0) throw new Error(`${input.path} shrank while being sent`)
        await fs.writeBinary(buf.slice(0, bytesRead), FRAME_BYTES)
        sent += bytesRead
      }
    } finally {
      await fh.close()
    }
    const accepted = await fs.readJson(JobEventSchema)
    if (accepted.type !== 'accepted') throw new Error(`unexpected reply ${accepted.type}`)
    onEvent(accepted)
    if (!input.watch) {
      await fs.close()
      return { jobId: accepted.jobId }
    }
    return await follow(fs, accepted.jobId, onEvent)
  } catch (err) {
    fs.abort(err as Error)
    throw err
  }
}

/** Follows a job already in the queue: progress, then its result (with the data if asked). */
export async function watchJob (node: Libp2p, master: PeerId, jobId: string, withData: boolean, onEvent: (e: JobEvent) => void): Promise<JobOutcome> {
  const stream = await node.dialProtocol(master, WATCH_PROTOCOL, { signal: AbortSignal.timeout(10_000) })
  const fs = new FrameStream(stream, { maxFrameBytes: FRAME_BYTES, readTimeoutMs: READ_TIMEOUT_MS })
  try {
    await fs.writeJson({ jobId, result: withData })
    return await follow(fs, jobId, onEvent)
  } catch (err) {
    fs.abort(err as Error)
    throw err
  }
}

/** Reads events until the result or failure; a stream that ends before either means the master changed. */
async function follow (fs: FrameStream, jobId: string, onEvent: (e: JobEvent) => void): Promise<JobOutcome> {
  for (;;) {
    const frame = await fs.read()
    if (frame == null) throw new MasterGoneError(`the master stopped serving job ${jobId}`)
    if (frame.kind !== 'json') throw new Error('unexpected binary frame')
    const value = JSON.parse(new TextDecoder().decode(frame.payload)) as { error?: { code: string, message: string } }
    if (value.error != null) throw new RemoteError(value.error.code, value.error.message)
    const e = JobEventSchema.parse(value)
    onEvent(e)
    if (e.type === 'failed') return { jobId, failure: e.reason }
    if (e.type === 'result') {
      const data = e.bytes > 0 ? await fs.readBinary(e.bytes) : undefined
      await fs.close()
      return { jobId, data, result: e }
    }
  }
}

export class MasterGoneError extends Error {
  override name = 'MasterGoneError'
}

export async function fetchJobs (node: Libp2p, master: PeerId, limit = 100): Promise<JobsReply> {
  const stream = await node.dialProtocol(master, JOBS_PROTOCOL, { signal: AbortSignal.timeout(10_000) })
  const fs = new FrameStream(stream, { maxFrameBytes: FRAME_BYTES, readTimeoutMs: READ_TIMEOUT_MS })
  try {
    await fs.writeJson({ limit })
    const reply = await fs.readJson(JobsReplySchema)
    await fs.close()
    return reply
  } catch (err) {
    fs.abort(err as Error)
    throw err
  }
}

/**
 * true when the error means "ask again": the peer was not (or no longer) master, or it could not yet
 * place a copy of the input on a standby (the job was not accepted, so sending it again is right).
 */
export function isRetryable (err: unknown): boolean {
  if (err instanceof RemoteError) return err.code === ErrorCodes.notMaster || err.code === ErrorCodes.busy
  return err instanceof MasterGoneError
}
