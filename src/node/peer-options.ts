// SwarmPeer's options: defaults, and checks that name the option, the value and what was expected.
import { hostname } from 'node:os'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import type { Candidate } from './election.ts'
import type { Heartbeat } from './heartbeat.ts'
import type { Registry } from 'prom-client'
import { DEFAULT_DEAD_AFTER_MS, DEFAULT_HEARTBEAT_MS } from './defaults.ts'

export interface PeerOptions {
  /** Identity, LevelDB and replicas live here. */
  dataDir: string
  listen?: string[]
  /** Swarm key bytes (see swarm-key.ts); undefined = open swarm. */
  psk?: Uint8Array
  mdns?: boolean
  mdnsServiceTag?: string
  /** Multiaddrs to dial and keep dialling, for networks without multicast. */
  bootstrap?: string[]
  /** false = --no-master: never elected (e.g. a slow device). */
  eligible?: boolean
  name?: string
  slots?: number
  heartbeatMs?: number
  deadAfterMs?: number
  graceMs?: number
  tickMs?: number
  redialMs?: number
  dialTimeoutMs?: number
  forgetAfterMs?: number
  now?: () => number
  /** Tests only: rewrites each heartbeat before this peer signs and sends it (a rogue keyed peer). */
  forgeHeartbeat?: (hb: Heartbeat) => Heartbeat
  /** libp2p's metrics go into this prom-client registry (one peer per process: see libp2p.ts). */
  metricsRegistry?: Registry
}

export interface ResolvedPeerOptions extends Required<Omit<PeerOptions, 'psk' | 'bootstrap' | 'mdnsServiceTag' | 'forgeHeartbeat' | 'metricsRegistry'>> {
  psk?: Uint8Array
  mdnsServiceTag?: string
  forgeHeartbeat?: (hb: Heartbeat) => Heartbeat
  metricsRegistry?: Registry
  bootstrap: Multiaddr[]
}

export class InvalidOptionError extends Error {
  override name = 'InvalidOptionError'
}

// In defaults.ts, which imports nothing: `swarm start --help` prints them.
export { DEFAULT_DEAD_AFTER_MS, DEFAULT_HEARTBEAT_MS } from './defaults.ts'

function int (name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new InvalidOptionError(`option "${name}" is ${String(value)}, expected an integer from ${min} to ${max}`)
  }
  return value
}

export function resolvePeerOptions (o: PeerOptions): ResolvedPeerOptions {
  if (typeof o.dataDir !== 'string' || o.dataDir === '') throw new InvalidOptionError(`option "dataDir" is ${JSON.stringify(o.dataDir)}, expected a directory path`)
  const heartbeatMs = int('heartbeatMs', o.heartbeatMs ?? DEFAULT_HEARTBEAT_MS, 10, 60_000)
  const deadAfterMs = int('deadAfterMs', o.deadAfterMs ?? DEFAULT_DEAD_AFTER_MS, 2 * heartbeatMs, 600_000)
  const bootstrap = (o.bootstrap ?? []).map(s => {
    try {
      return multiaddr(s)
    } catch {
      throw new InvalidOptionError(`option "peer" is ${JSON.stringify(s)}, expected a multiaddr such as /ip4/192.168.1.20/tcp/4001/p2p/12D3Koo...`)
    }
  })
  return {
    dataDir: o.dataDir,
    listen: o.listen ?? ['/ip4/0.0.0.0/tcp/0'],
    psk: o.psk,
    mdns: o.mdns ?? true,
    mdnsServiceTag: o.mdnsServiceTag,
    bootstrap,
    eligible: o.eligible ?? true,
    name: (o.name ?? hostname()).slice(0, 64),
    slots: int('slots', o.slots ?? 2, 0, 4096),
    heartbeatMs,
    deadAfterMs,
    // Long enough to hear an existing master's heartbeat (and mDNS to connect) before claiming.
    // Never under a second: connecting and exchanging gossip subscriptions takes a few hundred ms.
    graceMs: int('graceMs', o.graceMs ?? Math.max(1000, Math.min(deadAfterMs, 3 * heartbeatMs)), 0, 600_000),
    tickMs: int('tickMs', o.tickMs ?? Math.max(10, Math.min(100, Math.floor(heartbeatMs / 5))), 1, 10_000),
    redialMs: int('redialMs', o.redialMs ?? 1000, 10, 600_000),
    dialTimeoutMs: int('dialTimeoutMs', o.dialTimeoutMs ?? 3000, 100, 600_000),
    forgetAfterMs: int('forgetAfterMs', o.forgetAfterMs ?? 10 * 60_000, deadAfterMs, 86_400_000),
    now: o.now ?? Date.now,
    ...(o.forgeHeartbeat != null ? { forgeHeartbeat: o.forgeHeartbeat } : {}),
    ...(o.metricsRegistry != null ? { metricsRegistry: o.metricsRegistry } : {})
  }
}

export function candidateFromHeartbeat (hb: Heartbeat): Candidate {
  return { peerId: hb.peerId, role: hb.role, epoch: hb.epoch, eligible: hb.eligible, replicaPos: hb.replicaPos, master: hb.master }
}

export interface PeerEvents {
  started: [{ peerId: string, addrs: string[], epoch: number }]
  stopped: [{}]
  'peer:joined': [{ peerId: string, hb: Heartbeat }]
  'peer:left': [{ peerId: string, reason: 'timeout' | 'leaving' }]
  master: [{ master: string | null, epoch: number, self: boolean, previous: string | null }]
  warning: [{ message: string }]
}
