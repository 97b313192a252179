// Heartbeats on their own protocol, with real peers on 127.0.0.1: the star (followers tell the master, the
// master relays everyone), its fall back to everyone-to-everyone when the master goes, relays checked by
// signature, and a link that survives its connection closing while another stays open.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { createLibp2p, type Libp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@libp2p/yamux'
import type { PrivateKey } from '@libp2p/interface'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { SwarmPeer } from '../../src/node/peer.ts'
import { HEARTBEAT_PROTOCOL, HeartbeatService } from '../../src/node/heartbeat-protocol.ts'
import { heartbeatText, type Heartbeat } from '../../src/node/heartbeat.ts'

let root: string
let peers: SwarmPeer[] = []
const nodes: Libp2p[] = []
const OPTS = { heartbeatMs: 200, deadAfterMs: 1000 }

beforeAll(async () => { root = await mkdtemp(join(tmpdir(), 'swarm-hb-')) })
afterEach(async () => {
  await Promise.all(peers.map(async p => { await p.kill() }))
  peers = []
  await Promise.all(nodes.splice(0).map(async n => { await n.stop() }))
})
afterAll(async () => { await rm(root, { recursive: true, force: true }) })

async function peer (name: string): Promise<SwarmPeer> {
  const p = new SwarmPeer({ dataDir: join(root, `${name}-${Math.random().toString(36).slice(2)}`), listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, name, ...OPTS })
  await p.start()
  peers.push(p)
  return p
}

/** Polls `cond` until it holds: bounded in time (ms) and in count. */
async function until (what: string, cond: () => boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms
  for (let i = 0; i < 10_000 && Date.now() < end; i++) {
    if (cond()) return
    await new Promise(resolve => setTimeout(resolve, 25))
  }
  if (!cond()) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
}

/** Every peer in `ps` knows all the others alive and follows one master. */
const formed = (ps: SwarmPeer[]): boolean => {
  const master = ps[0].master
  return master != null && ps.every(p => p.master === master && p.liveView().length === ps.length - 1)
}

function hbOf (peerId: string, seq: number, over: Partial<Heartbeat> = {}): Heartbeat {
  return {
    v: 1, peerId, name: 'raw', incarnation: 1, seq, role: 'joining', epoch: 0, master: null, eligible: false, replicaPos: 0,
    load: { cores: 1, freeSlots: 0, busyTiles: 0, freeMem: 0, tileSpeed: 0 }, arch: 'x64', platform: 'linux', version: '0', addrs: [], ...over
  }
}

async function signed (key: PrivateKey, hb: Heartbeat): Promise<{ hb: string, sig: string }> {
  const text = heartbeatText(hb)
  return { hb: text, sig: Buffer.from(await key.sign(new TextEncoder().encode(text))).toString('base64') }
}

describe('heartbeats', { timeout: 120_000 }, () => {
  it('with a master, followers hear each other through its relay; when it dies they speak directly and elect', async () => {
    const ps = [await peer('a')]
    for (const n of ['b', 'c', 'd']) {
      const p = await peer(n)
      p.addKnownPeer(ps[0].peerId, ps[0].addrs())
      ps.push(p)
    }
    await until('one master known by all', () => formed(ps))
    const master = ps.find(p => p.isMaster)!
    const followers = ps.filter(p => p !== master)
    // In the star a follower hears only the master directly; it knows the other followers by the master's relay.
    await until('followers know each other through the relay', () => followers.every(f =>
      f.heardVia(master.peerId) === 'direct' && followers.every(o => o === f || f.heardVia(o.peerId) === 'relay')))
    expect(followers.every(f => master.heardVia(f.peerId) === 'direct')).toBe(true)
    // Idle, the master relays a member's signed heartbeat again only when it changes in substance (and in every
    // FULL_DIGEST_EVERY-th frame); in between it vouches for it, which keeps it alive for many deadAfterMs.
    const f0 = followers[0]
    const base = { ...f0.heard }
    await until('30 vouches heard by a follower', () => f0.heard.seen - base.seen >= 30)
    const taken = f0.heard.relayed - base.relayed
    expect(taken, `relayed heartbeats taken beside ${f0.heard.seen - base.seen} vouches`).toBeLessThan((f0.heard.seen - base.seen) / 2)
    expect(followers.every(f => f.liveView().length === ps.length - 1 && followers.every(o => o === f || f.heardVia(o.peerId) === 'relay'))).toBe(true)

    await master.kill()
    peers = peers.filter(p => p !== master)
    await until('a new master among the survivors', () => formed(followers) && followers.some(p => p.isMaster))
    expect(new Set(followers.map(p => p.master)).size).toBe(1)
    expect(followers[0].epoch).toBeGreaterThan(0)
  })

  it('a relayed heartbeat counts only with the signature of the peer it speaks for', async () => {
    const target = await peer('t')
    const rawKey = await generateKeyPair('Ed25519')
    const node = await createLibp2p({ privateKey: rawKey, addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] }, transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()] })
    nodes.push(node)
    const service = new HeartbeatService({ libp2p: node }, { onFrame: () => {} })
    await service.start()
    const rawId = node.peerId.toString()
    const third = await generateKeyPair('Ed25519')
    const thirdId = peerIdFromPrivateKey(third).toString()
    const forgedKey = await generateKeyPair('Ed25519')
    const forgedId = peerIdFromPrivateKey(forgedKey).toString()
    await node.dial(target.addrs()[0])
    const own = await signed(rawKey, hbOf(rawId, 1))
    const good = await signed(third, hbOf(thirdId, 1))
    // Speaks for forgedId but is signed by the raw peer's own key.
    const forged = await signed(rawKey, hbOf(forgedId, 1))
    // Speaks for the target itself, and for the sender (whose own heartbeat must come from its connection).
    const self = await signed(rawKey, hbOf(target.peerId, 1))
    void service.send(target.libp2p.peerId, { v: 1, ...own, relayed: [{ ...forged, ageMs: 0 }, { ...good, ageMs: 10 }, { ...self, ageMs: 0 }] })
    await until('the raw peer and the well-signed relay are heard', () => target.heardVia(rawId) === 'direct' && target.heardVia(thirdId) === 'relay')
    expect(target.heardVia(forgedId)).toBeUndefined()
    expect(target.liveView().map(h => h.peerId).sort()).toEqual([rawId, thirdId].sort())
  })

  it('a heartbeat that speaks for another peer than its connection is refused', async () => {
    const target = await peer('t2')
    const rawKey = await generateKeyPair('Ed25519')
    const other = await generateKeyPair('Ed25519')
    const node = await createLibp2p({ privateKey: rawKey, addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] }, transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()] })
    nodes.push(node)
    const service = new HeartbeatService({ libp2p: node }, { onFrame: () => {} })
    await service.start()
    const warnings: string[] = []
    target.on('warning', w => { warnings.push(w.message) })
    await node.dial(target.addrs()[0])
    const otherId = peerIdFromPrivateKey(other).toString()
    void service.send(target.libp2p.peerId, { v: 1, ...await signed(other, hbOf(otherId, 1)) })
    await until('the refusal', () => warnings.some(m => m.includes('claims to be from')))
    expect(target.heardVia(otherId)).toBeUndefined()
  })

  it('a link whose connection closes while a second one stays open keeps carrying heartbeats', async () => {
    const a = await peer('la')
    const b = await peer('lb')
    b.addKnownPeer(a.peerId, a.addrs())
    await until('a and b hear each other', () => formed([a, b]))
    const toB = b.libp2p.peerId
    await a.libp2p.dial(b.addrs()[0], { force: true })
    await until('two connections', () => a.libp2p.getConnections(toB).length >= 2)
    // Close the connection that carries a's heartbeat stream to b; the other one stays open.
    const carrier = (): ReturnType<typeof a.libp2p.getConnections>[number] | undefined => a.libp2p.getConnections(toB)
      .find(c => c.streams.some(s => s.protocol === HEARTBEAT_PROTOCOL && s.direction === 'outbound'))
    await until('the heartbeat stream', () => carrier() != null)
    await carrier()!.close()
    expect(a.libp2p.getConnections(toB).length).toBeGreaterThanOrEqual(1)
    const seqOf = (): number => b.liveView().find(h => h.peerId === a.peerId)?.seq ?? -1
    const seq0 = seqOf()
    await until('new heartbeats from a after the close', () => seqOf() >= seq0 + 5)
  })
})
