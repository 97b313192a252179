// Found by the VOPR (seeds 416 and 18789: `npm run vopr -- --seed 416`): two peers that hear each other
// both become master at the same epoch, against "at most one master per epoch in a connected swarm".
//
// The election ranks candidates on the replica positions in their last heartbeats (peer.ts passes the
// position it last ADVERTISED, so that all peers rank on the same numbers: "once the master is gone
// positions stop moving, and a heartbeat later all agree"). But the claim does not wait for that
// heartbeat: the master is declared dead deadAfterMs after its LAST heartbeat arrived, which can be
// well under deadAfterMs after replication stopped (in seed 416 the cut came 1.3 s before the claims),
// and a peer may have missed the rival's latest heartbeats (two lost in a row, an ordinary network).
// Then each peer sees the other one's older, smaller position and finds itself the best candidate;
// onPersisted checks the same stale view and gives way to neither. Both claim epoch 3 within 2 ms.
// masterBeats breaks the tie a heartbeat later, but meanwhile both hand out leases "3:<n>" from the
// same replicated counter (the queue's tile-address check is what keeps a colliding lease id from
// completing the wrong tile; the VOPR shows that check is load-bearing).
import { describe, expect, it } from 'vitest'
import { initElection, stepElection, type Candidate, type ElectionState } from '../../../src/node/election.ts'

function claimant (self: string, ownPos: number, rival: Candidate): ElectionState {
  let s = initElection({ self, eligible: true, graceMs: 0 }, 2, 0)
  s = stepElection(s, { type: 'replica', replicaPos: ownPos }).state
  s = stepElection(s, { type: 'tick', now: 10, live: [rival] }).state
  return stepElection(s, { type: 'persisted', epoch: 3, live: [rival] }).state
}

describe('found: two connected peers rank each other on stale positions', () => {
  it.fails('never makes both master at one epoch', () => {
    // Both now hold position 10; each last heard the other at 9 (its heartbeat from before the last batch).
    const a = claimant('a', 10, { peerId: 'b', role: 'follower', epoch: 2, eligible: true, replicaPos: 9 })
    const b = claimant('b', 10, { peerId: 'a', role: 'follower', epoch: 2, eligible: true, replicaPos: 9 })
    expect(a.role === 'master' && b.role === 'master' && a.masterEpoch === b.masterEpoch).toBe(false)
  })
})
