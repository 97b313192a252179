// Assembles the libp2p node: TCP, noise, yamux, identify, gossipsub, optional mDNS and pnet.
import { noise } from '@chainsafe/libp2p-noise'
import { gossipsub, type GossipSub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { mdns } from '@libp2p/mdns'
import { preSharedKey } from '@libp2p/pnet'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { createLibp2p, type Libp2p } from 'libp2p'
import type { ConnectionGater, PrivateKey } from '@libp2p/interface'

export type SwarmLibp2p = Libp2p<{ pubsub: GossipSub, identify: unknown }>

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
      identify: identify(),
      pubsub: gossipsub({
        // A lone peer (or the first of a swarm) still heartbeats; nobody hears it yet, and that is fine.
        allowPublishToZeroTopicPeers: true,
        emitSelf: false,
        // Heartbeats are small and few: send each to every subscriber rather than wait for the mesh to form.
        floodPublish: true,
        maxInboundDataLength: 64 * 1024
      })
    }
  }) as unknown as SwarmLibp2p
}
