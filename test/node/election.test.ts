import { describe, expect, it } from 'vitest'
import { initElection, stepElection, type Candidate, type ElectionEffect, type ElectionState } from '../../src/node/election.ts'

const cfg = (self: string, eligible = true) => ({ self, eligible, graceMs: 1000 })
const peer = (peerId: string, over: Partial<Candidate> = {}): Candidate => ({ peerId, role: 'follower', epoch: 0, eligible: true, replicaPos: 0, ...over })

function tick (s: ElectionState, now: number, live: Candidate[]): { s: ElectionState, fx: ElectionEffect[] } {
  const r = stepElection(s, { type: 'tick', now, live })
  return { s: r.state, fx: r.effects }
}

describe('election', () => {
  it('waits out the start-up grace before claiming', () => {
    let s = initElection(cfg('A'), 0, 0)
    let r = tick(s, 500, [peer('B', { role: 'joining' })])
    expect(r.fx).toEqual([])
    expect(r.s.role).toBe('joining')
    r = tick(r.s, 1001, [peer('B', { role: 'joining' })])
    expect(r.fx).toEqual([{ type: 'persist-epoch', epoch: 1, claim: true }])
    expect(r.s.role).toBe('follower') // not master until the epoch is durable
    s = stepElection(r.s, { type: 'persisted', epoch: 1, live: [] }).state
    expect(s.role).toBe('master')
    expect(s.master).toBe('A')
    expect(s.masterEpoch).toBe(1)
  })

  it('a worse-ranked peer waits for the better one instead of claiming', () => {
    const r = tick(initElection(cfg('B'), 0, 0), 2000, [peer('A', { role: 'joining' })])
    expect(r.fx).toEqual([])
    expect(r.s.pendingClaim).toBeNull()
  })

  it('the most complete replica beats a lower PeerId', () => {
    let s = initElection(cfg('B'), 0, 0)
    s = stepElection(s, { type: 'replica', replicaPos: 10 }).state
    const r = tick(s, 2000, [peer('A', { replicaPos: 3 })])
    expect(r.fx).toContainEqual({ type: 'persist-epoch', epoch: 1, claim: true })
  })

  it('a --no-master peer never claims, and is skipped as a candidate', () => {
    let r = tick(initElection(cfg('A', false), 0, 0), 5000, [])
    expect(r.fx).toEqual([])
    r = tick(initElection(cfg('B'), 0, 0), 5000, [peer('A', { eligible: false })])
    expect(r.fx).toContainEqual({ type: 'persist-epoch', epoch: 1, claim: true })
  })

  it('is sticky: a live master is kept even when a better-ranked peer joins', () => {
    let s = initElection(cfg('C'), 0, 0)
    let r = tick(s, 100, [peer('B', { role: 'master', epoch: 4 })])
    expect(r.s.master).toBe('B')
    expect(r.fx).toContainEqual({ type: 'master-changed', master: 'B', epoch: 4, self: false, previous: null })
    r = tick(r.s, 200, [peer('B', { role: 'master', epoch: 4 }), peer('A', { role: 'joining' })])
    expect(r.s.master).toBe('B')
    expect(r.fx).toEqual([])
    s = r.s
    expect(s.epoch).toBe(4)
  })

  it('claims epoch+1 above every epoch seen when the master disappears', () => {
    let r = tick(initElection(cfg('A'), 2, 0), 100, [peer('M', { role: 'master', epoch: 7 }), peer('B', { epoch: 7 })])
    expect(r.s.epoch).toBe(7)
    expect(r.fx).toContainEqual({ type: 'persist-epoch', epoch: 7, claim: false })
    r = tick(r.s, 3000, [peer('B', { epoch: 7 })])
    expect(r.fx).toEqual([
      { type: 'master-changed', master: null, epoch: 7, self: false, previous: 'M' },
      { type: 'persist-epoch', epoch: 8, claim: true }
    ])
  })

  it('abandons a pending claim when a master shows up before the epoch is durable', () => {
    let r = tick(initElection(cfg('A'), 0, 0), 2000, [])
    expect(r.s.pendingClaim).toBe(1)
    r = tick(r.s, 2100, [peer('Z', { role: 'master', epoch: 3 })])
    expect(r.s.pendingClaim).toBeNull()
    const after = stepElection(r.s, { type: 'persisted', epoch: 1, live: [] })
    expect(after.state.role).toBe('follower')
    expect(after.effects).toEqual([])
  })

  it('after a partition heals the higher (epoch, rank) master wins and the other steps down', () => {
    let a = initElection(cfg('A'), 0, 0)
    a = tick(a, 2000, []).s
    a = stepElection(a, { type: 'persisted', epoch: 1, live: [] }).state
    expect(a.role).toBe('master')
    // Z was elected on the other side with a higher epoch.
    let r = tick(a, 5000, [peer('Z', { role: 'master', epoch: 2 })])
    expect(r.s.role).toBe('follower')
    expect(r.s.master).toBe('Z')
    expect(r.fx).toContainEqual({ type: 'master-changed', master: 'Z', epoch: 2, self: false, previous: 'A' })
    // Equal epochs: the lower PeerId wins, so exactly one of the two steps down.
    let b = initElection(cfg('B'), 0, 0)
    b = tick(b, 2000, []).s
    b = stepElection(b, { type: 'persisted', epoch: 1, live: [] }).state
    r = tick(b, 3000, [peer('A', { role: 'master', epoch: 1 })])
    expect(r.s.master).toBe('A')
    r = tick(a, 3000, [peer('B', { role: 'master', epoch: 1 })])
    expect(r.s.role).toBe('master')
  })

  it('gives up a claim when a better rival is heard while the epoch is being written', () => {
    const r = tick(initElection(cfg('B'), 0, 0), 2000, [])
    expect(r.s.pendingClaim).toBe(1)
    const lost = stepElection(r.s, { type: 'persisted', epoch: 1, live: [peer('A', { role: 'joining' })] })
    expect(lost.state.role).toBe('follower')
    expect(lost.state.pendingClaim).toBeNull()
    expect(lost.effects).toEqual([])
    // A worse rival does not stop it.
    const won = stepElection(r.s, { type: 'persisted', epoch: 1, live: [peer('C')] })
    expect(won.state.role).toBe('master')
  })

  it('ignores a leaving peer as a candidate', () => {
    const r = tick(initElection(cfg('B'), 0, 0), 5000, [peer('A', { role: 'leaving' })])
    expect(r.fx).toContainEqual({ type: 'persist-epoch', epoch: 1, claim: true })
  })

  it('a follower whose master role ends (master restarted and rejoining) re-elects', () => {
    let r = tick(initElection(cfg('B'), 0, 0), 100, [peer('A', { role: 'master', epoch: 1 })])
    r = tick(r.s, 3000, [peer('A', { role: 'joining', epoch: 1 })])
    expect(r.s.master).toBeNull()
    // A is still the better candidate: B waits for it.
    expect(r.fx.some(e => e.type === 'persist-epoch' && e.claim)).toBe(false)
  })
})
