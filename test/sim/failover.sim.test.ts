// Failover without losing work: the master killed mid-job, right after it accepted, a partition that
// heals with a job on each side, and a peer that returns and catches up.
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { parsePipeline } from '../../src/ops/index.ts'
import { QueueReplica } from '../../src/scheduler/replica.ts'
import { getJob, leasesOf } from '../../src/scheduler/queue-machine.ts'
import type { JobEvent } from '../../src/transfer/messages.ts'
import { runSubmit } from '../../src/ui-cli/job-session.ts'
import { SimSwarm, type SimPeer } from './harness.ts'
import { clientFor, expectReference, makeImage, startSwarm } from './jobs.ts'

let dir: string
let sim: SimSwarm | undefined
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'swarm-failover-')) })
afterAll(async () => { await rm(dir, { recursive: true, force: true }) })
afterEach(async () => { await sim?.close(); sim = undefined })

async function swarm (n: number, opts = {}): Promise<{ s: SimSwarm, master: SimPeer }> {
  const started = await startSwarm(n, { heartbeatMs: 200, deadAfterMs: 800, leaseMs: 3000, ...opts })
  sim = started.s
  return started
}

/** Submits through `via` like the CLI does (following the job across master changes). */
async function follow (s: SimSwarm, via: SimPeer, img: string, specs: string[], tileSize: number, onEvent: (e: JobEvent) => void = () => {}): Promise<{ data?: Uint8Array, failure?: string, events: JobEvent[] }> {
  const client = await clientFor(s, via.index)
  const events: JobEvent[] = []
  try {
    const out = await runSubmit({ path: img, name: img.split('/').pop()!, bytes: (await stat(img)).size, pipeline: parsePipeline(specs), format: 'png', tileSize, watch: true }, {
      node: client.node, targets: client.targets, masterTimeoutMs: 20_000, onEvent: (e) => { events.push(e); onEvent(e) }
    })
    return { data: out.data, failure: out.failure, events }
  } finally { await client.close() }
}

describe('sim: failover without losing work', () => {
  it('the master killed mid-job at default timings: a new master serves within the failure detector\'s bound for a loaded machine and redoes no tile done before', async () => {
    const deadAfterMs = 2000
    const { s, master } = await swarm(4, { heartbeatMs: 500, deadAfterMs })
    const specs = ['grayscale', 'median:radius=3']
    const img = await makeImage(dir, 'failover.png', 384, 256, 21)
    const via = s.peers.find(p => p !== master)!
    let killedAt = 0
    const replicas = new Map<number, Set<number>>()
    let jobId = ''
    const redone: number[] = []
    let servingAt = 0
    let firstTileAt = 0
    const out = await follow(s, via, img, specs, 32, (e) => {
      if (e.type === 'accepted') jobId = e.jobId
      if (e.type === 'progress' && killedAt === 0 && e.done >= e.total * 0.4) {
        killedAt = Date.now()
        void s.kill(master.index)
        // "Done" is what reached the replicated log: read each survivor's copy as the master dies. (A tile
        // finished in the last instant, whose log entry was still on the wire, counts as orphaned.)
        for (const p of s.running()) {
          if (p === master) continue
          void new QueueReplica(p.peer!.store).records().then(records => {
            replicas.set(p.index, new Set(records.filter(([k, v]) => k.startsWith('t/') && (v as { state?: string }).state === 'done').map(([k]) => Number(k.split('/')[3]))))
          })
        }
        for (const p of s.running()) {
          // Serving: the new master has loaded the queue and takes submits, renewals and results. Its
          // first new tile can come later: live workers keep their leases and finish them first.
          p.node!.master.on('log', (l) => { if (p !== master && l.fields?.loaded === true) servingAt ||= Date.now() })
          p.node!.master.on('dispatched', (d) => {
            // A speculative copy of a straggler at the job's end runs beside the lease: not a redo.
            if (d.jobId !== jobId || d.speculative) return
            firstTileAt ||= Date.now()
            redone.push(d.index)
          })
        }
      }
    })
    expect(out.failure).toBeUndefined()
    expect(killedAt).toBeGreaterThan(0)
    const accepted = out.events.find(e => e.type === 'accepted')
    expect(accepted?.type === 'accepted' && accepted.copies).toBeGreaterThanOrEqual(2)
    await expectReference(out.data, img, specs)
    // Tiles done before the kill were not handed out again by the new master.
    const next = s.agreedMaster()!
    const doneBefore = replicas.get(next.index) ?? new Set<number>()
    expect(doneBefore.size).toBeGreaterThan(0)
    expect(redone.filter(i => doneBefore.has(i))).toEqual([])
    // The new master took over in time.
    expect(next.index).not.toBe(master.index)
    const failoverMs = servingAt - killedAt
    console.log(`failover: the new master served ${failoverMs} ms after the kill; its first new tile went out after ${firstTileAt - killedAt} ms`)
    expect(failoverMs).toBeGreaterThan(0)
    // Not the 2.5 s target: that is measured by `npm run bench` and checked on simulated time by
    // test/sim/vopr/failover-time.test.ts. On a loaded machine the master's last heartbeats report its
    // event-loop lag, and the survivors wait up to MAX_LAG_GRACE_FACTOR x deadAfterMs more before they
    // declare it dead (membership.ts, lagGrace), so a slow peer is not taken for a dead one. The
    // allowance covers what follows on that machine: the survivors' own stalls (not counted as
    // silence), waiting a heartbeat or two for the best candidate, the epoch write and the queue load.
    const { MAX_LAG_GRACE_FACTOR } = await import('../../src/node/membership.ts')
    const detectedWithinMs = (1 + MAX_LAG_GRACE_FACTOR) * deadAfterMs
    const electionAndLoadMs = 4000
    expect(failoverMs).toBeLessThanOrEqual(detectedWithinMs + electionAndLoadMs)
  })

  it('the master killed with tiles in flight on live workers: none of them is computed again', async () => {
    // No result verification: a checked tile is computed twice by design, and that is not a redo.
    const { s, master } = await swarm(4, { verify: 0 })
    // Slow workers, so that every live worker holds leased tiles when the master dies.
    for (const p of s.running()) if (p !== master) p.node!.worker.opts.slowdownMs = 1200
    const specs = ['grayscale', 'median:radius=2']
    const img = await makeImage(dir, 'inflight.png', 256, 192, 5)
    const via = s.peers.find(p => p !== master)!
    let jobId = ''
    const inflight = new Set<string>()
    const redone: string[] = []
    let killed = false
    const out = await follow(s, via, img, specs, 32, (e) => {
      if (e.type === 'accepted') jobId = e.jobId
      if (e.type !== 'progress' || killed || e.done < 4) return
      killed = true
      // What the old master had leased to the other (live) peers at the moment it died.
      for (const l of leasesOf(master.node!.master.queue!.state)) if (l.peer !== master.peerId && l.jobId === jobId) inflight.add(`${l.phase}/${l.index}`)
      void s.kill(master.index)
      for (const p of s.running()) {
        if (p === master) continue
        p.node!.master.on('dispatched', (d) => { if (d.jobId === jobId && !d.speculative) redone.push(`${d.phase}/${d.index}`) })
      }
    })
    expect(out.failure).toBeUndefined()
    expect(killed).toBe(true)
    await expectReference(out.data, img, specs)
    expect(inflight.size).toBeGreaterThan(0)
    console.log(`in flight on live workers when the master died: ${inflight.size}; tiles the new master handed out: ${redone.length}`)
    expect(redone.filter(t => inflight.has(t))).toEqual([])
  })

  it('a job accepted just before the master dies still completes: its input was already on a standby', async () => {
    const { s, master } = await swarm(3)
    const specs = ['invert', 'blur:sigma=1']
    const img = await makeImage(dir, 'early.png', 200, 150, 4)
    const via = s.peers.find(p => p !== master)!
    const out = await follow(s, via, img, specs, 40, (e) => { if (e.type === 'accepted') void s.kill(master.index) })
    expect(out.failure).toBeUndefined()
    await expectReference(out.data, img, specs)
  })

  it('a partition heals with a job on each side: the loser hands its job over and both complete', async () => {
    const { s, master } = await swarm(5)
    const others = s.peers.filter(p => p !== master)
    const minority = [master, others[0]]
    const majority = others.slice(1)
    await s.partition([majority.map(p => p.index), minority.map(p => p.index)])
    await s.waitFor('a master on each side', () => s.agreedMaster(majority) != null && s.agreedMaster(minority) != null, 6000)
    const specs = ['sepia', 'median:radius=2']
    const imgA = await makeImage(dir, 'side-a.png', 220, 160, 31)
    const imgB = await makeImage(dir, 'side-b.png', 220, 160, 32)
    // Jobs on both sides, each submitted to its side's master; heal while they run.
    let healed = false
    const heal = (e: JobEvent): void => { if (e.type === 'progress' && !healed) { healed = true; s.heal() } }
    const [a, b] = await Promise.all([
      follow(s, minority[1], imgA, specs, 24, heal),
      follow(s, majority[0], imgB, specs, 24)
    ])
    expect(healed).toBe(true)
    expect(a.failure).toBeUndefined()
    expect(b.failure).toBeUndefined()
    await expectReference(a.data, imgA, specs)
    await expectReference(b.data, imgB, specs)
    const { value: winner } = await s.waitFor('one master after heal', () => s.agreedMaster(), 6000)
    expect(majority).toContain(winner)
    // Both jobs are in the winner's queue, done.
    const q = winner.node!.master.queue!.state
    const ids = [a, b].map(o => o.events.find(e => e.type === 'accepted')).map(e => e?.type === 'accepted' ? e.jobId : '')
    for (const id of ids) expect(getJob(q, id)?.state).toBe('done')
  })

  it('a peer killed and restarted on its data dir catches up: its replica is the master\'s queue', async () => {
    const { s, master } = await swarm(3)
    const follower = s.peers.find(p => p !== master)!
    await s.kill(follower.index)
    const img = await makeImage(dir, 'catchup.png', 120, 90, 8)
    const out = await follow(s, master, img, ['invert'], 32)
    expect(out.failure).toBeUndefined()
    await s.restart(follower.index)
    const want = JSON.stringify(await master.node!.master.queue!.records())
    await s.waitFor('the replica catches up', () => false, 1500).catch(() => {})
    const replica = new QueueReplica(follower.peer!.store)
    expect(JSON.stringify(await replica.records())).toBe(want)
  })
})
