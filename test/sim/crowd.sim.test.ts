// Sixteen peer identities on one address (issue 15): several peers on one host, a NAT, or one device
// with many identities. Gossipsub's IP-colocation score once graylisted every identity past 10 on an
// address, and 15 idle ones on 127.0.0.1 split two real peers into two masters for over a minute. The
// swarm's heartbeats now travel on their own protocol (a star through the master, no peer scores), so
// nothing here ranks peers by address. Sixteen peers on 127.0.0.1 agree on one master and keep it,
// with every peer alive, while a job runs through them.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { SimSwarm } from './harness.ts'
import { expectReference, makeImage, submit } from './jobs.ts'

const PEERS = 16
/** How long the agreement is watched: many heartbeat timeouts (2 s each). */
const WATCH_MS = 15_000

const dir = await mkdtemp(join(tmpdir(), 'swarm-crowd-'))
let sim: SimSwarm | undefined
afterAll(async () => { await rm(dir, { recursive: true, force: true }) })
afterEach(async () => { await sim?.close(); sim = undefined })

describe('sim: sixteen peers on 127.0.0.1', () => {
  it('agree on one master and keep it, every peer alive, while a job runs', { timeout: 180_000 }, async () => {
    const s = new SimSwarm({ slots: 1 })
    sim = s
    await s.init()
    await s.add(PEERS)
    const { value: master } = await s.waitFor(`all ${PEERS} peers following one master`, () => s.agreedMaster(), 60_000)
    await s.waitFor(`the master hearing all ${PEERS - 1} others`, () => master.peer!.liveView().length >= PEERS - 1 ? true : null, 30_000)
    const epoch = master.peer!.epoch
    const img = await makeImage(dir, 'crowd.png', 256, 192, 6)
    const job = submit(s, img, ['grayscale', 'blur:1'], { tileSize: 32 })
    const changes: string[] = []
    const start = performance.now()
    for (let i = 0; i < WATCH_MS / 100 && performance.now() - start < WATCH_MS; i++) {
      for (const p of s.running()) {
        if (p.peer!.master !== master.peerId || p.peer!.epoch !== epoch) changes.push(`peer ${p.index} follows ${p.peer!.master?.slice(-6) ?? '-'} at epoch ${p.peer!.epoch}`)
      }
      const heard = master.peer!.liveView().length
      if (heard < PEERS - 1) changes.push(`the master hears ${heard} of ${PEERS - 1}`)
      await new Promise(resolve => setTimeout(resolve, 100))
    }
    expect(changes.slice(0, 5), s.trace()).toEqual([])
    await expectReference((await job).data, img, ['grayscale', 'blur:1'])
  })
})
