import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SwarmPeer } from '../../src/node/peer.ts'
import { connectClient, SwarmKeyMismatchError } from '../../src/node/client.ts'
import { queryStatus } from '../../src/transfer/status.ts'
import { generateSwarmKey, parseSwarmKey, resolveSwarmKey, SwarmKeyError } from '../../src/node/swarm-key.ts'

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
    // A peer's warning about a mismatched key is best effort: an open peer dialling a keyed one usually
    // just times out (the keyed side waits for a nonce), which cannot be told from an unreachable host.
    // When it is said, it is said once.
    expect(warnings.get(open)?.filter(m => m.includes(a.peerId) && m.includes('uses a swarm key')).length ?? 0).toBeLessThanOrEqual(1)
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
