// Server-sent events: a Response whose body is an event stream fed by a subscription, ended by either
// side. The browser's EventSource reconnects by itself after `retry` ms when the stream ends (the
// master changed, the peer restarted), which is how a page follows the swarm without reloading.
import type { Clock } from '../transfer/clock.ts'

/** The browser's wait before it reconnects: a new master is elected in about two seconds. */
export const SSE_RETRY_MS = 1000
/**
 * A comment at least this often keeps quiet streams open: through the tunnel (whose reads time out at
 * 60 s) and through proxies that close idle connections.
 */
export const SSE_KEEPALIVE_MS = 15_000

export interface EventSink {
  send: (event: string, data: unknown) => void
  /** Ends the stream (the browser reconnects after SSE_RETRY_MS). */
  end: () => void
}

/**
 * An event stream: `subscribe` is called once with the sink and returns its unsubscribe, which runs when
 * the stream ends for any reason (the browser went away, or `end`).
 */
export function eventStream (subscribe: (sink: EventSink) => () => void, clock: Pick<Clock, 'every'>): Response {
  const encoder = new TextEncoder()
  let cleanup: (() => void) | undefined
  let closed = false
  const finish = (): void => {
    if (closed) return
    closed = true
    cleanup?.()
  }
  const body = new ReadableStream<Uint8Array>({
    start: (controller) => {
      const write = (text: string): void => {
        if (closed) return
        try { controller.enqueue(encoder.encode(text)) } catch { finish() }
      }
      write(`retry: ${SSE_RETRY_MS}\n\n`)
      const keepalive = clock.every(SSE_KEEPALIVE_MS, () => { write(': keepalive\n\n') })
      const sink: EventSink = {
        // JSON never holds a raw newline, so one data line per event.
        send: (event, data) => { write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`) },
        end: () => {
          if (closed) return
          finish()
          try { controller.close() } catch {}
        }
      }
      const unsubscribe = subscribe(sink)
      cleanup = () => { keepalive.cancel(); unsubscribe() }
      if (closed) cleanup()
    },
    cancel: () => { finish() }
  })
  return new Response(body, {
    headers: { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' }
  })
}
