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

export class NoPeerFoundError extends Error {
  override name = 'NoPeerFoundError'
}

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
  const peers = (opts.peers ?? []).map(p => multiaddr(p))
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
  if (!useMdns) return { node, targets: peers, close }

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
  return { node, targets: found, close }
}
