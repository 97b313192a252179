// `/swarm/blob/1.0.0`: copy a job's files between peers. The master puts a job's input (before it
// says "accepted"), its tile results and its output on a standby; a newly elected master gets what it
// lacks from whoever has it.
import type { Libp2p, PeerId } from '@libp2p/interface'
import { z } from 'zod'
import { FrameStream } from './frames.ts'
import { ErrorCodes, FRAME_BYTES } from './messages.ts'

export const BLOB_PROTOCOL = '/swarm/blob/1.0.0'

/** Where a peer keeps job files (the scheduler's JobFiles): all the blob server needs of it. */
export interface BlobStore {
  /** The file's path; throws on a name that is not a valid job file name. */
  pathOf: (jobId: string, name: string) => string
  writeBlob: (jobId: string, name: string, data: Uint8Array) => Promise<void>
  readBlob: (jobId: string, name: string) => Promise<Uint8Array>
}
const TIMEOUT_MS = 30_000

const BlobRequestSchema = z.discriminatedUnion('op', [
  z.object({ op: z.literal('put'), jobId: z.string().min(1).max(64), name: z.string().min(1).max(64), bytes: z.number().int().min(0).max(4 * 1024 ** 3), epoch: z.number().int().min(0) }).strict(),
  z.object({ op: z.literal('get'), jobId: z.string().min(1).max(64), name: z.string().min(1).max(64) }).strict(),
  /** The job's output is stored: its input and tile copies may go. */
  z.object({ op: z.literal('drop'), jobId: z.string().min(1).max(64), epoch: z.number().int().min(0) }).strict()
])
const BlobReplySchema = z.object({ ok: z.literal(true), bytes: z.number().int().min(0) }).strict()

/**
 * Serves puts and gets; a put from a master of an older epoch than the one followed is refused. A
 * drop is passed to `onDrop`, which decides (only a job done in this peer's own queue may go).
 */
export async function registerBlobHandler (node: Libp2p, files: BlobStore, epoch: () => number, onDrop: (jobId: string) => Promise<void>): Promise<void> {
  await node.handle(BLOB_PROTOCOL, async (stream) => {
    const fs = new FrameStream(stream, { maxFrameBytes: FRAME_BYTES, readTimeoutMs: TIMEOUT_MS })
    try {
      const req = await fs.readJson(BlobRequestSchema)
      if (req.op === 'drop') {
        if (req.epoch >= epoch()) await onDrop(req.jobId)
        await fs.writeJson({ ok: true, bytes: 0 })
      } else if (req.op === 'put') {
        if (req.epoch < epoch()) {
          await fs.writeError(ErrorCodes.staleEpoch, `put from epoch ${req.epoch}, this peer follows epoch ${epoch()}`)
          await fs.close()
          return
        }
        files.pathOf(req.jobId, req.name) // validates the name before any byte is stored
        const data = await fs.readBinary(req.bytes) as Uint8Array
        await files.writeBlob(req.jobId, req.name, data)
        await fs.writeJson({ ok: true, bytes: data.byteLength })
      } else {
        let data: Uint8Array
        try {
          data = await files.readBlob(req.jobId, req.name)
        } catch {
          await fs.writeError(ErrorCodes.unknownJob, `no ${req.name} of job ${req.jobId} here`)
          await fs.close()
          return
        }
        await fs.writeJson({ ok: true, bytes: data.byteLength })
        await fs.writeBinary(data, FRAME_BYTES)
      }
      await fs.close()
    } catch (err) {
      fs.abort(err as Error)
    }
  }, { maxInboundStreams: 64 })
}

/** One request on a fresh stream: the request (and its bytes), then whatever `read` takes of the reply. */
async function call<T> (node: Libp2p, peer: PeerId, req: object, body: Uint8Array | undefined, read: (fs: FrameStream) => Promise<T>): Promise<T> {
  const stream = await node.dialProtocol(peer, BLOB_PROTOCOL, { signal: AbortSignal.timeout(TIMEOUT_MS) })
  const fs = new FrameStream(stream, { maxFrameBytes: FRAME_BYTES, readTimeoutMs: TIMEOUT_MS })
  try {
    await fs.writeJson(req)
    if (body != null) await fs.writeBinary(body, FRAME_BYTES)
    const out = await read(fs)
    await fs.close()
    return out
  } catch (err) {
    fs.abort(err as Error)
    throw err
  }
}

export async function putBlob (node: Libp2p, peer: PeerId, jobId: string, name: string, data: Uint8Array, epoch: number): Promise<void> {
  await call(node, peer, { op: 'put', jobId, name, bytes: data.byteLength, epoch }, data, async fs => { await fs.readJson(BlobReplySchema) })
}

export async function dropBlobs (node: Libp2p, peer: PeerId, jobId: string, epoch: number): Promise<void> {
  await call(node, peer, { op: 'drop', jobId, epoch }, undefined, async fs => { await fs.readJson(BlobReplySchema) })
}

export async function getBlob (node: Libp2p, peer: PeerId, jobId: string, name: string): Promise<Uint8Array> {
  return await call(node, peer, { op: 'get', jobId, name }, undefined, async fs => {
    const { bytes } = await fs.readJson(BlobReplySchema)
    return await fs.readBinary(bytes) as Uint8Array
  })
}
