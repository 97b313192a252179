// `/swarm/http/1.0.0` between two real libp2p nodes on 127.0.0.1: what of a request crosses (method, path,
// query, the whitelisted headers, the body streamed), what comes back (status, headers, a streamed body),
// refusals that do not read the body, event streams chunk by chunk and their cancellation, and the broken
// cases (unhandled protocol, a response without its end mark).
import { createHash } from 'node:crypto'
import type { Libp2p, PeerId } from '@libp2p/interface'
import { afterEach, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { StreamEndedError } from '../../src/transfer/errors.ts'
import { FrameStream } from '../../src/transfer/frames.ts'
import { HTTP_TUNNEL_PROTOCOL, HttpTunnelService, tunnelFetch } from '../../src/transfer/http-tunnel.ts'
import { FRAME_BYTES } from '../../src/transfer/messages.ts'
import { bytes, MiB, Nodes, settle, sleep, within } from './helpers.ts'

const nodes = new Nodes()
const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await Promise.resolve().then(c).catch(() => {})
  await nodes.stopAll()
})

const enc = (s: string): Uint8Array => new TextEncoder().encode(s)
const dec = (b: Uint8Array | undefined): string => new TextDecoder().decode(b)
const sha = (b: Uint8Array | ArrayBuffer): string => createHash('sha256').update(new Uint8Array(b)).digest('hex')

/** A client node connected to a server node that runs an HttpTunnelService answering with `fetch`. */
async function tunnel (fetch: (request: Request) => Promise<Response>): Promise<{ client: Libp2p, server: Libp2p, service: HttpTunnelService }> {
  const [client, server] = [await nodes.start(), await nodes.start()]
  await client.dial(server.getMultiaddrs()[0])
  const service = new HttpTunnelService({ libp2p: server }, { fetch })
  await service.start()
  cleanups.push(async () => { await service.stop() })
  return { client, server, service }
}

/** The tunnel streams a node has open (on any connection). */
const tunnelStreams = (node: Libp2p): number =>
  node.getConnections().flatMap(c => c.streams).filter(s => s.protocol === HTTP_TUNNEL_PROTOCOL).length

/** Polls `cond` every 20 ms; throws if it does not hold within `ms`. */
async function until (cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms
  while (!cond()) {
    if (Date.now() >= deadline) throw new Error(`${what}: not within ${ms} ms`)
    await sleep(20)
  }
}

/** Settles within `ms` or fails the test (a hang is a failure, not a timeout of the whole test). */
async function bounded<T> (p: Promise<T>, what: string, ms = 10_000): Promise<T> {
  const r = await within(p, ms)
  if (r === 'pending') throw new Error(`${what}: still pending after ${ms} ms`)
  return r
}

/** Reads the whole body, chunk by chunk, within `ms`. */
async function readAll (res: Response, ms = 20_000): Promise<Uint8Array> {
  return new Uint8Array(await bounded(res.arrayBuffer(), 'reading the body', ms))
}

const fetchVia = async (client: Libp2p, peer: PeerId, request: Request, signal?: AbortSignal): Promise<Response> =>
  await bounded(tunnelFetch(client, peer, request, { signal }), 'tunnelFetch')

describe('http tunnel: the request', () => {
  it('a GET reaches the handler with its method, path, query and the whitelisted headers only', async () => {
    const seen: Request[] = []
    const { client, server } = await tunnel(async (request) => {
      seen.push(request)
      return Response.json({ ok: true })
    })
    const res = await fetchVia(client, server.peerId, new Request('http://127.0.0.1:7070/api/jobs/j1/tiles?from=3&state=done%20now', {
      headers: {
        accept: 'text/event-stream',
        'content-type': 'application/json',
        'last-event-id': '42',
        cookie: 'swarm_session=secret-session',
        authorization: 'Bearer secret-token',
        'x-forwarded-for': '10.0.0.9',
        origin: 'http://127.0.0.1:7070'
      }
    }))
    expect(res.status).toBe(200)
    expect(await bounded(res.json(), 'json body')).toEqual({ ok: true })
    expect(seen).toHaveLength(1)
    const req = seen[0]
    const url = new URL(req.url)
    expect(req.method).toBe('GET')
    expect(url.pathname).toBe('/api/jobs/j1/tiles')
    expect(url.search).toBe('?from=3&state=done%20now')
    expect(url.searchParams.get('state')).toBe('done now')
    expect(req.headers.get('accept')).toBe('text/event-stream')
    expect(req.headers.get('content-type')).toBe('application/json')
    expect(req.headers.get('last-event-id')).toBe('42')
    expect(req.headers.get('cookie')).toBeNull()
    expect(req.headers.get('authorization')).toBeNull()
    expect(req.headers.get('x-forwarded-for')).toBeNull()
    expect(req.headers.get('origin')).toBeNull()
    // Nothing of the secrets is anywhere in what the handler got.
    expect(JSON.stringify([...req.headers])).not.toMatch(/secret/)
  })

  it('a POST body of several MiB streams to the handler intact', async () => {
    const data = bytes(5 * MiB + 12_345, 3)
    const got: Array<{ bytes: number, sha: string, method: string, type: string | null }> = []
    const { client, server } = await tunnel(async (request) => {
      const body = new Uint8Array(await request.arrayBuffer())
      got.push({ bytes: body.byteLength, sha: sha(body), method: request.method, type: request.headers.get('content-type') })
      return Response.json({ sha: sha(body) }, { status: 202 })
    })
    const res = await fetchVia(client, server.peerId, new Request('http://x/api/jobs', {
      method: 'POST', body: data, headers: { 'content-type': 'application/octet-stream' }
    }))
    expect(res.status).toBe(202)
    expect(await bounded(res.json(), 'json body')).toEqual({ sha: sha(data) })
    expect(got).toEqual([{ bytes: data.byteLength, sha: sha(data), method: 'POST', type: 'application/octet-stream' }])
  })

  it('a POST body sent as a stream of odd-sized chunks arrives intact, in order', async () => {
    const data = bytes(3 * MiB + 7, 11)
    const sizes = [1, 300_000, FRAME_BYTES + 1, 17, 2 * FRAME_BYTES] // more than the data: the last is cut
    const body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        let off = 0
        for (const n of sizes) {
          if (off >= data.byteLength) break
          controller.enqueue(data.slice(off, off + n))
          off += n
        }
        controller.close()
      }
    })
    let hash: string | undefined
    const { client, server } = await tunnel(async (request) => {
      hash = sha(await request.arrayBuffer())
      return new Response('ok')
    })
    const res = await fetchVia(client, server.peerId, new Request('http://x/api/jobs', { method: 'PUT', body, duplex: 'half' } as RequestInit))
    expect(res.status).toBe(200)
    expect(dec(await readAll(res))).toBe('ok')
    expect(hash).toBe(sha(data))
  })

  it('a handler that answers 413 without reading a large POST body: the client gets the 413 and nothing hangs', async () => {
    const data = bytes(12 * MiB, 5) // more than yamux's window and both FrameStreams' high-water marks
    let calls = 0
    const { client, server } = await tunnel(async () => {
      calls++
      return Response.json({ error: { message: 'too large', field: 'image' } }, { status: 413 })
    })
    const res = await fetchVia(client, server.peerId, new Request('http://x/api/jobs', { method: 'POST', body: data }))
    expect(res.status).toBe(413)
    expect(await bounded(res.json(), '413 body', 20_000)).toEqual({ error: { message: 'too large', field: 'image' } })
    expect(calls).toBe(1)
    // The stream ends on both sides: the rest of the body was drained (or the client stopped sending).
    await until(() => tunnelStreams(client) === 0 && tunnelStreams(server) === 0, 'the tunnel stream closes on both sides', 20_000)
    // And the tunnel still answers.
    const again = await fetchVia(client, server.peerId, new Request('http://x/api/jobs', { method: 'POST', body: 'small' }))
    expect(again.status).toBe(413)
    await readAll(again)
  })

  it('a handler that throws: tunnelFetch rejects, promptly', async () => {
    const { client, server } = await tunnel(async () => { throw new Error('handler broke') })
    const r = await bounded(settle(tunnelFetch(client, server.peerId, new Request('http://x/api/jobs'))), 'tunnelFetch')
    expect(r.error).toBeInstanceOf(Error)
    await until(() => tunnelStreams(client) === 0 && tunnelStreams(server) === 0, 'the tunnel stream closes on both sides')
  })

  it('a method outside the tunnel\'s (PATCH) is refused: tunnelFetch rejects and the handler is not called', async () => {
    let calls = 0
    const { client, server } = await tunnel(async () => { calls++; return new Response('no') })
    const r = await bounded(settle(tunnelFetch(client, server.peerId, new Request('http://x/api/jobs/j1', { method: 'PATCH', body: '{}' }))), 'tunnelFetch')
    expect(r.error).toBeInstanceOf(Error)
    expect(calls).toBe(0)
  })
})

describe('http tunnel: the response', () => {
  it('status, headers and a body larger than a frame (3 MiB) arrive intact; the stream then closes on both sides', async () => {
    const data = bytes(3 * MiB + 5, 7)
    const { client, server } = await tunnel(async () => new Response(data, {
      status: 201,
      headers: { 'content-type': 'image/png', 'x-job': 'j1', 'cache-control': 'no-cache' }
    }))
    const res = await fetchVia(client, server.peerId, new Request('http://x/api/jobs/j1/result'))
    expect(res.status).toBe(201)
    expect(res.headers.get('content-type')).toBe('image/png')
    expect(res.headers.get('x-job')).toBe('j1')
    expect(res.headers.get('cache-control')).toBe('no-cache')
    const body = await readAll(res)
    expect(body.byteLength).toBe(data.byteLength)
    expect(sha(body)).toBe(sha(data))
    await until(() => tunnelStreams(client) === 0 && tunnelStreams(server) === 0, 'the tunnel stream closes on both sides')
  })

  it('a 204 (no body) leaves no tunnel stream open on either side', async () => {
    const { client, server } = await tunnel(async () => new Response(null, { status: 204 }))
    const res = await fetchVia(client, server.peerId, new Request('http://x/api/jobs/j1', { method: 'DELETE' }))
    expect(res.status).toBe(204)
    expect(res.body).toBeNull()
    // The client never reads a 204's body, so nothing reads the server's end mark: each 204 would keep one
    // of TUNNEL_MAX_OUTBOUND_STREAMS (128) for ever.
    await until(() => tunnelStreams(client) === 0 && tunnelStreams(server) === 0, 'the tunnel stream of a 204 closes on both sides')
  })

  it('a streaming response (server-sent events) arrives chunk by chunk before the handler ends it', async () => {
    let controller: ReadableStreamDefaultController<Uint8Array> | undefined
    let handlerClosed = false
    const { client, server } = await tunnel(async () => new Response(new ReadableStream<Uint8Array>({
      start: (c) => {
        controller = c
        c.enqueue(enc('retry: 1000\n\n'))
      }
    }), { headers: { 'content-type': 'text/event-stream' } }))
    cleanups.push(() => { if (!handlerClosed) { try { controller?.close() } catch {} } })
    const res = await fetchVia(client, server.peerId, new Request('http://x/api/events', { headers: { accept: 'text/event-stream' } }))
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('text/event-stream')
    const reader = res.body!.getReader()
    const first = await bounded(reader.read(), 'the first chunk', 5000)
    expect(first.done).toBe(false)
    expect(dec(first.value)).toBe('retry: 1000\n\n')
    expect(handlerClosed).toBe(false)
    // The next read waits for the handler's next event: nothing is pending before it is sent.
    const second = reader.read()
    expect(await within(second, 200)).toBe('pending')
    controller!.enqueue(enc('event: job\ndata: {"id":"j1"}\n\n'))
    const got = await bounded(second, 'the second chunk', 5000)
    expect(dec(got.value)).toBe('event: job\ndata: {"id":"j1"}\n\n')
    handlerClosed = true
    controller!.close()
    const end = await bounded(reader.read(), 'the end', 5000)
    expect(end.done).toBe(true)
    await until(() => tunnelStreams(client) === 0 && tunnelStreams(server) === 0, 'the tunnel stream closes on both sides')
  })

  /** A handler whose event stream sends its first chunk, then one every `everyMs` (never if undefined). */
  function eventHandler (everyMs: number | undefined): { fetch: () => Promise<Response>, cancelled: Promise<unknown>, wasCancelled: () => boolean } {
    let resolveCancelled!: (reason: unknown) => void
    let wasCancelled = false
    const cancelled = new Promise<unknown>(resolve => { resolveCancelled = resolve })
    let timer: NodeJS.Timeout | undefined
    cleanups.push(() => { clearInterval(timer) })
    const fetch = async (): Promise<Response> => new Response(new ReadableStream<Uint8Array>({
      start: (c) => {
        c.enqueue(enc('retry: 1000\n\n'))
        if (everyMs != null) {
          let n = 0
          timer = setInterval(() => {
            // Bounded: a stream never cancelled stops after 10 s of keepalives.
            if (++n > 10_000 / everyMs) { clearInterval(timer); return }
            try { c.enqueue(enc(': keepalive\n\n')) } catch { clearInterval(timer) }
          }, everyMs)
        }
      },
      cancel: (reason) => {
        clearInterval(timer)
        wasCancelled = true
        resolveCancelled(reason)
      }
    }), { headers: { 'content-type': 'text/event-stream' } })
    return { fetch, cancelled, wasCancelled: () => wasCancelled }
  }

  /** Opens the event stream, reads its first chunk, aborts the signal; the body then fails on the client. */
  async function openAndAbort (client: Libp2p, server: Libp2p): Promise<void> {
    const ac = new AbortController()
    const res = await fetchVia(client, server.peerId, new Request('http://x/api/events', { headers: { accept: 'text/event-stream' } }), ac.signal)
    const reader = res.body!.getReader()
    const first = await bounded(reader.read(), 'the first chunk', 5000)
    expect(dec(first.value)).toBe('retry: 1000\n\n')
    ac.abort()
    // The client's body errors (after at most what was already buffered).
    let failed: Error | undefined
    for (let i = 0; i < 1000 && failed == null; i++) {
      const r = await bounded(settle(reader.read()), 'a read after the abort', 5000)
      if (r.error != null) failed = r.error
      else if (r.value?.done === true) break
    }
    expect(failed).toBeInstanceOf(Error)
  }

  it('aborting the client\'s signal mid-stream cancels the handler\'s body (a stream that keeps sending)', async () => {
    const h = eventHandler(50)
    const { client, server } = await tunnel(h.fetch)
    await openAndAbort(client, server)
    await bounded(h.cancelled, 'the handler\'s body is cancelled', 5000)
    expect(h.wasCancelled()).toBe(true)
    await until(() => tunnelStreams(client) === 0 && tunnelStreams(server) === 0, 'the tunnel stream closes on both sides')
  })

  it('aborting the client\'s signal mid-stream cancels the handler\'s body (a quiet stream, nothing sent after the first chunk)', async () => {
    // An event stream of a job with nothing happening: the next write is the keepalive 15 s later.
    const h = eventHandler(undefined)
    const { client, server } = await tunnel(h.fetch)
    await openAndAbort(client, server)
    await bounded(h.cancelled, 'the handler\'s body is cancelled', 5000)
    expect(h.wasCancelled()).toBe(true)
  })
})

describe('http tunnel: broken and stopped', () => {
  it('after stop() the protocol is unhandled: tunnelFetch rejects; start() again serves again', async () => {
    const { client, server, service } = await tunnel(async () => new Response('hello'))
    const ok = await fetchVia(client, server.peerId, new Request('http://x/api/jobs'))
    expect(dec(await readAll(ok))).toBe('hello')
    await service.stop()
    await service.stop() // idempotent
    expect(server.getProtocols()).not.toContain(HTTP_TUNNEL_PROTOCOL)
    const r = await bounded(settle(tunnelFetch(client, server.peerId, new Request('http://x/api/jobs'))), 'tunnelFetch after stop')
    expect(r.error).toBeInstanceOf(Error)
    expect(r.value).toBeUndefined()
    await service.start()
    const back = await fetchVia(client, server.peerId, new Request('http://x/api/jobs'))
    expect(dec(await readAll(back))).toBe('hello')
  })

  it('a server that ends the stream without the end mark: the client\'s body read rejects (never a short body taken as whole)', async () => {
    const [client, server] = [await nodes.start(), await nodes.start()]
    await client.dial(server.getMultiaddrs()[0])
    const served: string[] = []
    await server.handle(HTTP_TUNNEL_PROTOCOL, async (stream) => {
      const fs = new FrameStream(stream, { maxFrameBytes: FRAME_BYTES, readTimeoutMs: 5000 })
      try {
        const head = await fs.readJson(z.object({ method: z.string(), path: z.string() }).passthrough())
        served.push(head.path)
        await fs.writeJson({ status: 200, headers: [['content-type', 'application/octet-stream']] })
        await fs.writeBinary(bytes(1000, 9))
        await fs.close() // no { end: true }
      } catch (err) {
        fs.abort(err as Error)
      }
    })
    cleanups.push(async () => { await server.unhandle(HTTP_TUNNEL_PROTOCOL) })
    const res = await fetchVia(client, server.peerId, new Request('http://x/api/jobs/j1/result'))
    expect(res.status).toBe(200)
    expect(served).toEqual(['/api/jobs/j1/result'])
    const r = await bounded(settle(res.arrayBuffer()), 'the body read', 10_000)
    expect(r.value).toBeUndefined()
    expect(r.error).toBeInstanceOf(StreamEndedError)
    expect(r.error?.message).toMatch(/end mark/)
  })

  it('a server that resets the stream mid-body: the client\'s body read rejects', async () => {
    const [client, server] = [await nodes.start(), await nodes.start()]
    await client.dial(server.getMultiaddrs()[0])
    await server.handle(HTTP_TUNNEL_PROTOCOL, async (stream) => {
      const fs = new FrameStream(stream, { maxFrameBytes: FRAME_BYTES, readTimeoutMs: 5000 })
      try {
        await fs.readJson(z.object({ method: z.string() }).passthrough())
        await fs.writeJson({ status: 200, headers: [] })
        await fs.writeBinary(bytes(2 * MiB, 4))
      } catch {}
      fs.abort(new Error('gone'))
    })
    cleanups.push(async () => { await server.unhandle(HTTP_TUNNEL_PROTOCOL) })
    const res = await fetchVia(client, server.peerId, new Request('http://x/api/jobs/j1/result'))
    const r = await bounded(settle(res.arrayBuffer()), 'the body read', 10_000)
    expect(r.value).toBeUndefined()
    expect(r.error).toBeInstanceOf(Error)
  })
})
