// `/swarm/handover/1.0.0`: after a partition heals, the master that lost (and any follower that
// replicated it) gives the winner the jobs the winner does not know, with their inputs. The winner
// queues them under the same job id, so clients following a job find it again; results are
// deterministic, so a job run on both sides is harmless.
import type { Libp2p, PeerId } from '@libp2p/interface'
import { z } from 'zod'
import { FrameStream } from '../transfer/frames.ts'
import { FRAME_BYTES } from '../transfer/messages.ts'
import type { JobMeta } from './master.ts'

export const HANDOVER_PROTOCOL = '/swarm/handover/1.0.0'

export const HandoverRequestSchema = z.object({
  jobId: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/),
  meta: z.unknown(),
  bytes: z.number().int().min(1).max(8 * 1024 ** 3)
}).strict()
export type HandoverRequest = z.infer<typeof HandoverRequestSchema>
const HandoverReplySchema = z.object({ ok: z.literal(true), known: z.boolean() }).strict()

export async function handOver (node: Libp2p, master: PeerId, jobId: string, meta: JobMeta, input: Uint8Array): Promise<boolean> {
  const stream = await node.dialProtocol(master, HANDOVER_PROTOCOL, { signal: AbortSignal.timeout(30_000) })
  const fs = new FrameStream(stream, { maxFrameBytes: FRAME_BYTES, readTimeoutMs: 60_000 })
  try {
    await fs.writeJson({ jobId, meta, bytes: input.byteLength })
    await fs.writeBinary(input, FRAME_BYTES)
    const reply = await fs.readJson(HandoverReplySchema)
    await fs.close()
    return !reply.known
  } catch (err) {
    fs.abort(err as Error)
    throw err
  }
}
