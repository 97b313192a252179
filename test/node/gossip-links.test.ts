import { afterEach, describe, expect, it } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { carriesGossip, GossipLinks, isDeaf } from '../../src/node/gossip-links.ts'
import { createSwarmLibp2p, type SwarmLibp2p } from '../../src/node/libp2p.ts'

describe('isDeaf', () => {
  const link = { peer: 'A', connectionAgesMs: [5000], member: true, hasGossipStream: false }

  it('finds a member connected for a while with no gossip stream', () => {
    expect(isDeaf(link, 1000)).toBe(true)
  })

  it('leaves alone links that are fine, young, not members or not connected', () => {
    expect([
      { ...link, peer: 'ok', hasGossipStream: true },
      { ...link, peer: 'young', connectionAgesMs: [300] },
      { ...link, peer: 'client', member: false },
      { ...link, peer: 'gone', connectionAgesMs: [] }
    ].filter(l => isDeaf(l, 1000))).toEqual([])
  })

  it('counts the oldest connection: a new duplicate does not hide an old deaf link', () => {
    expect(isDeaf({ ...link, connectionAgesMs: [10, 4000] }, 1000)).toBe(true)
  })
})

describe('GossipLinks (two libp2p peers on 127.0.0.1)', () => {
  const nodes: SwarmLibp2p[] = []
  const repairs: GossipLinks[] = []
  afterEach(async () => {
    for (const r of repairs.splice(0)) r.stop()
    await Promise.all(nodes.splice(0).map(async n => { await n.stop() }))
  })

  const node = async (): Promise<SwarmLibp2p> => {
    const n = await createSwarmLibp2p({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false })
    nodes.push(n)
    n.services.pubsub.subscribe('t')
    return n
  }
  const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

  it('reopens the gossip stream when the duplicate connection that carried it closes', async () => {
    const a = await node()
    const b = await node()
    const links = new GossipLinks(a, { isMember: () => true, now: Date.now, minAgeMs: 200 })
    links.start()
    repairs.push(links)
    let got = 0
    b.services.pubsub.addEventListener('message', () => { got++ })

    // Two peers that dial each other at once end up with two connections.
    await Promise.all([a.dial(b.getMultiaddrs()[0]), b.dial(a.getMultiaddrs()[0])])
    for (let i = 0; i < 40 && !a.getConnections().some(c => carriesGossip(a, c)); i++) await sleep(50)
    const conns = a.getConnections(b.peerId)
    expect(conns).toHaveLength(2)
    const carrier = conns.find(c => carriesGossip(a, c))
    expect(carrier).toBeDefined()
    await carrier?.close()
    expect(a.getConnections(b.peerId)).toHaveLength(1)

    // Without the repair the remaining connection carries no gossip from a, and b hears nothing.
    for (let i = 0; i < 40 && got === 0; i++) {
      await a.services.pubsub.publish('t', new Uint8Array([i]))
      await sleep(50)
    }
    expect(got).toBeGreaterThan(0)
    expect(a.getConnections(b.peerId).some(c => carriesGossip(a, c))).toBe(true)
  })
})
