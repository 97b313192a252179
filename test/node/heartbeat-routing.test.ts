import { describe, expect, it } from 'vitest'
import { lateAfterMs, routeHeartbeat, type RoutePeer, type RouteView } from '../../src/node/heartbeat-routing.ts'

const view = (over: Partial<RouteView> = {}): RouteView => ({ isMaster: false, master: 'M', masterSilentMs: 100, lateAfterMs: 750, leaving: false, ...over })
const peers = (...list: Array<[string, string | null | undefined]>): RoutePeer[] => list.map(([peer, follows]) => ({ peer, follows }))
const swarm = peers(['M', 'M'], ['A', 'M'], ['B', 'M'])

describe('heartbeat routing', () => {
  it('a master speaks to every member and relays them all', () => {
    expect(routeHeartbeat(view({ isMaster: true, master: 'S' }), swarm)).toEqual({ to: ['M', 'A', 'B'], relay: 'all', relayTo: ['M', 'A', 'B'], star: false })
  })

  it('a follower whose master is heard speaks to the master alone', () => {
    expect(routeHeartbeat(view(), swarm)).toEqual({ to: ['M'], relay: 'master', relayTo: [], star: true })
  })

  it('a follower also speaks to members outside the star (never heard, another master, none), with the master\'s heartbeat', () => {
    const r = routeHeartbeat(view(), peers(['M', 'M'], ['A', 'M'], ['J', undefined], ['X', 'Y'], ['Z', null]))
    expect(r).toEqual({ to: ['M', 'J', 'X', 'Z'], relay: 'master', relayTo: ['J', 'X', 'Z'], star: true })
  })

  it('a master late by more than lateAfterMs, or never heard, or not connected: everyone hears everyone', () => {
    const all = { to: ['M', 'A', 'B'], relay: 'none', relayTo: [], star: false }
    expect(routeHeartbeat(view({ masterSilentMs: 751 }), swarm)).toEqual(all)
    expect(routeHeartbeat(view({ masterSilentMs: 750 }), swarm).star).toBe(true)
    expect(routeHeartbeat(view({ masterSilentMs: undefined }), swarm)).toEqual(all)
    expect(routeHeartbeat(view({ master: null }), swarm)).toEqual(all)
    expect(routeHeartbeat(view({ master: 'Q' }), swarm)).toEqual(all)
  })

  it('a leaving peer tells everyone at once', () => {
    expect(routeHeartbeat(view({ leaving: true }), swarm)).toEqual({ to: ['M', 'A', 'B'], relay: 'none', relayTo: [], star: false })
  })

  it('the master is late after a heartbeat and a half, well before the 4 heartbeats of the default failure timeout', () => {
    expect(lateAfterMs(500)).toBe(750)
    expect(lateAfterMs(100)).toBe(150)
  })
})
