// A client with a swarm key against a peer without one (an open swarm): every command (status, jobs,
// cancel, submit: all connect through connectClient's probe) says in one sentence that the peer may not
// share the key. A peer found by mDNS is dialled by its PeerId, over each address it announces, and that
// dial fails as one AggregateError ("All multiaddr dials failed"), which was printed as it was.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { noise } from '@chainsafe/libp2p-noise'
import { identify } from '@libp2p/identify'
import { peerIdFromString } from '@libp2p/peer-id'
import { preSharedKey } from '@libp2p/pnet'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { dialLooksLikeKeyMismatch, probe, SwarmKeyMismatchError } from '../../src/node/client.ts'
import { SwarmPeer } from '../../src/node/peer.ts'
import { generateSwarmKey, parseSwarmKey } from '../../src/node/swarm-key.ts'

const SENTENCE = /did not complete the handshake with this swarm key: it uses another key, or none/

let root: string
let open: SwarmPeer
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'swarm-keymismatch-'))
  // Three addresses, all on 127.0.0.1: a peer found by mDNS announces one per interface.
  open = new SwarmPeer({ dataDir: join(root, 'open'), listen: ['/ip4/127.0.0.1/tcp/0', '/ip4/127.0.0.1/tcp/0', '/ip4/127.0.0.1/tcp/0'], mdns: false })
  await open.start()
})
afterAll(async () => {
  await open?.kill()
  await rm(root, { recursive: true, force: true })
})

describe('a key against a keyless peer', () => {
  it('an AggregateError of per-address dials is read as a key mismatch when one address reset like one', () => {
    const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' })
    expect(dialLooksLikeKeyMismatch(new AggregateError([refused, reset], 'All multiaddr dials failed'))).toBe(true)
    expect(dialLooksLikeKeyMismatch(new AggregateError([refused, refused], 'All multiaddr dials failed'))).toBe(false)
  })

  it('a keyed client dialling the keyless peer by PeerId (as mDNS finds it) is told so in one sentence', async () => {
    const id = peerIdFromString(open.peerId)
    // Each round a fresh client (a fresh pnet nonce: the keyless side resets it or stalls on it, at random).
    for (let round = 0; round < 4; round++) {
      const node = await createLibp2p({
        addresses: { listen: [] },
        transports: [tcp()],
        connectionEncrypters: [noise()],
        streamMuxers: [yamux()],
        connectionProtector: preSharedKey({ psk: parseSwarmKey(generateSwarmKey(), 'k') }),
        connectionGater: { denyDialMultiaddr: () => false },
        services: { identify: identify() }
      })
      try {
        await node.peerStore.merge(id, { multiaddrs: open.addrs().map(a => multiaddr(a.toString().replace(/\/p2p\/.*$/, ''))) })
        const err = await probe(node, [id], true, async () => { await node.stop() }).then(() => undefined, (e: unknown) => e)
        expect(err, `round ${round}`).toBeInstanceOf(SwarmKeyMismatchError)
        expect((err as Error).message).toMatch(SENTENCE)
        expect((err as Error).message).toContain(open.peerId)
        expect((err as Error).message).not.toMatch(/All multiaddr dials failed/)
      } finally { await node.stop() }
    }
  })
})
