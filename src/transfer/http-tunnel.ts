// `/swarm/http/1.0.0`: one HTTP request carried to another peer over a libp2p stream, and its response
// back, streamed both ways. A dashboard on any peer answers the master's part of its API (jobs, their
// tiles, results, live job events) by sending the browser's request to the master this way, so every
// peer serves the whole swarm's view without the master's address being reachable, or known, by HTTP.
//
// Wire: client -> { method, path, headers } (JSON), the body as binary frames, { end: true };
//       server -> { status, headers } (JSON), the body as binary frames, { end: true }.
// A stream that ends before `end` is a broken response, never a short one taken as whole.
// Both halves are here: tunnelFetch (the client's) and HttpTunnelService (every peer runs one).
import type { Libp2p, PeerId } from '@libp2p/interface'
import { z } from 'zod'
import { systemClock, timeoutSignal, type Clock } from './clock.ts'
import { MalformedFrameError, StreamEndedError } from './errors.ts'
import { FrameStream } from './frames.ts'
import { FRAME_BYTES } from './messages.ts'

export const HTTP_TUNNEL_PROTOCOL = '/swarm/http/1.0.0'

/**
 * Requests a master serves at once: each open dashboard tab holds one for its live job events, the rest
 * are short; a lab's or a classroom's browsers fit, and a flood is refused by libp2p, not queued.
 */
export const TUNNEL_MAX_INBOUND_STREAMS = 128
/** Dashboards dial the master; one peer's tabs share its limit. */
export const TUNNEL_MAX_OUTBOUND_STREAMS = 128
/** The longest wait for the next frame either way: event streams send a comment at least every 15 s. */
export const TUNNEL_READ_TIMEOUT_MS = 60_000
/** The longest wait to open the stream to the master. */
export const TUNNEL_DIAL_TIMEOUT_MS = 10_000
/** Only these request headers cross: the rest (cookies, the token) stay on the peer that checked them. */
const REQUEST_HEADERS = ['accept', 'content-type', 'content-length', 'last-event-id', 'x-swarm-dashboard']
const MAX_HEADERS = 32

const HeadersSchema = z.array(z.tuple([z.string().max(256), z.string().max(8192)])).max(MAX_HEADERS)
const RequestHeadSchema = z.object({
  method: z.enum(['GET', 'HEAD', 'POST', 'PUT', 'DELETE']),
  path: z.string().startsWith('/').max(8192),
  headers: HeadersSchema
}).strict()
const ResponseHeadSchema = z.object({ status: z.number().int().min(100).max(599), headers: HeadersSchema }).strict()
const EndSchema = z.object({ end: z.literal(true) }).strict()

export interface TunnelOptions {
  clock?: Clock
  /** Aborts the request and its response's body (the browser went away). */
  signal?: AbortSignal
}

/** Sends `request` to `peer`'s tunnel and resolves with its response, whose body streams as it comes. */
export async function tunnelFetch (node: Pick<Libp2p, 'dialProtocol'>, peer: PeerId, request: Request, opts: TunnelOptions = {}): Promise<Response> {
  const clock = opts.clock ?? systemClock
  const dial = timeoutSignal(clock, TUNNEL_DIAL_TIMEOUT_MS)
  const signal = opts.signal == null ? dial.signal : AbortSignal.any([dial.signal, opts.signal])
  let fs: FrameStream
  try {
    const stream = await node.dialProtocol(peer, HTTP_TUNNEL_PROTOCOL, { signal })
    fs = new FrameStream(stream, { maxFrameBytes: FRAME_BYTES, readTimeoutMs: TUNNEL_READ_TIMEOUT_MS, clock })
  } finally {
    dial.cancel()
  }
  const onAbort = (): void => { fs.abort(new Error('the request was abandoned')) }
  opts.signal?.addEventListener('abort', onAbort, { once: true })
  try {
    const url = new URL(request.url)
    const headers = REQUEST_HEADERS.flatMap(h => { const v = request.headers.get(h); return v == null ? [] : [[h, v] as [string, string]] })
    await fs.writeJson({ method: request.method, path: url.pathname + url.search, headers })
    // The body goes while the head is awaited: a master may answer before reading all of it (a refusal).
    const sending = sendBody(fs, request.body)
    sending.catch(() => {}) // its failure is the stream's, which the read below sees too
    const head = await fs.readJson(ResponseHeadSchema)
    if (head.status === 204 || head.status === 304) {
      // No body may come with these: the end mark is read here and the stream closed, not left open.
      await fs.readJson(EndSchema)
      opts.signal?.removeEventListener('abort', onAbort)
      await fs.close()
      return new Response(null, { status: head.status, headers: head.headers })
    }
    const body = bodyOf(fs, () => { opts.signal?.removeEventListener('abort', onAbort) })
    return new Response(body, { status: head.status, headers: head.headers })
  } catch (err) {
    opts.signal?.removeEventListener('abort', onAbort)
    fs.abort(err as Error)
    throw err
  }
}

async function sendBody (fs: FrameStream, body: ReadableStream<Uint8Array> | null): Promise<void> {
  if (body != null) {
    for await (const chunk of body) await fs.writeBinary(chunk, FRAME_BYTES)
  }
  await fs.writeJson({ end: true })
}

/** The frames after a head, as a body stream: binary frames until `end`; anything else is an error. */
function bodyOf (fs: FrameStream, done: () => void): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    pull: async (controller) => {
      try {
        const f = await fs.read()
        if (f == null) throw new StreamEndedError('the tunnelled response ended before its end mark')
        if (f.kind === 'binary') { controller.enqueue(f.payload); return }
        EndSchema.parse(JSON.parse(new TextDecoder().decode(f.payload)))
        done()
        controller.close()
        await fs.close()
      } catch (err) {
        done()
        fs.abort(err as Error)
        controller.error(err)
      }
    },
    cancel: (reason) => {
      done()
      fs.abort(reason instanceof Error ? reason : new Error('the response was abandoned'))
    }
  }, { highWaterMark: 0 })
}

export interface HttpTunnelComponents {
  libp2p: Pick<Libp2p, 'handle' | 'unhandle'>
}

export interface HttpTunnelInit {
  /** Answers a request that came through the tunnel (a fetch handler: the master's part of the API). */
  fetch: (request: Request) => Promise<Response>
  clock?: Clock
}

export class HttpTunnelService {
  readonly #components: HttpTunnelComponents
  readonly #init: HttpTunnelInit
  #started = false

  constructor (components: HttpTunnelComponents, init: HttpTunnelInit) {
    this.#components = components
    this.#init = init
  }

  async start (): Promise<void> {
    if (this.#started) return
    const clock = this.#init.clock ?? systemClock
    await this.#components.libp2p.handle(HTTP_TUNNEL_PROTOCOL, async (stream) => {
      const fs = new FrameStream(stream, { maxFrameBytes: FRAME_BYTES, readTimeoutMs: TUNNEL_READ_TIMEOUT_MS, clock })
      let response: Response | undefined
      try {
        const head = await fs.readJson(RequestHeadSchema)
        const hasBody = head.method === 'POST' || head.method === 'PUT'
        const body = hasBody ? requestBodyOf(fs) : undefined
        const request = new Request(`http://swarm.tunnel${head.path}`, {
          method: head.method,
          headers: head.headers,
          ...(body != null ? { body: body.stream, duplex: 'half' } : {})
        } as RequestInit)
        if (!hasBody) await fs.readJson(EndSchema)
        response = await this.#init.fetch(request)
        await fs.writeJson({ status: response.status, headers: [...response.headers].slice(0, MAX_HEADERS) })
        if (response.body != null) {
          // A quiet event stream would hear that its browser left only at its next write: the stream's
          // close (the asking peer aborted) cancels it at once, so it unsubscribes from the master's events.
          const reader = response.body.getReader()
          const onClose = (): void => { void reader.cancel().catch(() => {}) }
          stream.addEventListener('close', onClose)
          try {
            for (;;) {
              const { value, done } = await reader.read()
              if (done) break
              await fs.writeBinary(value, FRAME_BYTES)
            }
          } finally {
            stream.removeEventListener('close', onClose)
          }
        }
        await fs.writeJson({ end: true })
        // What the handler did not read of the body (it refused early) is read here, or the client's
        // sending would stall on a full window and its stream never close.
        if (body != null && !body.ended()) await drain(fs)
        await fs.close()
      } catch (err) {
        fs.abort(err as Error)
      }
    }, { maxInboundStreams: TUNNEL_MAX_INBOUND_STREAMS, maxOutboundStreams: TUNNEL_MAX_OUTBOUND_STREAMS })
    this.#started = true
  }

  async stop (): Promise<void> {
    if (!this.#started) return
    await this.#components.libp2p.unhandle(HTTP_TUNNEL_PROTOCOL)
    this.#started = false
  }
}

/** Reads and drops frames up to the request's end mark. */
async function drain (fs: FrameStream): Promise<void> {
  for (;;) {
    const f = await fs.read()
    if (f == null || f.kind === 'json') return
  }
}

/** A request's body as it arrives: binary frames until `end`. */
function requestBodyOf (fs: FrameStream): { stream: ReadableStream<Uint8Array>, ended: () => boolean } {
  let ended = false
  const stream = new ReadableStream<Uint8Array>({
    pull: async (controller) => {
      if (ended) return
      const f = await fs.read()
      if (f == null) { controller.error(new StreamEndedError('the tunnelled request ended before its end mark')); return }
      if (f.kind === 'binary') { controller.enqueue(f.payload); return }
      if (!EndSchema.safeParse(JSON.parse(new TextDecoder().decode(f.payload))).success) {
        controller.error(new MalformedFrameError('a tunnelled request body holds a JSON frame that is not its end'))
        return
      }
      ended = true
      controller.close()
    }
  }, { highWaterMark: 0 })
  return { stream, ended: () => ended }
}

export function httpTunnel (init: HttpTunnelInit): (components: HttpTunnelComponents) => HttpTunnelService {
  return (components) => new HttpTunnelService(components, init)
}
