// Assembles the libp2p node: TCP, noise, yamux, identify, optional mDNS and pnet. Heartbeats have their own
// protocol (heartbeat-protocol.ts), not gossip.
import { noise } from '@chainsafe/libp2p-noise'
import { identify, type Identify } from '@libp2p/identify'
import { mdns } from '@libp2p/mdns'
import { preSharedKey } from '@libp2p/pnet'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { createLibp2p, type Libp2p } from 'libp2p'
import type { ConnectionGater, PrivateKey } from '@libp2p/interface'

export type SwarmLibp2p = Libp2p<{ identify: Identify }>

export interface Libp2pOptions {
  privateKey: PrivateKey
  listen: string[]
  /** The swarm key bytes; undefined for an open swarm. */
  psk?: Uint8Array
  /** Real multicast discovery; the in-process test harness turns it off and feeds addresses itself. */
  mdns: boolean
  /** Separates swarms of this program from other libp2p apps on the LAN. */
  mdnsServiceTag?: string
  connectionGater?: ConnectionGater
}

export const DEFAULT_MDNS_TAG = 'swarm-img.local'

export async function createSwarmLibp2p (opts: Libp2pOptions): Promise<SwarmLibp2p> {
  return await createLibp2p({
    privateKey: opts.privateKey,
    addresses: { listen: opts.listen },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    // A paused stream (FrameStream backpressure) still receives the window it already granted; libp2p holds that
    // in the stream's read buffer (4 MiB by default) and resets the stream past it. Keep the window within it.
    streamMuxers: [yamux({ streamOptions: { maxStreamWindowSize: 4 * 1024 * 1024 } })],
    connectionProtector: opts.psk != null ? preSharedKey({ psk: opts.psk }) : undefined,
    peerDiscovery: opts.mdns ? [mdns({ serviceTag: opts.mdnsServiceTag ?? DEFAULT_MDNS_TAG, interval: 5000 })] : [],
    connectionGater: {
      // LAN peers have private addresses: never refuse them.
      denyDialMultiaddr: () => false,
      ...opts.connectionGater
    },
    connectionManager: {
      // The default (5 inbound connections per second per host) refuses a classroom of peers that all
      // start at once, and every peer of a test swarm on 127.0.0.1.
      inboundConnectionThreshold: 1000,
      maxIncomingPendingConnections: 256,
      dialTimeout: 3000
    },
    services: {
      identify: identify()
    }
  }) as unknown as SwarmLibp2p
}
