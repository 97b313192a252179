import { describe, expect, it } from 'vitest'
import { epochBacked, initElection, masterWins, MAX_EPOCH, MAX_EPOCH_STEP, stepElection, type Candidate, type ElectionEffect, type ElectionState } from '../../src/node/election.ts'

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
    let r = tick(s, 100, [peer('B', { role: 'master', epoch: 4 }), peer('D', { epoch: 4, master: 'B' })])
    expect(r.s.master).toBe('B')
    expect(r.fx).toContainEqual({ type: 'master-changed', master: 'B', epoch: 4, self: false, previous: null })
    r = tick(r.s, 200, [peer('B', { role: 'master', epoch: 4 }), peer('D', { epoch: 4, master: 'B' }), peer('A', { role: 'joining' })])
    expect(r.s.master).toBe('B')
    expect(r.fx).toEqual([])
    s = r.s
    expect(s.epoch).toBe(4)
  })

  it('claims epoch+1 above every epoch seen when the master disappears', () => {
    let r = tick(initElection(cfg('A'), 2, 0), 100, [peer('M', { role: 'master', epoch: 7 }), peer('B', { epoch: 7, master: 'M' })])
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

  it('within its grace a starting peer follows only a master another peer follows; a lone one after the grace', () => {
    const rogue = peer('R', { role: 'master', epoch: 2, master: 'R' })
    // It hears a lone master first (a rogue's forged heartbeat, or a real master whose followers are not heard yet).
    let r = tick(initElection(cfg('C'), 1, 0), 100, [rogue])
    expect([r.s.role, r.s.master, r.fx.filter(e => e.type === 'master-changed')]).toEqual(['joining', null, []])
    // The real master with a follower behind it is followed at once, though the rogue's epoch is higher.
    r = tick(r.s, 200, [rogue, peer('M', { role: 'master', epoch: 1, master: 'M' }), peer('B', { epoch: 2, master: 'M' })])
    expect([r.s.role, r.s.master]).toEqual(['follower', 'M'])
    // A lone master, and nobody else: followed once the grace is over.
    r = tick(initElection(cfg('C'), 1, 0), 999, [peer('M', { role: 'master', epoch: 1 })])
    expect(r.s.master).toBeNull()
    r = tick(r.s, 1000, [peer('M', { role: 'master', epoch: 1 })])
    expect(r.s.master).toBe('M')
  })

  it('ignores a leaving peer as a candidate', () => {
    const r = tick(initElection(cfg('B'), 0, 0), 5000, [peer('A', { role: 'leaving' })])
    expect(r.fx).toContainEqual({ type: 'persist-epoch', epoch: 1, claim: true })
  })

  it('a follower whose master role ends (master restarted and rejoining) re-elects', () => {
    let r = tick(initElection(cfg('B'), 0, 0), 1001, [peer('A', { role: 'master', epoch: 1 })])
    expect(r.s.master).toBe('A')
    r = tick(r.s, 3000, [peer('A', { role: 'joining', epoch: 1 })])
    expect(r.s.master).toBeNull()
    // A is still the better candidate: B waits for it.
    expect(r.fx.some(e => e.type === 'persist-epoch' && e.claim)).toBe(false)
  })

  describe('epochs are believed in bounded steps', () => {
    const big = Number.MAX_SAFE_INTEGER
    const table: Array<{ name: string, own: number, epoch: number, others: number[], want: boolean }> = [
      { name: 'a step within reach, alone', own: 5, epoch: 5 + MAX_EPOCH_STEP, others: [5 + MAX_EPOCH_STEP], want: true },
      { name: 'one step too far, from one of two peers', own: 5, epoch: 6 + MAX_EPOCH_STEP, others: [6 + MAX_EPOCH_STEP, 5], want: false },
      { name: 'a peer back after a long absence: the whole swarm is ahead', own: 0, epoch: 500, others: [500, 499, 500], want: true },
      { name: 'the only other peer is ahead (a two-peer swarm)', own: 0, epoch: 500, others: [500], want: true },
      { name: 'half the others is not most of them', own: 0, epoch: 500, others: [500, 3], want: false },
      { name: 'above the largest epoch, whoever backs it', own: 0, epoch: MAX_EPOCH + 1, others: [MAX_EPOCH + 1, MAX_EPOCH + 1, MAX_EPOCH + 1], want: false },
      { name: '2^53 - 1 from a rogue among real peers', own: 3, epoch: big, others: [big, 3, 3], want: false }
    ]
    for (const c of table) {
      it(c.name, () => {
        expect(epochBacked(c.epoch, c.own, c.others.map((epoch, i) => peer(`P${i}`, { epoch })))).toBe(c.want)
      })
    }

    it('a rogue master at 2^53 - 1 is neither followed nor learnt from, and is reported once; the real master is kept', () => {
      let r = tick(initElection(cfg('A'), 3, 0), 100, [peer('M', { role: 'master', epoch: 3 }), peer('B', { epoch: 3, master: 'M' })])
      expect(r.s.master).toBe('M')
      const rogue = peer('R', { role: 'master', epoch: big })
      r = tick(r.s, 200, [peer('M', { role: 'master', epoch: 3 }), peer('B', { epoch: 3, master: 'M' }), rogue])
      expect(r.fx).toEqual([{ type: 'epoch-refused', peer: 'R', epoch: big, own: 3 }])
      expect([r.s.master, r.s.masterEpoch, r.s.epoch]).toEqual(['M', 3, 3])
      r = tick(r.s, 300, [peer('M', { role: 'master', epoch: 3 }), peer('B', { epoch: 3, master: 'M' }), rogue])
      expect(r.fx).toEqual([])
      // The real master dies: the claim is above the real epochs, not above the rogue's.
      r = tick(r.s, 400, [peer('B', { epoch: 3, master: 'M' }), rogue])
      expect(r.fx).toContainEqual({ type: 'persist-epoch', epoch: 4, claim: true })
    })

    it('a master whose epoch is refused does not depose this one', () => {
      let s = initElection(cfg('A'), 0, 0)
      s = tick(s, 2000, []).s
      s = stepElection(s, { type: 'persisted', epoch: 1, live: [] }).state
      expect(s.role).toBe('master')
      const r = tick(s, 2100, [peer('R', { role: 'master', epoch: 1 + MAX_EPOCH_STEP + 1 }), peer('B', { epoch: 1 })])
      expect(r.s.role).toBe('master')
      expect(r.fx).toEqual([{ type: 'epoch-refused', peer: 'R', epoch: 2 + MAX_EPOCH_STEP, own: 1 }])
    })
  })

  describe('stickiness on heal: the master more peers follow wins, then the higher epoch', () => {
    const m = (peerId: string, epoch: number): Candidate => peer(peerId, { role: 'master', epoch, master: peerId })
    const f = (peerId: string, master: string, epoch: number): Candidate => peer(peerId, { epoch, master })
    const table: Array<{ name: string, live: Candidate[], winner: string }> = [
      { name: 'a lone peer at a higher epoch against a master followed by two', live: [m('A', 1), f('B', 'A', 1), f('D', 'A', 1), m('C', 2)], winner: 'A' },
      { name: '3/2: the side of three wins though the other claimed later', live: [m('A', 1), f('B', 'A', 1), f('D', 'A', 1), m('C', 2), f('E', 'C', 2)], winner: 'A' },
      { name: '2/2: the same support, the higher epoch wins', live: [m('A', 1), f('B', 'A', 1), m('C', 2), f('E', 'C', 2)], winner: 'C' },
      { name: 'a forged master heartbeat at a higher epoch has no followers', live: [m('A', 3), f('B', 'A', 3), f('D', 'A', 3), m('R', 9)], winner: 'A' }
    ]
    for (const c of table) {
      it(c.name, () => {
        const masters = c.live.filter(x => x.role === 'master')
        const [x, y] = masters
        expect(masterWins(x, y, c.live) ? x.peerId : y.peerId).toBe(c.winner)
        expect(masterWins(y, x, c.live) ? y.peerId : x.peerId).toBe(c.winner)
        // Every follower, on either side, and both masters pick the same one.
        for (const self of c.live) {
          let s = initElection(cfg(self.peerId), self.role === 'master' ? self.epoch - 1 : self.epoch, 0)
          if (self.role === 'master') {
            s = tick(s, 2000, []).s
            s = stepElection(s, { type: 'persisted', epoch: self.epoch, live: [] }).state
            expect(s.role).toBe('master')
          } else {
            // Before the heal it follows its own side's master.
            s = tick(s, 2500, c.live.filter(p => p.peerId === self.master)).s
            expect(s.master).toBe(self.master)
          }
          const r = tick(s, 3000, c.live.filter(p => p.peerId !== self.peerId))
          expect(r.s.master, `as seen by ${self.peerId}`).toBe(c.winner)
        }
      })
    }
  })
})
