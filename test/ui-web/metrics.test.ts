// SwarmMetrics: fed a fake master and peer (EventEmitters with the fields the metrics read; the queue is the
// real queue machine's state) and read back from the exposition, sample by sample. Last, a real in-process
// swarm runs a checked job, to see the master's tileDone count each tile once.
import { EventEmitter } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Registry } from 'prom-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parsePipeline } from '../../src/ops/index.ts'
import type { MasterEvents, MasterRuntime } from '../../src/scheduler/master.ts'
import type { WorkerRuntime } from '../../src/scheduler/worker.ts'
import type { SwarmPeer } from '../../src/node/peer.ts'
import type { PeerEvents } from '../../src/node/peer-options.ts'
import { createQueueState, step, type QueueEffect, type QueueState } from '../../src/scheduler/queue-machine.ts'
import type { PeerRow, StatusSnapshot } from '../../src/transfer/status.ts'
import { opLabel, SwarmMetrics, type SwarmMetricsComponents } from '../../src/ui-web/metrics.ts'
import { SimSwarm } from '../sim/harness.ts'
import { makeImage, submit } from '../sim/jobs.ts'

// ---- reading the exposition

type Labels = Record<string, string>
interface Sample { name: string, labels: Labels, value: number }

function samples (text: string): Sample[] {
  const out: Sample[] = []
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (m == null) throw new Error(`unparsed line: ${line}`)
    const labels: Labels = {}
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2]
    out.push({ name: m[1], labels, value: Number(m[3]) })
  }
  return out
}

const same = (a: Labels, b: Labels): boolean => Object.keys(a).length === Object.keys(b).length && Object.entries(b).every(([k, v]) => a[k] === v)

/** The value of the sample with exactly these labels; undefined when there is none. */
function value (text: string, name: string, labels: Labels = {}): number | undefined {
  return samples(text).find(s => s.name === name && same(s.labels, labels))?.value
}

const named = (text: string, name: string): Sample[] => samples(text).filter(s => s.name === name)

// ---- fakes

type FakeMasterEvents = Pick<MasterEvents, 'job' | 'dispatched' | 'tileDone' | 'inactive'>
class FakeMaster extends EventEmitter<FakeMasterEvents> {
  active = true
  currentEpoch = 3
  queue: { state: QueueState } | undefined = { state: createQueueState({ leaseMs: 10_000 }) }
  get state (): QueueState { return this.queue!.state }
  /** Steps the real queue machine; the effects, as the master would get them. */
  feed (event: Parameters<typeof step>[1]): QueueEffect[] { return step(this.state, event).effects }
}

class FakePeer extends EventEmitter<Pick<PeerEvents, 'master' | 'peer:joined' | 'peer:left'>> {
  snap: StatusSnapshot | undefined
  snapshot (): StatusSnapshot {
    if (this.snap == null) throw new Error('peer not started')
    return this.snap
  }
}

function row (peerId: string, role: string, alive: boolean, load: { freeSlots: number, busyTiles: number }, self = false): PeerRow {
  return {
    peerId, name: peerId, role, epoch: 3, master: 'A', eligible: true, alive, self, addrs: [], arch: 'x64', platform: 'linux', version: '0.1.0',
    load: { cores: 4, freeMem: 1e9, tileSpeed: 0, ...load }, lastSeenMsAgo: 0
  }
}

function setup (opts: { worker?: { busy: number, opts: { slots: number } } } = {}): { master: FakeMaster, peer: FakePeer, metrics: SwarmMetrics, clock: { t: number } } {
  const master = new FakeMaster()
  const peer = new FakePeer()
  const clock = { t: 1000 }
  const metrics = new SwarmMetrics({ master, peer, ...(opts.worker != null ? { worker: opts.worker } : {}) }, { defaultMetrics: false, now: () => clock.t })
  metrics.start()
  return { master, peer, metrics, clock }
}

const pipeline = parsePipeline(['grayscale', 'equalise', 'blur:2']) // equalise is global: phases 0 (stats) and 1
const STATS_OP = 'grayscale+equalise.stats'
const FINAL_OP = 'grayscale+equalise+blur'
const assigns = (effects: QueueEffect[]): Array<Extract<QueueEffect, { type: 'assign' }>> => effects.filter(e => e.type === 'assign')

describe('opLabel', () => {
  it('names the ops a phase runs, a statistics phase ending with the op it measures', () => {
    expect(opLabel({ pipeline }, 0)).toBe(STATS_OP)
    expect(opLabel({ pipeline }, 1)).toBe(FINAL_OP)
    expect(opLabel({ pipeline: parsePipeline(['blur:2']) }, 0)).toBe('blur')
    expect(opLabel({ pipeline }, 2)).toBe('unknown')
    expect(opLabel(undefined, 0)).toBe('unknown')
    expect(opLabel({ pipeline: { ops: [{ name: 'no-such-op', params: {} }] } }, 0)).toBe('unknown')
  })
})

describe('SwarmMetrics', () => {
  it('counts jobs by state from the queue when scraped, and only on the master', async () => {
    const { master, metrics } = setup()
    master.feed({ type: 'submit', job: { id: 'j1', tileCount: 2, meta: { pipeline } }, now: 1000 })
    master.feed({ type: 'submit', job: { id: 'j2', tileCount: 2, meta: { pipeline } }, now: 1000 })
    master.feed({ type: 'cancel', jobId: 'j2', now: 1100 })
    let text = await metrics.text()
    expect(value(text, 'swarm_jobs', { state: 'queued' })).toBe(1)
    expect(value(text, 'swarm_jobs', { state: 'cancelled' })).toBe(1)
    expect(value(text, 'swarm_jobs', { state: 'running' })).toBe(0)
    expect(value(text, 'swarm_tiles_leased')).toBe(0)
    const a = assigns(master.feed({ type: 'peers', view: [{ peer: 'A', freeSlots: 4, alive: true }], now: 1200 }))
    expect(a.length).toBe(2)
    text = await metrics.text()
    expect(value(text, 'swarm_jobs', { state: 'running' })).toBe(1)
    expect(value(text, 'swarm_jobs', { state: 'queued' })).toBe(0)
    expect(value(text, 'swarm_tiles_leased')).toBe(2)
    master.active = false
    text = await metrics.text()
    expect(named(text, 'swarm_jobs')).toEqual([])
    expect(value(text, 'swarm_tiles_leased')).toBe(0) // an unlabelled gauge always has its sample
  })

  it('observes a job\'s duration by final state, and its wait until the first tile went out', async () => {
    const { master, metrics, clock } = setup()
    master.feed({ type: 'submit', job: { id: 'j1', tileCount: 1, meta: { pipeline: parsePipeline(['blur:2']) } }, now: 1000 })
    const [lease] = assigns(master.feed({ type: 'peers', view: [{ peer: 'A', freeSlots: 1, alive: true }], now: 1500 }))
    clock.t = 1500
    master.emit('dispatched', { jobId: 'j1', phase: 0, index: 0, peer: 'A', attempt: 1, speculative: false })
    master.emit('dispatched', { jobId: 'j1', phase: 0, index: 0, peer: 'B', attempt: 1, speculative: true }) // not a first dispatch
    const effects = master.feed({ type: 'done', jobId: 'j1', phase: 0, index: 0, leaseId: lease.leaseId, peer: 'A', now: 5000 })
    expect(effects.some(e => e.type === 'jobDone')).toBe(true)
    clock.t = 9000 // the stitch took a while: the duration is the queue's, to its finishedAt
    master.emit('job', { type: 'result', jobId: 'j1', format: 'png', bytes: 10, width: 4, height: 4 })
    // A cancelled job ends for its watchers as a failure.
    master.feed({ type: 'submit', job: { id: 'j2', tileCount: 1, meta: {} }, now: 6000 })
    master.feed({ type: 'cancel', jobId: 'j2', now: 6500 })
    master.emit('job', { type: 'failed', jobId: 'j2', reason: 'cancelled' })
    const text = await metrics.text()
    expect(value(text, 'swarm_job_duration_seconds_count', { state: 'done' })).toBe(1)
    expect(value(text, 'swarm_job_duration_seconds_sum', { state: 'done' })).toBe(4)
    expect(value(text, 'swarm_job_duration_seconds_bucket', { state: 'done', le: '2' })).toBe(0)
    expect(value(text, 'swarm_job_duration_seconds_bucket', { state: 'done', le: '5' })).toBe(1)
    expect(value(text, 'swarm_job_duration_seconds_count', { state: 'cancelled' })).toBe(1)
    expect(value(text, 'swarm_job_duration_seconds_sum', { state: 'cancelled' })).toBe(0.5)
    expect(value(text, 'swarm_job_duration_seconds_count', { state: 'failed' })).toBeUndefined()
    expect(value(text, 'swarm_job_wait_seconds_count')).toBe(1)
    expect(value(text, 'swarm_job_wait_seconds_sum')).toBe(0.5)
  })

  it('sees no wait for a job whose first dispatch it hears after tiles were done (a master elected mid-job)', async () => {
    const { master, metrics, clock } = setup()
    master.feed({ type: 'submit', job: { id: 'j1', tileCount: 2, meta: { pipeline: parsePipeline(['blur:2']) } }, now: 1000 })
    const [first] = assigns(master.feed({ type: 'peers', view: [{ peer: 'A', freeSlots: 1, alive: true }], now: 1000 }))
    master.feed({ type: 'done', jobId: 'j1', phase: 0, index: first.index, leaseId: first.leaseId, peer: 'A', now: 2000 })
    clock.t = 60_000
    master.emit('dispatched', { jobId: 'j1', phase: 0, index: 1, peer: 'A', attempt: 1, speculative: false })
    expect(value(await metrics.text(), 'swarm_job_wait_seconds_count')).toBe(0)
  })

  it('counts tiles dispatched, reassigned, copied and done by op and peer, and times them dispatch -> done', async () => {
    const { master, metrics, clock } = setup()
    master.feed({ type: 'submit', job: { id: 'j1', tileCount: 4, phaseCount: 2, meta: { pipeline } }, now: 0 })
    clock.t = 1000
    master.emit('dispatched', { jobId: 'j1', phase: 0, index: 0, peer: 'A', attempt: 1, speculative: false })
    master.emit('dispatched', { jobId: 'j1', phase: 0, index: 0, peer: 'B', attempt: 2, speculative: false }) // A's attempt ended
    master.emit('dispatched', { jobId: 'j1', phase: 0, index: 1, peer: 'C', attempt: 2, speculative: true }) // a copy, not a reassignment
    clock.t = 1250
    master.emit('tileDone', { jobId: 'j1', phase: 0, index: 0, peer: 'B' })
    master.emit('tileDone', { jobId: 'j1', phase: 0, index: 0, peer: 'B' }) // a repeat has no dispatch time left
    master.emit('dispatched', { jobId: 'j1', phase: 1, index: 0, peer: 'A', attempt: 1, speculative: false })
    clock.t = 3250
    master.emit('tileDone', { jobId: 'j1', phase: 1, index: 0, peer: 'A' })
    master.emit('tileDone', { jobId: 'nope', phase: 0, index: 0, peer: 'A' }) // a job the queue does not know
    const text = await metrics.text()
    expect(value(text, 'swarm_tiles_dispatched_total', { op: STATS_OP, peer: 'A' })).toBe(1)
    expect(value(text, 'swarm_tiles_dispatched_total', { op: STATS_OP, peer: 'B' })).toBe(1)
    expect(value(text, 'swarm_tiles_reassigned_total', { op: STATS_OP, peer: 'B' })).toBe(1)
    expect(value(text, 'swarm_tiles_reassigned_total', { op: STATS_OP, peer: 'C' })).toBeUndefined()
    expect(named(text, 'swarm_tiles_reassigned_total').length).toBe(1)
    expect(value(text, 'swarm_tiles_speculative_total', { op: STATS_OP, peer: 'C' })).toBe(1)
    expect(value(text, 'swarm_tiles_done_total', { op: STATS_OP, peer: 'B' })).toBe(2)
    expect(value(text, 'swarm_tiles_done_total', { op: FINAL_OP, peer: 'A' })).toBe(1)
    expect(value(text, 'swarm_tiles_done_total', { op: 'unknown', peer: 'A' })).toBe(1)
    expect(value(text, 'swarm_tile_duration_seconds_count', { op: STATS_OP })).toBe(1)
    expect(value(text, 'swarm_tile_duration_seconds_sum', { op: STATS_OP })).toBe(0.25)
    expect(value(text, 'swarm_tile_duration_seconds_bucket', { op: STATS_OP, le: '0.1' })).toBe(0)
    expect(value(text, 'swarm_tile_duration_seconds_bucket', { op: STATS_OP, le: '0.25' })).toBe(1)
    expect(value(text, 'swarm_tile_duration_seconds_sum', { op: FINAL_OP })).toBe(2)
    // No label carries a job id.
    expect(samples(text).some(s => Object.values(s.labels).includes('j1'))).toBe(false)
  })

  it('keeps the peer label bounded', async () => {
    const { master, metrics } = setup()
    for (let i = 0; i < 600; i++) master.emit('tileDone', { jobId: 'x', phase: 0, index: i, peer: `P${i}` })
    const done = named(await metrics.text(), 'swarm_tiles_done_total')
    expect(done.length).toBe(513)
    expect(done.find(s => s.labels.peer === 'other')?.value).toBe(600 - 512)
  })

  it('reads peers by role, the epoch and the slots from the snapshot when scraped', async () => {
    const { master, peer, metrics } = setup({ worker: { busy: 1, opts: { slots: 4 } } })
    master.active = false
    // Not started: no snapshot, no samples, and the scrape still works.
    let text = await metrics.text()
    expect(named(text, 'swarm_peers')).toEqual([])
    expect(value(text, 'swarm_slots', { scope: 'self', state: 'used' })).toBe(1)
    expect(value(text, 'swarm_slots', { scope: 'swarm', state: 'used' })).toBeUndefined()
    peer.snap = {
      respondent: 'S', master: 'A', epoch: 7,
      peers: [
        row('S', 'follower', true, { freeSlots: 3, busyTiles: 1 }, true),
        row('A', 'master', true, { freeSlots: 0, busyTiles: 2 }),
        row('B', 'follower', true, { freeSlots: 2, busyTiles: 0 }),
        row('C', 'follower', false, { freeSlots: 5, busyTiles: 5 }) // gone: not counted
      ]
    }
    text = await metrics.text()
    expect(value(text, 'swarm_peers', { role: 'master' })).toBe(1)
    expect(value(text, 'swarm_peers', { role: 'follower' })).toBe(2)
    expect(value(text, 'swarm_peers', { role: 'joining' })).toBe(0)
    expect(value(text, 'swarm_peers_unreachable')).toBe(1)
    expect(value(text, 'swarm_master_epoch')).toBe(7)
    expect(value(text, 'swarm_slots', { scope: 'swarm', state: 'used' })).toBe(3)
    expect(value(text, 'swarm_slots', { scope: 'swarm', state: 'free' })).toBe(5)
    expect(value(text, 'swarm_slots', { scope: 'self', state: 'used' })).toBe(1)
    expect(value(text, 'swarm_slots', { scope: 'self', state: 'free' })).toBe(3)
    master.active = true // the master's own epoch
    expect(value(await metrics.text(), 'swarm_master_epoch')).toBe(3)
  })

  it('without a worker, takes this peer\'s slots from its own row', async () => {
    const { peer, metrics } = setup()
    peer.snap = { respondent: 'S', master: 'S', epoch: 1, peers: [row('S', 'master', true, { freeSlots: 1, busyTiles: 3 }, true)] }
    const text = await metrics.text()
    expect(value(text, 'swarm_slots', { scope: 'self', state: 'used' })).toBe(3)
    expect(value(text, 'swarm_slots', { scope: 'self', state: 'free' })).toBe(1)
  })

  it('counts a failover when the master is lost or replaced, not at the first election', async () => {
    const { peer, metrics } = setup()
    peer.emit('master', { master: 'A', epoch: 1, self: false, previous: null })
    expect(value(await metrics.text(), 'swarm_master_failovers_total')).toBe(0)
    peer.emit('master', { master: null, epoch: 1, self: false, previous: 'A' })
    peer.emit('master', { master: 'B', epoch: 2, self: false, previous: null })
    expect(value(await metrics.text(), 'swarm_master_failovers_total')).toBe(1)
    peer.emit('master', { master: 'C', epoch: 3, self: true, previous: 'B' })
    peer.emit('master', { master: 'C', epoch: 3, self: true, previous: 'C' }) // the same master: no failover
    expect(value(await metrics.text(), 'swarm_master_failovers_total')).toBe(2)
  })

  it('counts peers joining and leaving', async () => {
    const { peer, metrics } = setup()
    peer.emit('peer:joined', { peerId: 'B', hb: {} as never })
    peer.emit('peer:left', { peerId: 'B', reason: 'timeout' })
    peer.emit('peer:left', { peerId: 'C', reason: 'leaving' })
    const text = await metrics.text()
    expect(value(text, 'swarm_peers_joined_total')).toBe(1)
    expect(value(text, 'swarm_peers_left_total', { reason: 'timeout' })).toBe(1)
    expect(value(text, 'swarm_peers_left_total', { reason: 'leaving' })).toBe(1)
  })

  it('stop() unsubscribes: events after it do not count', async () => {
    const { master, peer, metrics } = setup()
    master.emit('tileDone', { jobId: 'j', phase: 0, index: 0, peer: 'A' })
    metrics.stop()
    for (const e of ['job', 'dispatched', 'tileDone', 'inactive'] as const) expect(master.listenerCount(e)).toBe(0)
    for (const e of ['master', 'peer:joined', 'peer:left'] as const) expect(peer.listenerCount(e)).toBe(0)
    master.emit('tileDone', { jobId: 'j', phase: 0, index: 1, peer: 'A' })
    master.emit('dispatched', { jobId: 'j', phase: 0, index: 1, peer: 'A', attempt: 2, speculative: false })
    peer.emit('master', { master: null, epoch: 1, self: false, previous: 'A' })
    let text = await metrics.text()
    expect(value(text, 'swarm_tiles_done_total', { op: 'unknown', peer: 'A' })).toBe(1)
    expect(named(text, 'swarm_tiles_reassigned_total')).toEqual([])
    expect(value(text, 'swarm_master_failovers_total')).toBe(0)
    metrics.start() // and start() again subscribes once
    metrics.start()
    expect(master.listenerCount('tileDone')).toBe(1)
    master.emit('tileDone', { jobId: 'j', phase: 0, index: 2, peer: 'A' })
    text = await metrics.text()
    expect(value(text, 'swarm_tiles_done_total', { op: 'unknown', peer: 'A' })).toBe(2)
  })

  it('never throws into the master\'s emit', () => {
    const { master } = setup()
    Object.defineProperty(master, 'queue', { get () { throw new Error('broken queue') } })
    expect(() => { master.emit('dispatched', { jobId: 'j', phase: 0, index: 0, peer: 'A', attempt: 1, speculative: false }) }).not.toThrow()
    expect(() => { master.emit('job', { type: 'failed', jobId: 'j', reason: 'x' }) }).not.toThrow()
  })

  it('two in one process do not throw, each with its registry and Node\'s default metrics; a shared registry holds both sets', async () => {
    const a = new SwarmMetrics({ master: new FakeMaster(), peer: new FakePeer() })
    const b = new SwarmMetrics({ master: new FakeMaster(), peer: new FakePeer() })
    a.start()
    b.start()
    for (const m of [a, b]) {
      const text = await m.text()
      expect(value(text, 'process_cpu_user_seconds_total')).toBeGreaterThanOrEqual(0)
      expect(value(text, 'swarm_master_failovers_total')).toBe(0)
      expect(m.contentType).toMatch(/^text\/plain; version=0\.0\.4/)
    }
    // A registry given: the metrics go there, with the default ones once, beside what is registered already.
    const registry = new Registry()
    registry.setDefaultLabels({})
    const shared = new SwarmMetrics({ master: new FakeMaster(), peer: new FakePeer() }, { registry })
    expect(shared.registry).toBe(registry)
    const text = await registry.metrics()
    expect(named(text, 'process_cpu_user_seconds_total').length).toBe(1)
    expect(text).toContain('# TYPE swarm_jobs gauge')
    a.stop()
    b.stop()
  })

  it('the real runtimes fit the components', () => {
    // Compile-time: tsc checks these assignments (the test runs nothing of them).
    const fit = (master: MasterRuntime, peer: SwarmPeer, worker: WorkerRuntime): SwarmMetricsComponents => ({ master, peer, worker })
    expect(typeof fit).toBe('function')
  })
})

describe('SwarmMetrics on a real in-process swarm', () => {
  let dir: string
  beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'swarm-metrics-')) })
  afterAll(async () => { await rm(dir, { recursive: true, force: true }) })

  it('a checked job: every tile done once, on the master\'s metrics, with two peers computing each', async () => {
    const sim = new SimSwarm({ heartbeatMs: 200, deadAfterMs: 800, verify: 1 })
    try {
      await sim.init()
      await sim.add(2)
      const { value: master } = await sim.waitFor('a master', () => sim.agreedMaster(), 5000)
      const all = sim.running().map(p => {
        const m = new SwarmMetrics({ master: p.node!.master, peer: p.peer!, worker: p.node!.worker }, { defaultMetrics: false })
        m.start()
        return { p, m }
      })
      const img = await makeImage(dir, 'a.png', 150, 100, 3)
      const out = await submit(sim, img, ['grayscale', 'blur:1'], { tileSize: 64 })
      expect(out.failure).toBeUndefined()
      const tiles = out.events.find(e => e.type === 'accepted')
      expect(tiles?.type === 'accepted' ? tiles.tiles : 0).toBe(6)
      const text = await all.find(x => x.p === master)!.m.text()
      const sum = (name: string): number => named(text, name).reduce((n, s) => n + s.value, 0)
      expect(sum('swarm_tiles_done_total')).toBe(6)
      expect(named(text, 'swarm_tiles_done_total').every(s => s.labels.op === 'grayscale+blur')).toBe(true)
      expect(sum('swarm_tiles_dispatched_total')).toBeGreaterThanOrEqual(12) // each tile on both peers
      expect(value(text, 'swarm_tile_duration_seconds_count', { op: 'grayscale+blur' })).toBe(6)
      expect(value(text, 'swarm_job_duration_seconds_count', { state: 'done' })).toBe(1)
      expect(value(text, 'swarm_job_wait_seconds_count')).toBe(1)
      expect(value(text, 'swarm_jobs', { state: 'done' })).toBe(1)
      expect(value(text, 'swarm_peers', { role: 'master' })).toBe(1)
      expect(value(text, 'swarm_peers', { role: 'follower' })).toBe(1)
      expect(value(text, 'swarm_master_epoch')).toBeGreaterThan(0)
      const other = await all.find(x => x.p !== master)!.m.text()
      expect(named(other, 'swarm_jobs')).toEqual([])
      for (const { m } of all) m.stop()
    } finally {
      await sim.close()
    }
  })

  it('a peer made with metricsRegistry puts libp2p\'s metrics beside the swarm\'s; a second one in the process is refused', async () => {
    const sim = new SimSwarm({ heartbeatMs: 200, deadAfterMs: 800 })
    try {
      await sim.init()
      const registry = new Registry()
      const [first] = await sim.add(1, { metricsRegistry: registry })
      await sim.add(1)
      await sim.waitFor('a master', () => sim.agreedMaster(), 5000)
      const metrics = new SwarmMetrics({ master: first.node!.master, peer: first.peer!, worker: first.node!.worker }, { registry })
      metrics.start()
      const text = await metrics.text()
      expect(value(text, 'libp2p_data_transfer_bytes_total', { protocol: 'global sent' })).toBeGreaterThan(0)
      expect(value(text, 'libp2p_data_transfer_bytes_total', { protocol: '/swarm/heartbeat/1.0.0 sent' })).toBeGreaterThan(0)
      expect(samples(text).some(s => s.name.startsWith('libp2p_connection_manager_'))).toBe(true)
      expect(named(text, 'process_cpu_user_seconds_total').length).toBe(1)
      expect(value(text, 'swarm_peers', { role: 'master' })).toBe(1)
      await expect(sim.add(1, { metricsRegistry: new Registry() })).rejects.toThrow(/one node per process/)
      metrics.stop()
    } finally {
      await sim.close()
    }
  })
})
