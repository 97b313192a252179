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

describe('membership through a relay (the star)', () => {
  it('a relayed heartbeat counts as heard when the relay says, and is marked relayed', () => {
    const r = stepMembership(start(), { type: 'heartbeat', hb: hb('A', 1), now: 700, relayed: true })
    expect(r.effects.map(e => e.type)).toEqual(['joined'])
    expect(r.state.members.get('A')).toMatchObject({ lastSeen: 700, relayed: true, alive: true })
    const direct = stepMembership(r.state, { type: 'heartbeat', hb: hb('A', 2), now: 900 })
    expect(direct.state.members.get('A')?.relayed).toBe(false)
  })

  it('when the relay goes quiet, members known only through it get their own time to speak, not the relay\'s silence', () => {
    let s = stepMembership(start(), { type: 'heartbeat', hb: hb('A', 1), now: 0, relayed: true }).state
    s = stepMembership(s, { type: 'heartbeat', hb: hb('B', 1), now: 0 }).state
    s = stepMembership(s, { type: 'relay-lost', heardAt: 1500 }).state
    expect(s.members.get('A')?.lastSeen).toBe(1500)
    expect(s.members.get('B')?.lastSeen).toBe(0) // heard directly: its silence is its own
    const r = stepMembership(s, { type: 'tick', now: 2500 })
    expect(r.effects).toEqual([{ type: 'left', peer: 'B', reason: 'timeout' }])
    // A that never speaks up directly is still found dead, deadAfterMs after the relay's last word.
    expect(stepMembership(r.state, { type: 'tick', now: 3501 }).effects).toEqual([{ type: 'left', peer: 'A', reason: 'timeout' }])
  })

  it('relay-lost never makes a member older, and leaves the dead dead', () => {
    let s = stepMembership(start(), { type: 'heartbeat', hb: hb('A', 1), now: 2000, relayed: true }).state
    s = stepMembership(s, { type: 'heartbeat', hb: hb('C', 1), now: 0, relayed: true }).state
    s = stepMembership(s, { type: 'tick', now: 2500 }).state
    expect(s.members.get('C')?.alive).toBe(false)
    const after = stepMembership(s, { type: 'relay-lost', heardAt: 1000 }).state
    expect(after.members.get('A')?.lastSeen).toBe(2000)
    expect(after.members.get('C')).toMatchObject({ alive: false, lastSeen: 0 })
  })
})

describe('membership: members the relay vouches for (seen)', () => {
  it('keeps a live member alive with the heartbeat it has; never makes it older; revives nobody; unknown peers are ignored', () => {
    let s = stepMembership(start(), { type: 'heartbeat', hb: hb('A', 1, { replicaPos: 7 }), now: 0, relayed: true }).state
    s = stepMembership(s, { type: 'heartbeat', hb: hb('C', 1), now: 0, relayed: true }).state
    for (let t = 500; t <= 6000; t += 500) {
      s = stepMembership(s, { type: 'seen', peer: 'A', heardAt: t - 100 }).state
      const r = stepMembership(s, { type: 'tick', now: t })
      s = r.state
      expect(r.effects.filter(e => e.peer === 'A'), `at ${t} ms`).toEqual([])
    }
    expect(s.members.get('A')).toMatchObject({ alive: true, lastSeen: 5900, relayed: true, hb: { seq: 1, replicaPos: 7 } })
    expect(stepMembership(s, { type: 'seen', peer: 'A', heardAt: 3000 }).state.members.get('A')?.lastSeen).toBe(5900)
    // C was vouched for by nobody and died; a vouch does not bring it back, nor add a peer never heard.
    expect(s.members.get('C')?.alive).toBe(false)
    const after = stepMembership(stepMembership(s, { type: 'seen', peer: 'C', heardAt: 6000 }).state, { type: 'seen', peer: 'Z', heardAt: 6000 }).state
    expect(after.members.get('C')).toMatchObject({ alive: false, lastSeen: 0 })
    expect(after.members.has('Z')).toBe(false)
  })
})

describe('membership under load: a slow peer is not a dead one', () => {
  const ticking = (): MembershipState => initMembership({ self: 'S', deadAfterMs: 2000, forgetAfterMs: 60_000, tickMs: 100 })
  const tick = (s: MembershipState, now: number) => stepMembership(s, { type: 'tick', now })

  it('time this peer itself was stalled is not silence: heartbeats still queued in its sockets count', () => {
    let s = stepMembership(ticking(), { type: 'heartbeat', hb: hb('A', 1), now: 0 }).state
    for (let t = 100; t <= 1000; t += 100) s = tick(s, t).state
    // This peer's event loop is blocked for 3 s; the first tick after it comes before A's queued heartbeat is read.
    const r = tick(s, 4000)
    expect(r.effects).toEqual([])
    const after = stepMembership(r.state, { type: 'heartbeat', hb: hb('A', 2), now: 4001 })
    expect(liveMembers(after.state).map(h => h.peerId)).toEqual(['A'])
  })

  it('a peer that stays silent after our stall is still found dead, deadAfterMs of running time later', () => {
    let s = stepMembership(ticking(), { type: 'heartbeat', hb: hb('A', 1), now: 0 }).state
    s = tick(s, 100).state
    s = tick(s, 3100).state // a 3 s gap: 2.8 s of it beyond two tick intervals is our stall
    let left: string[] = []
    for (let t = 3200; t <= 6000 && left.length === 0; t += 100) {
      const r = tick(s, t)
      s = r.state
      left = r.effects.flatMap(e => e.type === 'left' ? [`${e.peer}@${t}`] : [])
    }
    // Silence that this peer could observe: t - 2800 > 2000, so the first tick after 4800.
    expect(left).toEqual(['A@4900'])
  })

  it('a peer that reports event-loop lag gets twice that much more time, capped', () => {
    let s = stepMembership(ticking(), { type: 'heartbeat', hb: hb('A', 1, { lagMs: 1500 }), now: 0 }).state
    s = stepMembership(s, { type: 'heartbeat', hb: hb('B', 1, { lagMs: 100_000 }), now: 0 }).state
    s = stepMembership(s, { type: 'heartbeat', hb: hb('C', 1), now: 0 }).state
    const deaths: Record<string, number> = {}
    for (let t = 100; t <= 10_000; t += 100) {
      const r = tick(s, t)
      s = r.state
      for (const e of r.effects) if (e.type === 'left') deaths[e.peer] = t
    }
    // C (no lag): 2 s; A: 2 s + 2 x 1.5 s; B: capped at 2 s + 3 x 2 s.
    expect(deaths).toEqual({ C: 2100, A: 5100, B: 8100 })
  })
})
