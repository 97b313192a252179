import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SwarmPeer } from '../../src/node/peer.ts'
import { connectClient, SwarmKeyMismatchError } from '../../src/node/client.ts'
import { queryStatus } from '../../src/transfer/status.ts'
import { generateSwarmKey, parseSwarmKey, probeSwarmKey, resolveSwarmKey, SwarmKeyError } from '../../src/node/swarm-key.ts'
import { createServer, type AddressInfo } from 'node:net'
import { multiaddr } from '@multiformats/multiaddr'

let root: string
const peers: SwarmPeer[] = []
const warnings = new Map<SwarmPeer, string[]>()

async function peer (name: string, key?: string): Promise<SwarmPeer> {
  const p = new SwarmPeer({ dataDir: join(root, name), listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, psk: key == null ? undefined : parseSwarmKey(key, name), heartbeatMs: 100, deadAfterMs: 400 })
  const said: string[] = []
  warnings.set(p, said)
  p.on('warning', (w) => { said.push(w.message) })
  await p.start()
  peers.push(p)
  return p
}

beforeAll(async () => { root = await mkdtemp(join(tmpdir(), 'swarm-key-')) })
afterAll(async () => {
  await Promise.all(peers.map(async p => { await p.kill() }))
  await rm(root, { recursive: true, force: true })
})

async function until (cond: () => boolean, ms: number): Promise<boolean> {
  for (let i = 0; i < ms / 20; i++) {
    if (cond()) return true
    await new Promise(resolve => setTimeout(resolve, 20))
  }
  return cond()
}

describe('swarm key (private network)', () => {
  it('peers with the key connect and hear each other; a peer without it, or with another key, cannot connect', async () => {
    const key = generateSwarmKey()
    const a = await peer('a', key)
    const b = await peer('b', key)
    const open = await peer('open')
    const other = await peer('other', generateSwarmKey())
    for (const p of [b, open, other]) p.addKnownPeer(a.peerId, a.addrs())
    expect(await until(() => a.liveView().some(h => h.peerId === b.peerId), 5000)).toBe(true)
    // Give the intruders the same time and more: they keep redialling and must keep failing.
    await new Promise(resolve => setTimeout(resolve, 1500))
    expect(a.connectedPeers()).toEqual([b.peerId])
    expect(a.liveView().map(h => h.peerId)).toEqual([b.peerId])
    expect(open.connectedPeers()).toEqual([])
    expect(other.connectedPeers()).toEqual([])
    // Nor can they read: no heartbeat of a keyed peer ever reached them.
    expect(open.liveView()).toEqual([])
    expect(other.liveView()).toEqual([])
    // Each intruder is told why, once, by the peer it tried: an open peer's dial to a keyed one usually
    // stalls (the keyed side waits for a nonce), and the address is then asked directly.
    const told = (p: SwarmPeer, says: string): number => warnings.get(p)?.filter(m => m.includes(a.peerId) && m.includes(says)).length ?? 0
    expect(await until(() => told(open, 'uses a swarm key') > 0, 30_000), 'the open peer is told the swarm uses a key').toBe(true)
    expect(await until(() => told(other, 'another key, or none') > 0, 30_000), 'the peer with another key is told').toBe(true)
    await new Promise(resolve => setTimeout(resolve, 1500))
    expect(told(open, 'uses a swarm key')).toBe(1)
    expect(told(other, 'another key, or none')).toBe(1)
  })

  it('a stalled dial is probed: a host that accepts and says nothing is not taken for a keyed swarm; one that sends a nonce is', async () => {
    const silent = createServer(() => {})
    await new Promise<void>(resolve => { silent.listen(0, '127.0.0.1', () => { resolve() }) })
    try {
      const port = (silent.address() as AddressInfo).port
      const far = await peer('far', generateSwarmKey())
      const open = await peer('open-2')
      open.addKnownPeer(far.peerId, [multiaddr(`/ip4/127.0.0.1/tcp/${port}`)])
      // its dials stall (dialTimeoutMs 3 s) and the probe hears nothing: no key is named
      await new Promise(resolve => setTimeout(resolve, 5000))
      expect(warnings.get(open)).toEqual([])
      expect(await probeSwarmKey('127.0.0.1', port, 500)).toBe('silent')
      // A keyed listener as an open dialer meets it when the dial stalls: a nonce whose first byte reads as
      // a length of 127 (the dialer waits for more), then nothing. The probe names the key.
      const nonce = Buffer.alloc(24, 0x7f)
      const keyedLike = createServer((sock) => { sock.write(nonce); sock.on('error', () => {}) })
      await new Promise<void>(resolve => { keyedLike.listen(0, '127.0.0.1', () => { resolve() }) })
      try {
        const open3 = await peer('open-3')
        const kport = (keyedLike.address() as AddressInfo).port
        open3.addKnownPeer(far.peerId, [multiaddr(`/ip4/127.0.0.1/tcp/${kport}`)])
        expect(await until(() => (warnings.get(open3) ?? []).some(m => m.includes('uses a swarm key')), 10_000), 'a stalled dial to a keyed listener is named').toBe(true)
      } finally { keyedLike.close() }
      const m = /\/tcp\/(\d+)/.exec(far.addrs()[0].toString())!
      expect(await probeSwarmKey('127.0.0.1', Number(m[1]), 500)).toBe('keyed')
    } finally { silent.close() }
  })

  it('status needs the key too', async () => {
    const key = generateSwarmKey()
    const a = await peer('s', key)
    const target = a.addrs()[0].toString()
    const withKey = await connectClient({ psk: parseSwarmKey(key, 'k'), peers: [target] })
    try {
      const snap = await queryStatus(withKey.node, withKey.targets[0], 3000)
      expect(snap.respondent).toBe(a.peerId)
    } finally { await withKey.close() }
    // Without the key, or with another, the client is told so at connect, naming the peer and the key.
    await expect(connectClient({ peers: [target] })).rejects.toThrow(SwarmKeyMismatchError)
    await expect(connectClient({ peers: [target] })).rejects.toThrow(new RegExp(`${a.peerId}.*uses a swarm key; pass it with --key`))
    await expect(connectClient({ psk: parseSwarmKey(generateSwarmKey(), 'o'), peers: [target] })).rejects.toThrow(/uses another key, or none/)
    // A key against an open swarm.
    const open = await peer('s-open')
    await expect(connectClient({ psk: parseSwarmKey(key, 'k'), peers: [open.addrs()[0].toString()] })).rejects.toThrow(/uses another key, or none/)
  })

  it('a peer that is down is not taken for a key mismatch: the client connects and the command reports it', async () => {
    const a = await peer('gone')
    const target = a.addrs()[0].toString()
    await a.kill()
    peers.splice(peers.indexOf(a), 1)
    const c = await connectClient({ peers: [target] })
    try {
      await expect(queryStatus(c.node, c.targets[0], 3000)).rejects.not.toThrow(SwarmKeyMismatchError)
    } finally { await c.close() }
  })

  it('refuses a malformed key file with a message naming it', async () => {
    const bad = join(root, 'bad.key')
    await writeFile(bad, 'hello\n')
    await expect(resolveSwarmKey(bad)).rejects.toThrow(SwarmKeyError)
    await expect(resolveSwarmKey(bad)).rejects.toThrow(/bad\.key is not a swarm key/)
    const good = generateSwarmKey()
    expect(await resolveSwarmKey(undefined, { SWARM_KEY: good })).toEqual(parseSwarmKey(good, 'x'))
    expect(await resolveSwarmKey(undefined, {})).toBeUndefined()
  })
})
