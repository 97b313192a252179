import { describe, expect, it } from 'vitest'
import type { Heartbeat } from '../../src/node/heartbeat.ts'
import { initMembership, liveMembers, stepMembership, type MembershipState } from '../../src/node/membership.ts'

function hb (peerId: string, seq: number, over: Partial<Heartbeat> = {}): Heartbeat {
  return {
    v: 1, peerId, name: peerId, incarnation: 1, seq, role: 'follower', epoch: 0, master: null, eligible: true, replicaPos: 0,
    load: { cores: 2, freeSlots: 2, busyTiles: 0, freeMem: 1e9, tileSpeed: 0 }, arch: 'x64', platform: 'linux', version: '0.1.0', addrs: [], ...over
  }
}

const start = (): MembershipState => initMembership({ self: 'S', deadAfterMs: 2000, forgetAfterMs: 60_000 })

describe('membership', () => {
  it('reports a join once and keeps the latest heartbeat', () => {
    let r = stepMembership(start(), { type: 'heartbeat', hb: hb('A', 1), now: 0 })
    expect(r.effects).toEqual([{ type: 'joined', peer: 'A', hb: hb('A', 1) }])
    r = stepMembership(r.state, { type: 'heartbeat', hb: hb('A', 2, { epoch: 3 }), now: 500 })
    expect(r.effects).toEqual([])
    expect(liveMembers(r.state)[0].epoch).toBe(3)
  })

  it('ignores its own heartbeats and replays of older ones', () => {
    let r = stepMembership(start(), { type: 'heartbeat', hb: hb('S', 1), now: 0 })
    expect(r.state.members.size).toBe(0)
    r = stepMembership(r.state, { type: 'heartbeat', hb: hb('A', 5, { epoch: 5 }), now: 0 })
    r = stepMembership(r.state, { type: 'heartbeat', hb: hb('A', 4, { epoch: 4 }), now: 1000 })
    expect(r.state.members.get('A')?.hb.epoch).toBe(5)
    expect(r.state.members.get('A')?.lastSeen).toBe(0)
    // A restarted peer (higher incarnation) starts its seq again.
    r = stepMembership(r.state, { type: 'heartbeat', hb: hb('A', 1, { incarnation: 2, epoch: 6 }), now: 1000 })
    expect(r.state.members.get('A')?.hb.epoch).toBe(6)
  })

  it('declares a silent peer dead only after the timeout, by its heartbeats', () => {
    let r = stepMembership(start(), { type: 'heartbeat', hb: hb('A', 1), now: 0 })
    r = stepMembership(r.state, { type: 'tick', now: 2000 })
    expect(r.effects).toEqual([])
    r = stepMembership(r.state, { type: 'tick', now: 2001 })
    expect(r.effects).toEqual([{ type: 'left', peer: 'A', reason: 'timeout' }])
    expect(liveMembers(r.state)).toEqual([])
    r = stepMembership(r.state, { type: 'tick', now: 2500 })
    expect(r.effects).toEqual([])
    r = stepMembership(r.state, { type: 'heartbeat', hb: hb('A', 9), now: 3000 })
    expect(r.effects.map(e => e.type)).toEqual(['joined'])
  })

  it('a leaving heartbeat removes the peer at once; dead peers are forgotten later', () => {
    let r = stepMembership(start(), { type: 'heartbeat', hb: hb('A', 1), now: 0 })
    r = stepMembership(r.state, { type: 'heartbeat', hb: hb('A', 2, { role: 'leaving' }), now: 100 })
    expect(r.effects).toEqual([{ type: 'left', peer: 'A', reason: 'leaving' }])
    expect(r.state.members.get('A')?.alive).toBe(false)
    r = stepMembership(r.state, { type: 'tick', now: 60_101 })
    expect(r.state.members.has('A')).toBe(false)
  })
})
