// Helpers for the framing tests: raw frames, in-memory stream pairs and real libp2p nodes on 127.0.0.1.
import { noise } from '@chainsafe/libp2p-noise'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { createLibp2p, type Libp2p } from 'libp2p'
import { streamPair } from '@libp2p/utils'
import type { Stream } from '@libp2p/interface'
import { createSwarmLibp2p, type SwarmLibp2p } from '../../src/node/libp2p.ts'
import { FrameStream, type FrameOptions } from '../../src/transfer/frames.ts'

export const MiB = 1024 * 1024
export const KIND_JSON = 1
export const KIND_BINARY = 2

/** The header of a frame: 4-byte big-endian length, then the kind byte. */
export function header (kind: number, length: number): Uint8Array {
  const h = new Uint8Array(5)
  new DataView(h.buffer).setUint32(0, length)
  h[4] = kind
  return h
}

/** A whole frame, built by hand so that the tests do not depend on the writer under test. */
export function rawFrame (kind: number, payload: Uint8Array | string): Uint8Array {
  const body = typeof payload === 'string' ? new TextEncoder().encode(payload) : payload
  const out = new Uint8Array(5 + body.byteLength)
  out.set(header(kind, body.byteLength), 0)
  out.set(body, 5)
  return out
}

/** Deterministic pseudo-random bytes (xorshift32). */
export function bytes (n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n)
  let x = seed >>> 0 || 1
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x >>>= 0
    x ^= x >>> 17
    x ^= x << 5; x >>>= 0
    out[i] = x & 0xff
  }
  return out
}

export const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

/** Whatever a promise settles to, with the time it took; never rejects. */
export async function settle<T> (p: Promise<T>): Promise<{ value?: T, error?: Error, ms: number }> {
  const t0 = Date.now()
  try {
    const value = await p
    return { value, ms: Date.now() - t0 }
  } catch (err) {
    return { error: err as Error, ms: Date.now() - t0 }
  }
}

/** Resolves with 'pending' if p has not settled within ms. */
export async function within<T> (p: Promise<T>, ms: number): Promise<T | 'pending'> {
  let t: NodeJS.Timeout | undefined
  try {
    return await Promise.race([p, new Promise<'pending'>(resolve => { t = setTimeout(() => { resolve('pending') }, ms) })])
  } finally {
    clearTimeout(t)
  }
}

/** Counts every byte the stream hands to its 'message' listeners (i.e. to the FrameStream). */
export function countDelivered (stream: Stream): { bytes: number, sizes: number[] } {
  const c = { bytes: 0, sizes: [] as number[] }
  stream.addEventListener('message', (evt) => {
    c.bytes += evt.data.byteLength
    if (c.sizes.length < 1000) c.sizes.push(evt.data.byteLength)
  })
  return c
}

/** Counts the reader's pause()/resume() calls on a stream. */
export function countPauses (stream: Stream): { pauses: number, resumes: number } {
  const c = { pauses: 0, resumes: 0 }
  const pause = stream.pause.bind(stream)
  const resume = stream.resume.bind(stream)
  stream.pause = () => { c.pauses++; pause() }
  stream.resume = () => { c.resumes++; resume() }
  return c
}

export interface Pair {
  /** The raw writing end; send hand-built bytes here. */
  a: Stream
  b: Stream
  writer: FrameStream
  reader: FrameStream
}

/** Two connected in-memory streams (the @libp2p/utils mock muxer), each wrapped in a FrameStream. */
export async function framePair (opts: Partial<FrameOptions> = {}, readerOpts: Partial<FrameOptions> = {}): Promise<Pair> {
  const [a, b] = await streamPair()
  const base: FrameOptions = { maxFrameBytes: 64 * 1024, readTimeoutMs: 2000, ...opts }
  return { a, b, writer: new FrameStream(a, base), reader: new FrameStream(b, { ...base, ...readerOpts }) }
}

/** Real libp2p nodes (TCP + noise + yamux, no mDNS) on 127.0.0.1; stop them all with stopAll(). */
export class Nodes {
  private readonly started: Libp2p[] = []

  /** A node exactly as the swarm builds it (src/node/libp2p.ts). */
  async start (): Promise<SwarmLibp2p> {
    const node = await createSwarmLibp2p({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false })
    this.started.push(node)
    return node
  }

  /** A bare node (TCP + noise + yamux) whose yamux streams grow their window up to maxStreamWindowSize. */
  async startBare (maxStreamWindowSize: number): Promise<Libp2p> {
    const node = await createLibp2p({
      privateKey: await generateKeyPair('Ed25519'),
      addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux({ streamOptions: { maxStreamWindowSize } })]
    })
    this.started.push(node)
    return node
  }

  async stopAll (): Promise<void> {
    await Promise.all(this.started.splice(0).map(async n => { await n.stop() }))
  }
}

/** Collects the inbound streams of a protocol; next() waits (bounded) for the next one. */
export async function inbound (node: Libp2p, protocol: string): Promise<{ next: (ms?: number) => Promise<Stream> }> {
  const queue: Stream[] = []
  let wake: (() => void) | undefined
  await node.handle(protocol, (stream) => { queue.push(stream); wake?.() })
  return {
    next: async (ms = 5000) => {
      const deadline = Date.now() + ms
      while (queue.length === 0) {
        if (Date.now() >= deadline) throw new Error(`no inbound ${protocol} stream within ${ms} ms`)
        await new Promise<void>(resolve => { wake = resolve; setTimeout(resolve, 20) })
      }
      return queue.shift()!
    }
  }
}
