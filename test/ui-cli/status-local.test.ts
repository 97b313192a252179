// `swarm status` asks a peer on this device first (it asked whichever peer mDNS found first), and shows a
// peer's tile speed with its unit: tiles per second over its last minute (Worker.tileSpeed).
import { describe, expect, it } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import type { PeerId } from '@libp2p/interface'
import { localAddresses, localFirst, onThisDevice, renderStatus } from '../../src/ui-cli/actions/status.ts'
import type { StatusSnapshot } from '../../src/transfer/status.ts'

// No traffic: the addresses are only compared. 192.0.2.0/24 is TEST-NET-1, never a real interface.
const FAR = '/ip4/192.0.2.10/tcp/4001'

describe('status: a peer on this device first', () => {
  it('of two --peer targets, the one on 127.0.0.1 comes first, whatever the order given', async () => {
    const far = multiaddr(FAR)
    const near = multiaddr('/ip4/127.0.0.1/tcp/4002')
    const none = { peerStore: { get: async () => { throw new Error('not used') } } }
    expect((await localFirst(none as never, [far, near])).map(String)).toEqual([near.toString(), far.toString()])
    expect((await localFirst(none as never, [near, far])).map(String)).toEqual([near.toString(), far.toString()])
  })

  it('of two peers found by mDNS, the one announcing an address of this device\'s interfaces comes first', async () => {
    const a = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    const b = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    const local = localAddresses({ eth0: [{ address: '10.1.2.3', netmask: '255.0.0.0', family: 'IPv4', mac: '00:00:00:00:00:00', internal: false, cidr: '10.1.2.3/8' }] })
    const book = new Map<string, string[]>([[a.toString(), [FAR]], [b.toString(), ['/ip4/10.1.2.3/tcp/4001', '/ip6/fe80::1/tcp/4001']]])
    const peerStore = { get: async (id: PeerId) => ({ addresses: (book.get(id.toString()) ?? []).map(s => ({ multiaddr: multiaddr(s) })) }) }
    const order = await localFirst({ peerStore } as never, [a, b], local)
    expect(order.map(String)).toEqual([b.toString(), a.toString()])
    expect(onThisDevice([FAR], local)).toBe(false)
    expect(onThisDevice(['/ip6/::1/tcp/1'], local)).toBe(true)
    // The real interfaces: loopback is always this device.
    expect(localAddresses().has('127.0.0.1')).toBe(true)
  })

  it('the table shows each peer\'s tile speed in tiles/s', () => {
    const snap: StatusSnapshot = {
      respondent: 'p1', master: 'p1', epoch: 1,
      peers: [{ peerId: 'p1', name: 'pc', role: 'master', epoch: 1, master: 'p1', eligible: true, alive: true, self: true, addrs: ['/ip4/127.0.0.1/tcp/1'], arch: 'x64', platform: 'linux', version: '0', load: { cores: 4, freeSlots: 3, busyTiles: 1, freeMem: 1e9, tileSpeed: 2.5 }, lastSeenMsAgo: 0 }]
    }
    const out = renderStatus(snap)
    expect(out).toContain('2.50 tiles/s')
    expect(out).toContain('tile speed')
  })

  it('the table shows each peer\'s job files against its --max-disk cap, and "-" for a peer that does not say', () => {
    const row = { name: 'pc', role: 'follower', epoch: 1, master: 'p1', eligible: true, alive: true, self: false, addrs: ['/ip4/127.0.0.1/tcp/1'], arch: 'x64', platform: 'linux', version: '0', lastSeenMsAgo: 10 }
    const load = { cores: 4, freeSlots: 3, busyTiles: 1, freeMem: 1e9, tileSpeed: 2.5 }
    const snap: StatusSnapshot = {
      respondent: 'p1', master: 'p1', epoch: 1,
      peers: [
        { ...row, peerId: 'p1', name: 'capped', load: { ...load, diskUsed: 12 * 1024 ** 2, diskMax: 2 * 1024 ** 3 } },
        { ...row, peerId: 'p2', name: 'open', load: { ...load, diskUsed: 3 * 1024 } },
        { ...row, peerId: 'p3', name: 'old', load }
      ]
    }
    const lines = renderStatus(snap).split('\n')
    expect(lines.find(l => l.includes('p1 '))).toContain('12.0 MiB / 2.0 GiB')
    expect(lines.find(l => l.includes('p2 '))).toContain('3 KiB / no cap')
    expect(lines.find(l => l.includes('p3 '))).toMatch(/│ - +│/)
  })
})
