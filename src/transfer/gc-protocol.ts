// `/swarm/gc/1.0.0`: runs a peer's disk clean-up now (retention and --max-disk, as its timer would) and says
// what it removed. `swarm gc` asks the peer it reached with `all`; that peer runs its own and asks every
// other live peer it knows (without `all`, so nothing is relayed twice), and answers with every report.
import type { Libp2p, PeerId, Stream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { z } from 'zod'
import { systemClock, timeoutSignal, type Clock } from './clock.ts'
import { FrameStream } from './frames.ts'

export const GC_PROTOCOL = '/swarm/gc/1.0.0'
/** A gc is a person's, now and then, or a script's: a few at once is plenty. */
export const GC_MAX_INBOUND_STREAMS = 4
/** A pass walks the data dir: seconds on a large one on a Pi; the relaying peer waits for its peers' too. */
export const GC_TIMEOUT_MS = 60_000
/** Removals one report lists (a frame's worth); the bytes freed count them all. */
export const MAX_GC_LISTED = 2000
const MAX_FRAME_BYTES = 1024 * 1024

export const GcRequestSchema = z.object({ all: z.boolean() }).strict()
export type GcRequest = z.infer<typeof GcRequestSchema>

const id = z.string().min(1).max(128)
export const GcPeerReportSchema = z.object({
  peerId: id,
  removed: z.array(z.object({ jobId: id, reason: z.enum(['retired', 'retention', 'cap']), bytes: z.number().min(0) }).strict()).max(MAX_GC_LISTED),
  freedBytes: z.number().min(0),
  usedBytes: z.number().min(0),
  maxDiskBytes: z.number().min(0).optional(),
  overCap: z.string().max(1000).optional(),
  /** The peer could not be asked, or its pass failed. */
  error: z.string().max(1000).optional()
}).strict()
export type GcPeerReport = z.infer<typeof GcPeerReportSchema>
export const GcReplySchema = z.object({ peers: z.array(GcPeerReportSchema).max(4096) }).strict()
export type GcReply = z.infer<typeof GcReplySchema>

export interface GcHandler {
  /** This peer's pass, now. */
  gc: () => Promise<Omit<GcPeerReport, 'peerId'>>
  /** The other live peers, to relay to when asked for all. */
  others: () => PeerId[]
  self: string
}

export async function requestGc (node: Pick<Libp2p, 'dialProtocol'>, target: PeerId | Multiaddr, req: GcRequest, clock: Clock = systemClock, timeoutMs = GC_TIMEOUT_MS): Promise<GcReply> {
  const timeout = timeoutSignal(clock, timeoutMs)
  try {
    const stream = await node.dialProtocol(target, GC_PROTOCOL, { signal: timeout.signal })
    const fs = new FrameStream(stream, { maxFrameBytes: MAX_FRAME_BYTES, readTimeoutMs: timeoutMs, clock })
    try {
      await fs.writeJson(req)
      const reply = await fs.readJson(GcReplySchema)
      await fs.close()
      return reply
    } catch (err) {
      fs.abort(err as Error)
      throw err
    }
  } finally {
    timeout.cancel()
  }
}

export class GcService {
  readonly #libp2p: Pick<Libp2p, 'handle' | 'unhandle' | 'dialProtocol'>
  readonly #handler: GcHandler
  readonly #clock: Clock
  #started = false

  constructor (components: { libp2p: Pick<Libp2p, 'handle' | 'unhandle' | 'dialProtocol'> }, init: { handler: GcHandler, clock?: Clock }) {
    this.#libp2p = components.libp2p
    this.#handler = init.handler
    this.#clock = init.clock ?? systemClock
  }

  async start (): Promise<void> {
    if (this.#started) return
    await this.#libp2p.handle(GC_PROTOCOL, async (stream: Stream) => { await this.#serve(stream) }, { maxInboundStreams: GC_MAX_INBOUND_STREAMS })
    this.#started = true
  }

  async stop (): Promise<void> {
    if (!this.#started) return
    await this.#libp2p.unhandle(GC_PROTOCOL)
    this.#started = false
  }

  /** This peer's report, and with `all` every other live peer's (asked at once; one that fails says why). */
  async run (req: GcRequest): Promise<GcReply> {
    const own = async (): Promise<GcPeerReport> => {
      try {
        const r = await this.#handler.gc()
        return { ...r, peerId: this.#handler.self, removed: r.removed.slice(0, MAX_GC_LISTED) }
      } catch (err) {
        return { peerId: this.#handler.self, removed: [], freedBytes: 0, usedBytes: 0, error: (err as Error).message }
      }
    }
    const relayed = async (peer: PeerId): Promise<GcPeerReport[]> => {
      try {
        return (await requestGc(this.#libp2p, peer, { all: false }, this.#clock)).peers.filter(p => p.peerId === peer.toString())
      } catch (err) {
        return [{ peerId: peer.toString(), removed: [], freedBytes: 0, usedBytes: 0, error: (err as Error).message }]
      }
    }
    const others = req.all ? this.#handler.others() : []
    const [mine, ...theirs] = await Promise.all([own(), ...others.map(relayed)])
    return { peers: [mine, ...theirs.flat()] }
  }

  async #serve (stream: Stream): Promise<void> {
    const fs = new FrameStream(stream, { maxFrameBytes: MAX_FRAME_BYTES, readTimeoutMs: GC_TIMEOUT_MS, clock: this.#clock })
    try {
      const req = await fs.readJson(GcRequestSchema)
      await fs.writeJson(await this.run(req))
      await fs.close()
    } catch (err) {
      fs.abort(err as Error)
    }
  }
}
