import { afterEach, describe, expect, it } from 'vitest'
import { SimSwarm } from './harness.ts'

let sim: SimSwarm | undefined
afterEach(async () => { await sim?.close(); sim = undefined })

async function swarm (n: number): Promise<SimSwarm> {
  sim = new SimSwarm()
  await sim.init()
  await sim.add(n)
  return sim
}

describe('sim: election at default timings (heartbeat 500 ms, dead after 2 s)', () => {
  it('5 peers agree on exactly one master within 3 s of start', async () => {
    const s = await swarm(5)
    const { value: m, ms } = await s.waitFor('one agreed master', () => s.agreedMaster(), 3000)
    s.note(`master ${m.index} agreed after ${ms} ms`)
    expect(s.masters()).toHaveLength(1)
    expect(m.peer!.epoch).toBeGreaterThanOrEqual(1)
  })

  it('kill the master: the survivors agree on a new master with a higher epoch within 2.5 s', async () => {
    const s = await swarm(5)
    const { value: old } = await s.waitFor('first master', () => s.agreedMaster(), 3000)
    const oldEpoch = old.peer!.epoch
    await s.kill(old.index)
    const { value: next, ms } = await s.waitFor('new master', () => {
      const m = s.agreedMaster()
      return m != null && m.peer!.epoch > oldEpoch ? m : null
    }, 2500)
    s.note(`failover took ${ms} ms`)
    expect(next.index).not.toBe(old.index)
    expect(s.running()).toHaveLength(4)
  })

  it('partition 3/2 then heal: never two masters at one epoch, one master within 3 s of healing', async () => {
    const s = await swarm(5)
    const { value: first } = await s.waitFor('first master', () => s.agreedMaster(), 3000)
    // Put the master on the minority side, so both sides have work to do.
    const others = s.peers.map(p => p.index).filter(i => i !== first.index)
    const minority = [first.index, others[0]]
    const majority = others.slice(1)
    await s.partition([majority, minority])
    const sideA = majority.map(i => s.peers[i])
    const sideB = minority.map(i => s.peers[i])
    await s.waitFor('a master on each side', () => s.agreedMaster(sideA) != null && s.agreedMaster(sideB) != null, 4000)
    expect(s.agreedMaster(sideB)!.index).toBe(first.index) // sticky on its own side
    expect(s.agreedMaster(sideA)!.peer!.epoch).toBeGreaterThan(first.peer!.epoch)
    s.heal()
    const { value: m, ms } = await s.waitFor('one master after heal', () => s.agreedMaster(), 3000)
    s.note(`converged ${ms} ms after heal`)
    expect(s.masters()).toEqual([m])
    expect(sideA).toContain(m) // the higher epoch won
  })

  it('a peer joining does not change the master', async () => {
    const s = await swarm(3)
    const { value: m } = await s.waitFor('first master', () => s.agreedMaster(), 3000)
    const epoch = m.peer!.epoch
    await s.add(2)
    await s.waitFor('joiners follow the master', () => s.agreedMaster(), 4000)
    // Keep watching for a while: no churn.
    for (let i = 0; i < 15; i++) {
      await new Promise(resolve => setTimeout(resolve, 100))
      expect(s.agreedMaster()).toBe(m)
    }
    expect(m.peer!.epoch).toBe(epoch)
  })

  it('a killed peer restarted on its data dir keeps its PeerId and epoch, and rejoins', async () => {
    const s = await swarm(3)
    const { value: m } = await s.waitFor('first master', () => s.agreedMaster(), 3000)
    const follower = s.peers.find(p => p !== m)!
    const id = follower.peerId
    await s.restart(follower.index)
    expect(follower.peerId).toBe(id)
    await s.waitFor('restarted peer follows the same master', () => s.agreedMaster() === m, 4000)
    // The master itself: restarted, it comes back with an epoch at least as high as before.
    const before = m.peer!.epoch
    await s.restart(m.index)
    const { value: after } = await s.waitFor('a master again', () => s.agreedMaster(), 6000)
    expect(after.peer!.epoch).toBeGreaterThan(before)
  })
})
