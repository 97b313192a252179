// A short-lived libp2p node for commands run from any device (`swarm status`, `swarm submit`): it
// finds a peer of the swarm by mDNS (or dials --peer) and talks to it over a protocol stream. It is
// not a member: it does not heartbeat, does not answer mDNS, and is never elected.
import { noise } from '@chainsafe/libp2p-noise'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { identify } from '@libp2p/identify'
import { mdns } from '@libp2p/mdns'
import { preSharedKey } from '@libp2p/pnet'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { createLibp2p, type Libp2p } from 'libp2p'
import type { PeerId } from '@libp2p/interface'
import { DEFAULT_MDNS_TAG } from './libp2p.ts'
import { keyMismatchMessage, looksLikeKeyMismatch } from './swarm-key.ts'

export class NoPeerFoundError extends Error {
  override name = 'NoPeerFoundError'
}

/** Every peer found failed the handshake the way a peer with another swarm key (or none) does. */
export class SwarmKeyMismatchError extends Error {
  override name = 'SwarmKeyMismatchError'
}

/**
 * How long a first connection may take before the peer is taken as not sharing this client's key. A LAN
 * handshake takes milliseconds; a peer with another key resets it or never answers the way ours expects,
 * and waiting for the protocol timeouts behind it took 7-21 s and said nothing about keys.
 */
export const HANDSHAKE_TIMEOUT_MS = 3000

export interface ClientOptions {
  psk?: Uint8Array
  /** Peers to try first; with none, mDNS finds them. */
  peers?: string[]
  mdnsServiceTag?: string
  /** How long to look for a peer. */
  timeoutMs?: number
}

export interface SwarmClient {
  node: Libp2p
  /** The peers found, in the order found (the --peer ones first). */
  targets: Array<PeerId | Multiaddr>
  close: () => Promise<void>
}

export async function connectClient (opts: ClientOptions): Promise<SwarmClient> {
  const peers = (opts.peers ?? []).map(p => {
    try {
      return multiaddr(p)
    } catch (err) {
      throw new Error(`--peer must be a multiaddr such as /ip4/192.168.1.20/tcp/4001/p2p/12D3Koo..., got "${p}" (${(err as Error).message})`)
    }
  })
  const useMdns = peers.length === 0
  const node = await createLibp2p({
    privateKey: await generateKeyPair('Ed25519'),
    addresses: { listen: [] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionProtector: opts.psk != null ? preSharedKey({ psk: opts.psk }) : undefined,
    // broadcast: false — ask, but do not answer: the peers should not dial a passing client.
    peerDiscovery: useMdns ? [mdns({ serviceTag: opts.mdnsServiceTag ?? DEFAULT_MDNS_TAG, broadcast: false, interval: 1000 })] : [],
    connectionGater: { denyDialMultiaddr: () => false },
    services: { identify: identify() }
  })
  const close = async (): Promise<void> => { await node.stop() }
  if (!useMdns) {
    await probe(node, peers, opts.psk != null, close)
    return { node, targets: peers, close }
  }

  const timeoutMs = opts.timeoutMs ?? 5000
  const found: PeerId[] = []
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, timeoutMs)
    node.addEventListener('peer:discovery', (evt) => {
      found.push(evt.detail.id)
      clearTimeout(timer)
      // Give the others a moment to answer too, so a dead first answer is not the only choice.
      setTimeout(resolve, 300)
    })
  })
  if (found.length === 0) {
    await close()
    throw new NoPeerFoundError(`no swarm peer answered on the LAN within ${timeoutMs} ms (is \`swarm start\` running? without multicast, pass --peer <multiaddr>)`)
  }
  await probe(node, found, opts.psk != null, close)
  return { node, targets: found, close }
}

/**
 * Connects to every target at once, within HANDSHAKE_TIMEOUT_MS. When none connects and one failed as a
 * key mismatch does, says so (and closes the client) instead of letting every command time out on it;
 * other failures (a peer down) are left to the command, which tries its targets in turn.
 */
export async function probe (node: Libp2p, targets: Array<PeerId | Multiaddr>, hasKey: boolean, close: () => Promise<void>): Promise<void> {
  const results = await Promise.allSettled(targets.map(async t => await node.dial(t, { signal: AbortSignal.timeout(HANDSHAKE_TIMEOUT_MS) })))
  if (results.some(r => r.status === 'fulfilled')) return
  const i = results.findIndex(r => r.status === 'rejected' && dialLooksLikeKeyMismatch(r.reason))
  if (i < 0) return
  await close()
  throw new SwarmKeyMismatchError(keyMismatchMessage(targets[i].toString(), hasKey))
}

/**
 * A failed dial that reads as a key mismatch. A dial by PeerId (a peer found by mDNS, announcing several
 * addresses) tries them in turn and fails with an AggregateError ("All multiaddr dials failed") that holds
 * each address's error: one reset the way a peer with another key (or none) resets is enough, whatever
 * the others (a docker bridge, an address this device cannot reach) failed with.
 */
export function dialLooksLikeKeyMismatch (err: unknown, depth = 0): boolean {
  if (looksLikeKeyMismatch(err, { stalls: true })) return true
  const errors = (err as { errors?: unknown } | undefined)?.errors
  return depth < 4 && Array.isArray(errors) && errors.some(e => dialLooksLikeKeyMismatch(e, depth + 1))
}
