// What every part of the simulation shares: the clock, the agenda, the network, the peers, the oracle
// that checks the invariants, and the trace.
import type { Network } from './network.ts'
import type { Oracle } from './oracle.ts'
import type { Rng } from './rng.ts'
import type { VPeer } from './peer.ts'

export interface SimConfig {
  peers: number
  heartbeatMs: number
  deadAfterMs: number
  forgetAfterMs: number
  graceMs: number
  tickMs: number
  leaseMs: number
  prefetch: number
  maxAttempts: number
  /** the master's queue timer (master.ts: leaseMs / 10, between 50 and 1000 ms) */
  queueTickMs: number
  /** how long an epoch write takes: the claim is acted on only after it */
  persistMs: [number, number]
  computeMs: [number, number]
  /** a master that cannot deliver a tile hears so after this long (the stream's timeout) */
  rpcTimeoutMs: number
  /** master.ts marks every lease holder dead on activation; the queue machine keeps the leases */
  markHoldersDead: boolean
  /** fail when a finished job is handed over (and run again) after a heal: see found-handover-done.test.ts */
  strictHandover: boolean
  /** fail when a peer elected alone behind a cut deposes the other side's master: see found-lone-takeover.test.ts */
  strictSticky: boolean
  /** the peers that answer the job protocols' clients: masters whose slots count as workers too */
  masterWorkLimit: number
}

export interface World {
  readonly now: number
  readonly seed: number
  readonly cfg: SimConfig
  readonly rng: Rng
  readonly net: Network
  readonly peers: VPeer[]
  readonly oracle: Oracle
  at: (delay: number, run: () => void) => void
  trace: (line: string) => void
  /** a fault happened (crash, restart, cut, heal): convergence is measured from the last one */
  disturbed: () => void
}

export class VoprFailure extends Error {
  override name = 'VoprFailure'
}
