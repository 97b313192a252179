// Fuzzes the membership machine (src/node/membership.ts) with random runs of heartbeats (any schema-valid
// one, replayed and reordered), ticks, relay losses and vouches: it never throws, and it changes state only
// by its rules (newer heartbeats only, deaths only after the silence allowed, effects that say exactly
// who joined and who left).
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { initMembership, lagGrace, stepMembership, type MembershipEvent, type MembershipState } from '../../src/node/membership.ts'
import { heartbeatOf } from './samples.ts'
import { fuzz } from './runs.ts'

const SELF = 'self'
const PEERS = ['p1', 'p2', 'p3', SELF]
const DEAD = 2000
const FORGET = 10_000

type Step =
  | { type: 'heartbeat', hb: ReturnType<typeof heartbeatOf> extends fc.Arbitrary<infer H> ? H : never, dt: number, relayed: boolean }
  | { type: 'tick', dt: number }
  | { type: 'relay-lost', back: number }
  | { type: 'seen', peer: string, back: number }

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ type: fc.constant('heartbeat' as const), hb: heartbeatOf({ peerId: fc.constantFrom(...PEERS), incarnation: fc.integer({ min: 0, max: 2 }), seq: fc.integer({ min: 0, max: 8 }) }), dt: fc.integer({ min: 0, max: 1500 }), relayed: fc.boolean() }) },
  { weight: 4, arbitrary: fc.record({ type: fc.constant('tick' as const), dt: fc.oneof(fc.integer({ min: 0, max: 3000 }), fc.integer({ min: 0, max: 20_000 })) }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('relay-lost' as const), back: fc.integer({ min: 0, max: 3000 }) }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('seen' as const), peer: fc.constantFrom(...PEERS, 'stranger'), back: fc.integer({ min: 0, max: 3000 }) }) }
)

const alive = (s: MembershipState): Set<string> => new Set([...s.members].filter(([, m]) => m.alive).map(([id]) => id))

describe('membership machine fuzz', () => {
  it('random runs of events: never throws, and every change follows the rules', () => {
    fc.assert(fc.property(fc.array(step, { maxLength: 60 }), fc.boolean(), (steps, withTick) => {
      let state = initMembership({ self: SELF, deadAfterMs: DEAD, forgetAfterMs: FORGET, ...(withTick ? { tickMs: 100 } : {}) })
      let now = 1_000_000
      for (const s of steps) {
        let event: MembershipEvent
        if (s.type === 'heartbeat') { now += s.dt; event = { type: 'heartbeat', hb: s.hb, now, relayed: s.relayed } }
        else if (s.type === 'tick') { now += s.dt; event = { type: 'tick', now } }
        else if (s.type === 'relay-lost') event = { type: 'relay-lost', heardAt: now - s.back }
        else event = { type: 'seen', peer: s.peer, heardAt: now - s.back }

        const before = state
        const r = stepMembership(before, event)
        state = r.state
        const was = alive(before)
        const is = alive(state)
        expect(state.members.has(SELF)).toBe(false)

        // Effects say exactly who joined and who left.
        const joined = r.effects.filter(e => e.type === 'joined').map(e => e.peer).sort()
        const left = r.effects.filter(e => e.type === 'left').map(e => e.peer).sort()
        expect(joined).toEqual([...is].filter(p => !was.has(p)).sort())
        expect(left).toEqual([...was].filter(p => !is.has(p)).sort())

        for (const [id, m] of state.members) {
          const prev = before.members.get(id)
          // A member's (incarnation, seq) never goes back.
          if (prev != null) expect(m.hb.incarnation > prev.hb.incarnation || (m.hb.incarnation === prev.hb.incarnation && m.hb.seq >= prev.hb.seq)).toBe(true)
          // Only a heartbeat adds a member or brings one back.
          if (prev == null || (!prev.alive && m.alive)) expect(event.type).toBe('heartbeat')
        }

        if (event.type === 'heartbeat') {
          const prev = before.members.get(event.hb.peerId)
          const stale = prev != null && (event.hb.incarnation < prev.hb.incarnation || (event.hb.incarnation === prev.hb.incarnation && event.hb.seq <= prev.hb.seq))
          if (event.hb.peerId === SELF || stale) {
            // A replayed, reordered or own heartbeat changes nothing at all.
            expect(state).toBe(before)
            expect(r.effects).toEqual([])
          } else {
            const m = state.members.get(event.hb.peerId)!
            expect(m.hb).toBe(event.hb)
            expect(m.lastSeen).toBe(now)
            expect(m.alive).toBe(event.hb.role !== 'leaving')
          }
          // Nobody else moves.
          for (const [id, m] of before.members) if (id !== event.hb.peerId) expect(state.members.get(id)).toBe(m)
        } else if (event.type === 'tick') {
          for (const p of left) {
            const m = before.members.get(p)!
            expect(r.effects.find(e => e.peer === p)).toEqual({ type: 'left', peer: p, reason: 'timeout' })
            // Dead only after the silence it is allowed (stalls of this peer only ever add to it).
            expect(now - m.lastSeen).toBeGreaterThan(DEAD + lagGrace(m.hb, DEAD))
          }
          for (const [id, m] of before.members) {
            if (!state.members.has(id)) expect(!m.alive && now - m.lastSeen > FORGET).toBe(true)
          }
        } else {
          // Relay losses and vouches move times only, never who is alive, and add nobody.
          expect(r.effects).toEqual([])
          expect([...state.members.keys()]).toEqual([...before.members.keys()])
          for (const [id, m] of state.members) {
            const prev = before.members.get(id)!
            expect(m.alive).toBe(prev.alive)
            expect(m.hb).toBe(prev.hb)
            expect(m.lastSeen).toBeGreaterThanOrEqual(prev.lastSeen)
            if (!prev.alive) expect(m).toBe(prev)
          }
        }
      }
    }), fuzz(400))
  })
})
