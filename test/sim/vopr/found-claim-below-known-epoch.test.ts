// Fixed; kept as a regression test. Found by the VOPR (seed 6152 with `npm run vopr -- --seed 6152`): a peer becomes master at an epoch
// LOWER than one it already knows, and its in-memory epoch goes backwards.
//
// election.ts onPersisted: while the claim's epoch is being written, a tick may learn a higher epoch
// from a live peer (here b, a restarted former master at epoch 3, now joining with a smaller replica).
// onPersisted gives way only to a live master or a better candidate; b is neither, so the claim goes
// through and sets `epoch: epoch` (the claim, 2) over the 3 it had learnt. The swarm then runs a
// master at epoch 2 after a master at epoch 3 existed: epoch fencing ("every message that carries
// work carries the epoch; workers, the queue and result commits reject stale epochs") compares against
// a number that went down. In seed 6152, p2 was master at epoch 3, crashed, restarted; p0 claimed 2
// during the write heard p2 at 3, and became master at 2. A fix would abandon (or re-claim above) a
// claim that is not above state.epoch when it is persisted.
import { describe, expect, it } from 'vitest'
import { initElection, stepElection, type Candidate } from '../../../src/node/election.ts'

describe('found: a claim persisted after a higher epoch was learnt', () => {
  it('does not make the peer master below an epoch it knows', () => {
    let s = initElection({ self: 'a', eligible: true, graceMs: 0 }, 1, 0)
    s = stepElection(s, { type: 'replica', replicaPos: 9 }).state
    let r = stepElection(s, { type: 'tick', now: 10, live: [] })
    expect(r.effects).toContainEqual({ type: 'persist-epoch', epoch: 2, claim: true })
    const b: Candidate = { peerId: 'b', role: 'joining', epoch: 3, eligible: true, replicaPos: 7 }
    r = stepElection(r.state, { type: 'tick', now: 20, live: [b] }) // heard while the write is under way
    expect(r.state.epoch).toBe(3)
    r = stepElection(r.state, { type: 'persisted', epoch: 2, live: [b] })
    expect(r.state.epoch).toBeGreaterThanOrEqual(3) // was 2: the epoch went backwards
    expect(r.state.role).not.toBe('master') // was master at 2
    // The next tick claims above the epoch it knows.
    r = stepElection(r.state, { type: 'tick', now: 30, live: [b] })
    expect(r.effects).toContainEqual({ type: 'persist-epoch', epoch: 4, claim: true })
  })
})
