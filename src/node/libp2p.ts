// Assembles the libp2p node: TCP, noise, yamux, identify, gossipsub, optional mDNS and pnet.
import { createHash } from 'node:crypto'
import { noise } from '@chainsafe/libp2p-noise'
import { gossipsub, type GossipSub } from '@libp2p/gossipsub'
import { identify, type Identify } from '@libp2p/identify'
import { mdns } from '@libp2p/mdns'
import { preSharedKey } from '@libp2p/pnet'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { createLibp2p, type Libp2p } from 'libp2p'
import type { ConnectionGater, PrivateKey } from '@libp2p/interface'

export type SwarmLibp2p = Libp2p<{ pubsub: GossipSub, identify: Identify }>

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

/** Identifies a gossip message by all it carries, so a duplicate is found before its signature is checked. */
function fastMsgIdFn (msg: { from?: Uint8Array, seqno?: Uint8Array, data?: Uint8Array, signature?: Uint8Array, topic: string }): string {
  const h = createHash('sha256').update(msg.topic)
  for (const part of [msg.from, msg.seqno, msg.data, msg.signature]) {
    h.update(String(part?.byteLength ?? -1))
    if (part != null) h.update(part)
  }
  return h.digest('base64')
}

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
        maxInboundDataLength: 64 * 1024,
        // In a small full mesh each heartbeat arrives once from its sender and again from most mesh peers.
        // Gossipsub checks the signature before it looks for duplicates unless it has a cheap id to look up
        // first; that check was most of an idle peer's CPU (0.11 of a core each in a swarm of 8). The id
        // hashes the whole message, so only an identical copy of a message already found valid matches.
        fastMsgIdFn,
        // Every peer dials every peer it hears of and floodPublish sends each heartbeat to all of them, so
        // the mesh only covers links that are missing for a moment. A mesh of 6 (the default) meant each
        // heartbeat reached each peer about 6 times, each a noise frame, a yamux window update and a write.
        D: 3,
        Dlo: 2,
        Dhi: 5,
        Dout: 1,
        Dscore: 1,
        Dlazy: 3,
        // Heartbeats (under 1 KiB) cost less to receive twice than an IDONTWANT costs to send to the mesh.
        idontwantMinDataSize: 16 * 1024
      })
    }
  }) as unknown as SwarmLibp2p
}
