// Assembles the libp2p node: TCP, noise, yamux, identify, optional mDNS and pnet. Heartbeats have their own
// protocol (heartbeat-protocol.ts), not gossip.
import { noise } from '@chainsafe/libp2p-noise'
import { identify, type Identify } from '@libp2p/identify'
import { mdns } from '@libp2p/mdns'
import { preSharedKey } from '@libp2p/pnet'
import { prometheusMetrics } from '@libp2p/prometheus-metrics'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { createLibp2p, type Libp2p } from 'libp2p'
import type { ConnectionGater, PrivateKey } from '@libp2p/interface'
import type { Registry } from 'prom-client'

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
  /**
   * libp2p's own metrics (connections, dials, bytes per protocol: libp2p_data_transfer_bytes_total) go
   * into this prom-client registry; undefined: none are kept. One node per process only, see below.
   */
  metricsRegistry?: Registry
}

/**
 * @libp2p/prometheus-metrics keeps its metrics in a cache global to the process, by name: a second node
 * with metrics would reuse the first one's, registered in the first one's registry and counting the first
 * one's streams (its own registry stays empty, whatever registry it is given). Without
 * preserveExistingMetrics each node would instead clear prom-client's default registry. So metrics are for
 * one node a process (`swarm start`); the in-process test swarms run without them.
 */
let metricsTaken = false

export const DEFAULT_MDNS_TAG = 'swarm-img.local'

export async function createSwarmLibp2p (opts: Libp2pOptions): Promise<SwarmLibp2p> {
  if (opts.metricsRegistry != null) {
    if (metricsTaken) throw new Error('libp2p metrics can be kept for one node per process: another node of this process has them')
    metricsTaken = true
  }
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
    },
    // Node's process metrics are collected once, by whoever owns the registry (SwarmMetrics), not here too:
    // prom-client refuses the same metric twice in one registry.
    metrics: opts.metricsRegistry != null ? prometheusMetrics({ registry: opts.metricsRegistry, preserveExistingMetrics: true, collectDefaultMetrics: false }) : undefined
  }) as unknown as SwarmLibp2p
}
