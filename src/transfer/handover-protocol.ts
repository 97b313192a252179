// `/swarm/handover/1.0.0`: after a partition heals, the master that lost (and any follower that
// replicated it) gives the winner the jobs the winner does not know, with their inputs. The winner
// queues them under the same job id, so clients following a job find it again; results are
// deterministic, so a job run on both sides is harmless.
//
// Both halves are here: handOver (the giver) and HandoverService (every peer runs one). Whether a job
// is taken, and how it is queued, is the master's (src/scheduler/job-service.ts), passed in as a
// HandoverHandler.
import type { Libp2p, PeerId } from '@libp2p/interface'
import { z } from 'zod'
import { systemClock, timeoutSignal, type Clock } from './clock.ts'
import { FrameStream } from './frames.ts'
import { JobRefusal } from './job-protocol.ts'
import { ErrorCodes, FRAME_BYTES } from './messages.ts'

export const HANDOVER_PROTOCOL = '/swarm/handover/1.0.0'

/** Hand-overs at once: they come after a partition heals, one stream per job the winner lacks, from a few peers. */
export const HANDOVER_MAX_INBOUND_STREAMS = 16
/** The giver sends its jobs one after another. */
export const HANDOVER_MAX_OUTBOUND_STREAMS = 4
/** An input travels in frames of the swarm's size. */
export const HANDOVER_MAX_FRAME_BYTES = FRAME_BYTES
/** The largest input a handover may announce: the submit limit's ceiling (a job's input is read as it arrives, never held whole). */
export const HANDOVER_MAX_INPUT_BYTES = 8 * 1024 ** 3
/** The server's longest wait for the giver's next frame. */
export const HANDOVER_READ_TIMEOUT_MS = 30_000
/** The giver's longest wait for the answer: the winner decodes the input and copies it to a standby first. */
export const HANDOVER_REPLY_TIMEOUT_MS = 60_000
/** Opening the stream: a healed link is up, so this is generous. */
export const HANDOVER_DIAL_TIMEOUT_MS = 30_000

export const HandoverRequestSchema = z.object({
  jobId: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/),
  /** the job's meta as the giver's queue kept it (checked by the taker) */
  meta: z.unknown(),
  bytes: z.number().int().min(1).max(HANDOVER_MAX_INPUT_BYTES)
}).strict()
export type HandoverRequest = z.infer<typeof HandoverRequestSchema>
const HandoverReplySchema = z.object({ ok: z.literal(true), known: z.boolean() }).strict()

/** The input of a handed-over job, read from the stream as it arrives. */
export interface HandoverInput {
  /** Passes every chunk to `sink`, in order. */
  read: (sink: (chunk: Uint8Array) => Promise<void> | void) => Promise<void>
}

export interface HandoverHandler {
  /** Whether this peer acts as master now (a peer that does not answers not-master). */
  serving: () => boolean
  /** The master this peer follows, for the not-master answer. */
  masterId: () => string | null
  /**
   * Takes a job over: 'known' when this master has it already (the input must still be read), else
   * stores the input and queues the job. Throws JobRefusal to answer with its code (the giver keeps
   * the job and tries again).
   */
  take: (req: HandoverRequest, input: HandoverInput) => Promise<'known' | 'taken'>
}

/** Gives a job to `master`; resolves true when it was taken, false when that master knew it already. */
export async function handOver (node: Pick<Libp2p, 'dialProtocol'>, master: PeerId, jobId: string, meta: unknown, input: Uint8Array, clock: Clock = systemClock): Promise<boolean> {
  const dial = timeoutSignal(clock, HANDOVER_DIAL_TIMEOUT_MS)
  const stream = await node.dialProtocol(master, HANDOVER_PROTOCOL, { signal: dial.signal }).finally(dial.cancel)
  const fs = new FrameStream(stream, { maxFrameBytes: HANDOVER_MAX_FRAME_BYTES, readTimeoutMs: HANDOVER_REPLY_TIMEOUT_MS, clock })
  try {
    await fs.writeJson({ jobId, meta, bytes: input.byteLength })
    await fs.writeBinary(input, HANDOVER_MAX_FRAME_BYTES)
    const reply = await fs.readJson(HandoverReplySchema)
    await fs.close()
    return !reply.known
  } catch (err) {
    fs.abort(err as Error)
    throw err
  }
}

export class HandoverService {
  private readonly libp2p: Pick<Libp2p, 'handle' | 'unhandle'>
  private readonly handler: HandoverHandler
  private readonly clock: Clock
  private started = false

  constructor (components: { libp2p: Pick<Libp2p, 'handle' | 'unhandle'> }, init: { handler: HandoverHandler, clock?: Clock }) {
    this.libp2p = components.libp2p
    this.handler = init.handler
    this.clock = init.clock ?? systemClock
  }

  async start (): Promise<void> {
    if (this.started) return
    await this.libp2p.handle(HANDOVER_PROTOCOL, async (stream) => {
      const fs = new FrameStream(stream, { maxFrameBytes: HANDOVER_MAX_FRAME_BYTES, readTimeoutMs: HANDOVER_READ_TIMEOUT_MS, clock: this.clock })
      try {
        await this.serve(fs)
      } catch (err) {
        fs.abort(err as Error)
      }
    }, { maxInboundStreams: HANDOVER_MAX_INBOUND_STREAMS, maxOutboundStreams: HANDOVER_MAX_OUTBOUND_STREAMS })
    this.started = true
  }

  async stop (): Promise<void> {
    if (!this.started) return
    await this.libp2p.unhandle(HANDOVER_PROTOCOL)
    this.started = false
  }

  private async serve (fs: FrameStream): Promise<void> {
    if (!this.handler.serving()) {
      await fs.writeError(ErrorCodes.notMaster, this.handler.masterId() ?? '')
      await fs.close()
      return
    }
    const req = await fs.readJson(HandoverRequestSchema)
    let read = false
    const input: HandoverInput = {
      read: async (sink) => {
        read = true
        await fs.readBinary(req.bytes, sink)
      }
    }
    try {
      const outcome = await this.handler.take(req, input)
      if (!read) await input.read(() => {})
      await fs.writeJson({ ok: true, known: outcome === 'known' })
    } catch (err) {
      if (!(err instanceof JobRefusal)) throw err
      await fs.writeError(err.code, err.message)
    }
    await fs.close()
  }
}
