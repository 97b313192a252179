// Without mDNS, peers given only one --peer must still end up connected to each other directly, so
// that losing the bootstrap peer (here also the master) does not split the rest of the swarm.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { SwarmNode } from '../../src/ui-cli/swarm-node.ts'

const nodes: SwarmNode[] = []
let dir = ''
afterAll(async () => {
  await Promise.all(nodes.map(async n => { await n.kill() }))
  if (dir !== '') await rm(dir, { recursive: true, force: true })
})

async function until<T> (what: string, cond: () => T | null | undefined | false, ms: number): Promise<T> {
  for (let i = 0; i < ms / 20; i++) {
    const v = cond()
    if (v != null && v !== false) return v
    await new Promise(resolve => setTimeout(resolve, 20))
  }
  throw new Error(`timed out waiting for ${what}`)
}

describe('sim: bootstrap with --peer only', () => {
  it('peers that only know the bootstrap peer connect to each other and survive its death', async () => {
    dir = await mkdtemp(join(tmpdir(), 'swarm-boot-'))
    const timing = { heartbeatMs: 100, deadAfterMs: 400, mdns: false, listen: ['/ip4/127.0.0.1/tcp/0'] }
    const a = new SwarmNode({ ...timing, dataDir: join(dir, 'a') })
    await a.start()
    nodes.push(a)
    const boot = [a.peer.addrs()[0].toString()]
    const b = new SwarmNode({ ...timing, dataDir: join(dir, 'b'), bootstrap: boot })
    const c = new SwarmNode({ ...timing, dataDir: join(dir, 'c'), bootstrap: boot })
    await Promise.all([b.start(), c.start()])
    nodes.push(b, c)
    await until('b and c connected directly', () => b.peer.connectedPeers().includes(c.peerId) && c.peer.connectedPeers().includes(b.peerId), 5000)
    await until('one master', () => [a, b, c].every(n => n.peer.master != null && n.peer.master === a.peer.master), 5000)
    const survivors = [b, c].filter(n => !n.peer.isMaster)
    const first = [a, b, c].find(n => n.peer.isMaster)!
    await first.kill()
    const rest = [a, b, c].filter(n => n !== first)
    const m = await until('the survivors agree on one new master', () => {
      const masters = rest.filter(n => n.peer.isMaster)
      return masters.length === 1 && rest.every(n => n.peer.master === masters[0].peerId) ? masters[0] : null
    }, 5000)
    expect(m.peer.epoch).toBeGreaterThan(first.peer.epoch)
    expect(survivors.length).toBeGreaterThan(0)
    // They stay agreed (no second master appears once the dust settles).
    for (let i = 0; i < 10; i++) {
      await new Promise(resolve => setTimeout(resolve, 50))
      expect(rest.filter(n => n.peer.isMaster)).toHaveLength(1)
    }
  })
})
