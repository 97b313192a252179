// The master planner, table by table: what it decides for capacity, failures, results, notices,
// activation, merging and stitching. A small pure loop stands in for the runtime: it steps the queue
// machine for `queue` commands and feeds the effects back, so every case runs without I/O or a clock.
import { describe, expect, it } from 'vitest'
import { createRaw, outputChannels, parsePipeline, phaseCount, pipelineHalo, planTiles, runTile, type Pipeline } from '../../src/ops/index.ts'
import {
  capacity, isTransient, leaseBoundMs, LEASE_SPEED_FACTOR, MAX_RESTANDBYS, MIN_LEASE_BOUND_LEASES, newPlan, progressOf, PROVEN_WINDOW_MS, REPAIR_MS, RESTANDBY_RETRY_MS, UNPROVEN_SLOTS, standbysOf, stepMaster, tileSizeFor, UNREACHABLE_MS,
  type FailureKind, type JobMeta, type Lease, type MasterCommand, type MasterEvent, type MasterPlan, type PeerLoad
} from '../../src/scheduler/master-planner.ts'
import { createQueueState, getJob, leasesOf, step, type QueueState } from '../../src/scheduler/queue-machine.ts'

const SELF = 'peer-self'
const A = 'peer-aaaaaaaa'
const B = 'peer-bbbbbbbb'

interface Loop { plan: MasterPlan, q: QueueState, out: MasterCommand[], feed: (e: MasterEvent) => MasterCommand[], now: number }

/** Runs an event and every `queue` command it leads to (depth first, as the runtime does). */
function loop (opts: { slots?: number, masterWorkLimit?: number, tileSize?: number, epoch?: number, leaseMs?: number } = {}): Loop {
  const q = createQueueState({ leaseMs: opts.leaseMs ?? 10_000, prefetch: 0, maxAttempts: 3 })
  const plan = newPlan({ self: SELF, slots: opts.slots ?? 1, leaseMs: opts.leaseMs ?? 10_000, masterWorkLimit: opts.masterWorkLimit ?? 1, tileSize: opts.tileSize }, q, opts.epoch ?? 1)
  const l: Loop = {
    plan,
    q,
    out: [],
    now: 1000,
    feed: (e) => {
      const cmds = stepMaster(plan, e)
      const seen: MasterCommand[] = []
      for (const c of cmds) {
        seen.push(c)
        if (c.type === 'queue') seen.push(...l.feed({ type: 'effects', effects: step(q, c.event).effects, now: l.now }))
      }
      l.out.push(...seen)
      return seen
    }
  }
  // The queue hears the swarm (this peer alone) before anything is submitted.
  l.feed({ type: 'tick', now: l.now, view: [] })
  return l
}

function meta (specs: string[], width = 64, height = 32, tileSize = 16): JobMeta {
  const pipeline: Pipeline = parsePipeline(specs)
  return { name: 'x.png', width, height, channels: 3, outChannels: outputChannels(pipeline, 3), tileSize, halo: pipelineHalo(pipeline), pipeline, format: 'png', standbys: [] }
}

function submit (l: Loop, id: string, m: JobMeta): MasterCommand[] {
  const tileCount = planTiles(m.width, m.height, m.tileSize, m.halo).length
  return l.feed({ type: 'effects', effects: step(l.q, { type: 'submit', job: { id, tileCount, phaseCount: phaseCount(m.pipeline), meta: m }, now: l.now }).effects, now: l.now })
}

const view = (...peers: Array<[string, number, number?]>): PeerLoad[] => peers.map(([peer, freeSlots, busyTiles]) => ({ peer, freeSlots, busyTiles: busyTiles ?? 0 }))
const sends = (cmds: MasterCommand[]): Array<Extract<MasterCommand, { type: 'send' }>> => cmds.filter((c): c is Extract<MasterCommand, { type: 'send' }> => c.type === 'send')
const types = (cmds: MasterCommand[]): string[] => cmds.map(c => c.type === 'queue' ? `queue:${c.event.type}` : c.type)

describe('master planner: capacity', () => {
  const table: Array<{ name: string, loads: PeerLoad[], unreachable?: string[], limit: number, want: Record<string, number> }> = [
    { name: 'alone: the master works its own slots', loads: [], limit: 1, want: { [SELF]: 2 } },
    { name: 'one worker reaches the limit: the master stops working', loads: view([A, 1]), limit: 1, want: { [A]: 1, [SELF]: 0 } },
    { name: 'busy tiles count as capacity (freeSlots is a capacity)', loads: view([A, 0, 2]), limit: 2, want: { [A]: 2, [SELF]: 2 } },
    { name: 'a peer with no slots is not a worker', loads: view([A, 0], [B, 0]), limit: 1, want: { [A]: 0, [B]: 0, [SELF]: 2 } },
    { name: 'an unreachable peer gets nothing, and the master works instead', loads: view([A, 2]), unreachable: [A], limit: 1, want: { [A]: 0, [SELF]: 2 } },
    // Its own memory full (a no-memory refusal keeps the master out too): its slots do not draw the tile back.
    { name: 'a master kept out gives up its own slots', loads: view([A, 0], [B, 2]), unreachable: [SELF], limit: 4, want: { [A]: 0, [B]: 2, [SELF]: 0 } }
  ]
  for (const c of table) {
    it(c.name, () => {
      const l = loop({ slots: 2, masterWorkLimit: c.limit })
      l.plan.view = c.loads
      for (const p of c.unreachable ?? []) l.plan.unreachable.set(p, l.now + UNREACHABLE_MS)
      expect(Object.fromEntries(capacity(l.plan, l.now).map(v => [v.peer, v.freeSlots]))).toEqual(c.want)
      // The block ends on time.
      if (c.unreachable != null) expect(capacity(l.plan, l.now + UNREACHABLE_MS).find(v => v.peer === c.unreachable![0])?.freeSlots).toBe(2)
    })
  }

  it('a peer is trusted with UNPROVEN_SLOTS more than the results it delivered lately, not with the slots it claims', () => {
    const l = loop({ slots: 1, masterWorkLimit: 99 })
    l.feed({ type: 'tick', now: l.now, view: view([A, 64], [B, 1]) })
    const slotsOf = (peer: string, now = l.now): number | undefined => capacity(l.plan, now).find(v => v.peer === peer)?.freeSlots
    expect([slotsOf(A), slotsOf(B)]).toEqual([UNPROVEN_SLOTS, 1])
    // Tiles are still sized for the slots claimed.
    expect(capacity(l.plan, l.now, true).find(v => v.peer === A)?.freeSlots).toBe(64)
    // A's results raise its share one by one.
    const leases = sends(submit(l, 'j1', meta(['invert'], 64, 64, 16))).filter(x => x.lease.peer === A).map(x => x.lease)
    expect(leases).toHaveLength(UNPROVEN_SLOTS)
    for (const lease of leases) l.feed({ type: 'stored', lease, now: l.now })
    expect(slotsOf(A)).toBe(UNPROVEN_SLOTS + leases.length)
    // Results older than the window no longer count.
    expect(slotsOf(A, l.now + PROVEN_WINDOW_MS)).toBe(UNPROVEN_SLOTS)
  })

  it('tile size: the configured one, else fitted to the swarm\'s slots (more slots, smaller tiles)', () => {
    const fixed = loop({ tileSize: 96 })
    expect(tileSizeFor(fixed.plan, 6000, 4000, 0)).toBe(96)
    const alone = loop({ slots: 1, masterWorkLimit: 99 })
    const many = loop({ slots: 1, masterWorkLimit: 99 })
    many.plan.view = view([A, 8], [B, 8])
    expect(tileSizeFor(many.plan, 6000, 4000, 0)).toBeLessThan(tileSizeFor(alone.plan, 6000, 4000, 0))
  })
})

describe('master planner: lease bounds from measured speed', () => {
  it('renewals stop at LEASE_SPEED_FACTOR times what the peer took for its tiles of the job; unmeasured, the queue\'s bound alone', () => {
    const l = loop({ masterWorkLimit: 1, leaseMs: 1000 })
    l.q.config.speculate = false
    l.feed({ type: 'tick', now: l.now, view: view([A, 1]) })
    const first = sends(submit(l, 'j1', meta(['invert'], 64, 16, 16)))[0]
    expect(first.lease.peer).toBe(A)
    // Not measured yet: renewed however long it runs (the queue's maxLeaseMs is the bound then)
    expect(leaseBoundMs(l.plan, first.lease)).toBeUndefined()
    expect(types(stepMaster(l.plan, { type: 'working', lease: first.lease, now: l.now + 600_000 }))).toEqual(['queue:renew'])
    // Its first tile took 20 s: 20 s / 256 px
    l.now += 20_000
    l.feed({ type: 'delivered', lease: first.lease, result: { kind: 'image', width: 16, height: 16, channels: 3, bytes: 768 }, kept: false, now: l.now })
    const next = sends(l.feed({ type: 'stored', lease: first.lease, now: l.now }))[0]
    expect(next.lease.peer).toBe(A)
    const bound = leaseBoundMs(l.plan, next.lease)!
    expect(bound).toBe(Math.max(MIN_LEASE_BOUND_LEASES * 1000, LEASE_SPEED_FACTOR * 20_000))
    const sentAt = l.now
    expect(types(stepMaster(l.plan, { type: 'working', lease: next.lease, now: sentAt + bound - 1 }))).toEqual(['queue:renew'])
    const over = stepMaster(l.plan, { type: 'working', lease: next.lease, now: sentAt + bound + 1 })
    expect(over).toEqual([expect.objectContaining({ type: 'log', level: 'warn', msg: expect.stringMatching(/still "working" after \d+ s, 10x what its tiles of this job took; not renewed/) })])
    // said once; later renewals are dropped without a word
    expect(stepMaster(l.plan, { type: 'working', lease: next.lease, now: sentAt + bound + 500 })).toEqual([])
  })
})

describe('master planner: a tile that did not come back', () => {
  const table: Array<{ kind: FailureKind, transient: boolean, keepsOut: boolean, delayed: boolean }> = [
    { kind: 'unreachable', transient: true, keepsOut: true, delayed: false },
    { kind: 'streamEnded', transient: true, keepsOut: true, delayed: false },
    { kind: 'staleEpoch', transient: true, keepsOut: true, delayed: false },
    { kind: 'missingFile', transient: true, keepsOut: false, delayed: false },
    { kind: 'inputUnavailable', transient: true, keepsOut: false, delayed: true },
    { kind: 'local', transient: true, keepsOut: false, delayed: true },
    { kind: 'workerError', transient: false, keepsOut: false, delayed: false },
    { kind: 'malformed', transient: false, keepsOut: false, delayed: false },
    { kind: 'wrongResult', transient: false, keepsOut: false, delayed: false }
  ]
  for (const c of table) {
    it(`${c.kind}: ${c.transient ? 'not counted' : 'counted'}${c.keepsOut ? ', the peer kept out for a while' : ''}${c.delayed ? ', re-queued after a pause' : ''}`, () => {
      expect(isTransient(c.kind)).toBe(c.transient)
      const l = loop({ masterWorkLimit: 1 })
      l.feed({ type: 'tick', now: l.now, view: view([A, 1]) })
      const sent = sends(submit(l, 'j1', meta(['invert'])))
      expect(sent.map(s => s.lease.peer)).toEqual([A])
      const lease = sent[0].lease
      const cmds = stepMaster(l.plan, { type: 'undelivered', lease, failure: c.kind, message: 'boom', now: l.now })
      const failed = cmds.find((x): x is Extract<MasterCommand, { type: 'queue' }> => x.type === 'queue' && x.event.type === 'failed')
      expect(failed?.event).toMatchObject({ type: 'failed', leaseId: lease.leaseId, peer: A, transient: c.transient, reason: `${A.slice(-8)}: boom` })
      expect(failed?.delayMs).toBe(c.delayed ? UNREACHABLE_MS : undefined)
      expect(l.plan.unreachable.has(A)).toBe(c.keepsOut)
      // A transient failure tells the queue the new capacity at once; a counted one need not.
      expect(types(cmds).includes('queue:peers')).toBe(c.transient)
      expect(cmds[0]).toMatchObject({ type: 'log', level: 'warn', msg: expect.stringContaining(c.transient ? 'not delivered to' : 'failed on') })
    })
  }
})

describe('master planner: the master\'s own disk', () => {
  it('a result this master cannot store: not the worker\'s fault, the job waits and its watchers hear why, until a result is stored', () => {
    const l = loop({ masterWorkLimit: 1 })
    l.feed({ type: 'tick', now: l.now, view: view([A, 1]) })
    const [first] = sends(submit(l, 'j1', meta(['invert'])))
    const why = "ENOSPC: no space left on device, open '/data/jobs/j1/tiles/0.raw.1.tmp'"
    const cmds = stepMaster(l.plan, { type: 'undelivered', lease: first.lease, failure: 'local', message: why, now: l.now })
    const told = cmds.find((x): x is Extract<MasterCommand, { type: 'emit' }> => x.type === 'emit' && x.event.type === 'progress')
    expect(told?.event).toMatchObject({ type: 'progress', jobId: 'j1', waiting: `the master cannot store results on its disk: ${why}` })
    expect(progressOf(l.plan, 'j1')).toMatchObject({ waiting: expect.stringContaining('ENOSPC') })
    // Not counted against the tile: re-queued after a pause, so a full disk neither spins nor fails the job.
    const failed = cmds.find((x): x is Extract<MasterCommand, { type: 'queue' }> => x.type === 'queue' && x.event.type === 'failed')
    expect(failed).toMatchObject({ event: { transient: true }, delayMs: UNREACHABLE_MS })
    // Space again: the next stored result of the job clears the reason.
    l.feed({ type: 'stored', lease: first.lease, now: l.now })
    expect(progressOf(l.plan, 'j1')).not.toHaveProperty('waiting')
  })
})

describe('master planner: ETA', () => {
  it('from the swarm\'s recent rate, with the slots shared: a job waits for as many tiles of each other job as it has left', () => {
    const l = loop({ masterWorkLimit: 1 })
    l.feed({ type: 'tick', now: l.now, view: view([A, 2]) })
    const first = sends(submit(l, 'j1', meta(['invert']))) // 8 tiles
    submit(l, 'j2', meta(['invert'], 32, 32)) // 4 tiles
    expect(first).toHaveLength(2)
    expect(progressOf(l.plan, 'j1', 1000)).not.toHaveProperty('etaMs') // no rate yet
    l.feed({ type: 'stored', lease: first[0].lease, now: 1000 })
    l.feed({ type: 'stored', lease: first[1].lease, now: 2000 })
    // 2 tiles in the last 1000 ms; j1 has 6 left, j2 4: j1 ends after 6 + 4 tiles, j2 after 4 + 4.
    expect(progressOf(l.plan, 'j1', 2000)).toMatchObject({ done: 2, etaMs: 5000 })
    expect(progressOf(l.plan, 'j2', 2000)).toMatchObject({ done: 0, etaMs: 4000 })
    // A minute without a tile: no rate, no estimate (not a stale one).
    expect(progressOf(l.plan, 'j1', 2000 + PROVEN_WINDOW_MS + 1000)).not.toHaveProperty('etaMs')
  })
})

describe('master planner: results', () => {
  const pixels = (w: number, h: number, ch: number): MasterEvent['type'] extends never ? never : { kind: 'image', width: number, height: number, channels: number, bytes: number } =>
    ({ kind: 'image', width: w, height: h, channels: ch, bytes: w * h * ch })
  const table: Array<{ name: string, specs: string[], phase: number, result: Parameters<typeof pixels> | { stats: unknown }, refuse?: RegExp }> = [
    { name: 'pixels of the core size and output channels: stored', specs: ['invert'], phase: 0, result: [16, 16, 3] },
    { name: 'grey output: one channel expected', specs: ['grayscale'], phase: 0, result: [16, 16, 3], refuse: /expected 16x16x1/ },
    { name: 'a tile of the wrong size: refused', specs: ['invert'], phase: 0, result: [16, 15, 3], refuse: /result is 16x15x3, expected 16x16x3/ },
    { name: 'statistics where pixels are due: refused', specs: ['invert'], phase: 0, result: { stats: {} }, refuse: /expected pixels, got statistics/ },
    { name: 'pixels where statistics are due: refused', specs: ['normalise'], phase: 0, result: [16, 16, 3], refuse: /expected statistics, got pixels/ },
    { name: 'statistics that do not merge: refused', specs: ['normalise'], phase: 0, result: { stats: 'garbage' }, refuse: /./ }
  ]
  for (const c of table) {
    it(c.name, () => {
      const l = loop({ masterWorkLimit: 99 })
      const lease = sends(submit(l, 'j1', meta(c.specs)))[0].lease
      expect(lease.phase).toBe(c.phase)
      const result = Array.isArray(c.result) ? pixels(...c.result) : { kind: 'stats' as const, stats: c.result.stats }
      const cmds = stepMaster(l.plan, { type: 'delivered', lease, result, kept: false, now: l.now })
      if (c.refuse != null) {
        expect(cmds).toHaveLength(1)
        expect(cmds[0]).toMatchObject({ type: 'refuse', reason: expect.stringMatching(c.refuse) })
      } else {
        expect(cmds).toEqual([{ type: 'store', lease, kept: false, hash: false }])
        // Stored: the queue counts the tile, and the answer is whether it took it.
        const done = l.feed({ type: 'stored', lease, now: l.now })
        expect(done[0]).toMatchObject({ type: 'queue', answer: true, event: { type: 'done', leaseId: lease.leaseId } })
        expect(getJob(l.q, 'j1')?.done).toBe(1)
      }
    })
  }

  it('a checked tile is stored with its hash; once two results differ its next send has no copyTo, and the outvoted peer is distrusted', () => {
    const C = 'peer-cccccccc'
    const D = 'peer-dddddddd'
    const l = loop({ masterWorkLimit: 1 })
    l.q.config.speculate = false // one lease at a time: each check is a send of its own here
    l.feed({ type: 'tick', now: l.now, view: view([A, 1], [B, 1], [C, 1]) })
    const m = { ...meta(['invert'], 16, 16, 16), standbys: [D] }
    const run = (cmds: MasterCommand[], hash: string): MasterCommand[] => {
      const lease = sends(cmds)[0].lease
      const store = stepMaster(l.plan, { type: 'delivered', lease, result: pixels(16, 16, 3), kept: false, now: l.now })
      expect(store).toEqual([{ type: 'store', lease, kept: false, hash: true }])
      return l.feed({ type: 'stored', lease, hash, now: l.now })
    }
    const first = l.feed({ type: 'effects', effects: step(l.q, { type: 'submit', job: { id: 'j1', tileCount: 1, meta: m, verify: [0] }, now: l.now }).effects, now: l.now })
    expect(sends(first).map(c => [c.lease.peer, c.request.copyTo])).toEqual([[A, [D]]])
    const second = run(first, 'h1')
    // A's result waits for another peer's; B's send looks like any other (the worker cannot tell it is a check)
    expect(sends(second).map(c => [c.lease.peer, c.request.copyTo])).toEqual([[B, [D]]])
    const third = run(second, 'h2')
    expect(third).toContainEqual(expect.objectContaining({ type: 'log', level: 'warn', msg: expect.stringMatching(/results of two peers differ/) }))
    // The copies on D may be either peer's: the deciding result comes here, and replaces them
    expect(sends(third).map(c => [c.lease.peer, c.request.copyTo])).toEqual([[C, undefined]])
    const decided = run(third, 'h1')
    expect(decided).toContainEqual(expect.objectContaining({ type: 'log', level: 'warn', msg: expect.stringContaining(`peer ${B} is distrusted`) }))
    expect(getJob(l.q, 'j1')?.state).toBe('done')
    expect(l.plan.redo.size).toBe(0)
    // B gets no capacity from now on
    expect(capacity(l.plan, l.now).find(v => v.peer === B)?.freeSlots).toBe(0)
  })

  it('pixels whose byte count disagrees with their size: refused', () => {
    const l = loop({ masterWorkLimit: 99 })
    const lease = sends(submit(l, 'j1', meta(['invert'])))[0].lease
    const cmds = stepMaster(l.plan, { type: 'delivered', lease, result: { kind: 'image', width: 16, height: 16, channels: 3, bytes: 700 }, kept: false, now: l.now })
    expect(cmds).toEqual([{ type: 'refuse', lease, reason: 'result of 16x16x3 has 700 bytes, expected 768' }])
  })

  it('final pixels worked elsewhere go to the job\'s standbys, not through the master', () => {
    const table: Array<{ name: string, specs: string[], peer: string, standbys: string[], want: string[] | undefined }> = [
      { name: 'a worker that is not a standby copies to all of them', specs: ['invert'], peer: A, standbys: [B, 'peer-cccccccc'], want: [B, 'peer-cccccccc'] },
      { name: 'a worker that is a standby copies to the others', specs: ['invert'], peer: A, standbys: [A, B], want: [B] },
      { name: 'the only standby works it: pixels to the master', specs: ['invert'], peer: A, standbys: [A], want: undefined },
      { name: 'the master works it itself', specs: ['invert'], peer: SELF, standbys: [B], want: undefined },
      { name: 'statistics (not final pixels) come to the master', specs: ['normalise'], peer: A, standbys: [B], want: undefined }
    ]
    for (const c of table) {
      const l = loop({ masterWorkLimit: c.peer === SELF ? 99 : 1 })
      if (c.peer !== SELF) l.feed({ type: 'tick', now: l.now, view: view([c.peer, 1]) })
      const sent = sends(submit(l, 'j1', { ...meta(c.specs), standbys: c.standbys }))
      expect(sent[0]?.lease.peer, c.name).toBe(c.peer)
      expect(sent[0].request.copyTo, c.name).toEqual(c.want)
    }
  })

  it('a worker cuts its own tile from the input when it has the memory for it; else the pixels come from here', () => {
    const sha = 'ab'.repeat(32)
    const m = (over: Partial<JobMeta>): JobMeta => ({ ...meta(['median:radius=2'], 64, 32, 16), inputSha256: sha, standbys: [B], ...over })
    const decoded = 64 * 32 * 3
    const table: Array<{ name: string, meta: JobMeta, peer: string, freeMem?: number, want?: object }> = [
      { name: 'memory to spare: the worker fetches the input from the standby, then the master', meta: m({}), peer: A, freeMem: decoded * 4, want: { sha256: sha, holders: [B, SELF], x: 0, y: 0 } },
      { name: 'short of memory: pixels from the master', meta: m({}), peer: A, freeMem: decoded * 4 - 1 },
      // Over WHOLE_INPUT_MAX_BYTES decoded, a worker decodes one tile's rectangle at a time: a tile's memory is enough.
      { name: 'a large input needs only a tile\'s memory', meta: m({ width: 6000, height: 4000, tileSize: 1024 }), peer: A, freeMem: 4 * 1026 * 1026 * 3, want: { sha256: sha, holders: [B, SELF], x: 0, y: 0 } },
      { name: 'a large input and not even a tile\'s memory: pixels from the master', meta: m({ width: 6000, height: 4000, tileSize: 1024 }), peer: A, freeMem: 4 * 1026 * 1026 * 3 - 4 },
      { name: 'no memory figure in its heartbeat: pixels from the master', meta: m({}), peer: A },
      { name: 'a job from before input hashes: pixels from the master', meta: m({ inputSha256: undefined }), peer: A, freeMem: 1e12 },
      { name: 'the master works it itself, from the file like any worker (no decoded copy held for it)', meta: m({}), peer: SELF, want: { sha256: sha, holders: [B, SELF], x: 0, y: 0 } }
    ]
    for (const c of table) {
      const l = loop({ masterWorkLimit: c.peer === SELF ? 99 : 1 })
      if (c.peer !== SELF) l.feed({ type: 'tick', now: l.now, view: [{ peer: c.peer, freeSlots: 4, busyTiles: 0, freeMem: c.freeMem }] })
      const sent = sends(submit(l, 'j1', c.meta))
      expect(sent[0]?.lease.peer, c.name).toBe(c.peer)
      expect(sent[0].request.source, c.name).toEqual(c.want)
      // The tile is cut at its halo rectangle's corner.
      if (c.want != null && c.peer !== SELF && c.meta.tileSize === 16) expect(sends(l.out).find(x => x.request.index === 1)?.request.source).toMatchObject({ x: 14, y: 0 })
    }
  })

  it('a sent tile carries its halo rectangle, core, statistics so far and renewal period', () => {
    const l = loop({ masterWorkLimit: 99, leaseMs: 8000 })
    const m = meta(['median:radius=2'], 40, 20, 16)
    const s = sends(submit(l, 'j1', m))
    expect(s.map(x => x.request.index)).toEqual([0])
    const r = s[0].request
    expect(r).toMatchObject({ jobId: 'j1', phase: 0, width: 18, height: 18, channels: 3, core: { x: 0, y: 0, width: 16, height: 16 }, stats: [], renewMs: 2000 })
    expect(s[0].readTimeoutMs).toBe(6000)
  })
})

describe('master planner: taking over', () => {
  it('activation re-queues only the leases of holders that are not alive, then reports the queue loaded', () => {
    const l = loop({ masterWorkLimit: 99 })
    l.feed({ type: 'tick', now: l.now, view: view([A, 1], [B, 1]) })
    submit(l, 'j1', meta(['invert']))
    const holders = new Set(leasesOf(l.q).map(x => x.peer))
    expect(holders).toEqual(new Set([A, B, SELF]))
    // A new master at epoch 2 that hears only A.
    const next = newPlan({ ...l.plan.cfg }, l.q, 2)
    const cmds = stepMaster(next, { type: 'activated', now: l.now, view: view([A, 1]) })
    expect(types(cmds).slice(0, 2)).toEqual(['queue:elected', 'queue:peerDead'])
    expect(cmds.filter(c => c.type === 'queue' && c.event.type === 'peerDead').map(c => c.type === 'queue' && c.event.type === 'peerDead' ? c.event.peer : '')).toEqual([B])
    expect(cmds.find(c => c.type === 'log')).toMatchObject({ msg: 'this peer is master at epoch 2: 1 job(s) in the queue (kept from before: they go on)', fields: { jobs: 1, epoch: 2, loaded: true } })
  })

  const notices: Array<{ name: string, notice: (l: Lease) => MasterEvent, want: string[] }> = [
    { name: 'a renewal of a lease it holds: the queue renews', notice: (l) => ({ type: 'notice', from: A, now: 0, notice: { type: 'renew', jobId: l.jobId, phase: l.phase, index: l.index, leaseId: l.leaseId, epoch: l.epoch } }), want: ['queue:renew'] },
    { name: 'a renewal of a lease it does not hold: refused', notice: (l) => ({ type: 'notice', from: B, now: 0, notice: { type: 'renew', jobId: l.jobId, phase: l.phase, index: l.index, leaseId: l.leaseId, epoch: l.epoch } }), want: ['answer'] },
    { name: 'done with pixels kept on the worker: fetched and checked first', notice: (l) => ({ type: 'notice', from: A, now: 0, notice: { type: 'done', jobId: l.jobId, phase: l.phase, index: l.index, leaseId: l.leaseId, epoch: l.epoch } }), want: ['fetch'] },
    { name: 'holding nothing: its earlier-epoch leases never reached it and go back (uncounted)', notice: () => ({ type: 'notice', from: A, now: 0, notice: { type: 'holding', leaseIds: [] } }), want: ['queue:failed', 'answer'] }
  ]
  for (const c of notices) {
    it(`after a failover, ${c.name}`, () => {
      const l = loop({ masterWorkLimit: 1 })
      l.feed({ type: 'tick', now: l.now, view: view([A, 1]) })
      const lease = sends(submit(l, 'j1', meta(['invert'])))[0].lease
      const next = newPlan({ ...l.plan.cfg }, l.q, 2)
      const cmds = stepMaster(next, c.notice(lease))
      expect(types(cmds)).toEqual(c.want)
      const q = cmds.find(x => x.type === 'queue')
      if (q?.type === 'queue' && q.event.type === 'failed') expect(q.event.transient).toBe(true)
    })
  }

  it('kept pixels of the wrong shape are refused and counted; the right shape is counted done', () => {
    const l = loop({ masterWorkLimit: 1 })
    l.feed({ type: 'tick', now: l.now, view: view([A, 1]) })
    const lease = sends(submit(l, 'j1', meta(['invert'])))[0].lease
    const bad = stepMaster(l.plan, { type: 'fetched', lease, result: { kind: 'image', width: 2, height: 2, channels: 3, bytes: 12 }, now: l.now })
    expect(types(bad)).toEqual(['log', 'queue:failed', 'answer'])
    expect(bad[1]).toMatchObject({ event: { transient: false } })
    const gone = stepMaster(l.plan, { type: 'fetched', lease, message: 'no peer has it', now: l.now })
    expect(gone[1]).toMatchObject({ event: { transient: true } })
    const good = stepMaster(l.plan, { type: 'fetched', lease, result: { kind: 'image', width: 16, height: 16, channels: 3, bytes: 768 }, now: l.now })
    expect(good).toEqual([expect.objectContaining({ type: 'queue', answer: true, event: expect.objectContaining({ type: 'done' }) })])
  })
})

describe('master planner: merging and stitching', () => {
  it('a phase is merged once; its merged statistics start the next phase', () => {
    const l = loop({ masterWorkLimit: 99 })
    const m = meta(['normalise'], 16, 16, 16)
    const lease = sends(submit(l, 'j1', m))[0].lease
    // One tile: its statistics complete phase 0.
    const stats = { kind: 'stats' as const, stats: statsOf(m.pipeline) }
    expect(stepMaster(l.plan, { type: 'delivered', lease, result: stats, kept: true, now: l.now })).toEqual([{ type: 'store', lease, kept: true, hash: false }])
    const done = l.feed({ type: 'stored', lease, now: l.now })
    expect(types(done)).toContain('loadStats')
    // A repair while it merges does not start a second merge.
    expect(types(stepMaster(l.plan, { type: 'tick', now: l.now + REPAIR_MS + 1, view: [] })).filter(t => t === 'loadStats')).toEqual([])
    const next = l.feed({ type: 'statsLoaded', jobId: 'j1', phase: 0, stats: [stats.stats], now: l.now })
    expect(next[0]).toMatchObject({ type: 'queue', event: { type: 'phaseReady', jobId: 'j1', phase: 1 } })
    expect(sends(next).map(s => s.request.phase)).toEqual([1])
    expect(sends(next)[0].request.stats).toHaveLength(1)
  })

  it('statistics that cannot be read are retried by the repair', () => {
    const l = loop({ masterWorkLimit: 99 })
    const m = meta(['normalise'], 16, 16, 16)
    const lease = sends(submit(l, 'j1', m))[0].lease
    l.feed({ type: 'stored', lease, now: l.now })
    expect(types(l.feed({ type: 'statsLoaded', jobId: 'j1', phase: 0, message: 'peer gone', now: l.now }))).toEqual(['log'])
    expect(types(stepMaster(l.plan, { type: 'tick', now: l.now + REPAIR_MS + 1, view: [] }))).toContain('loadStats')
  })

  const stitchTable: Array<{ name: string, outcome: { bytes?: number, existed?: boolean, message?: string }, want: string[], again: boolean }> = [
    { name: 'built: watchers hear the result', outcome: { bytes: 123 }, want: ['log', 'emit'], again: false },
    { name: 'found stored already: nobody is told twice', outcome: { bytes: 0, existed: true }, want: [], again: false },
    { name: 'tiles missing: retried by the repair', outcome: { message: 'tile 3 is on no reachable peer' }, want: ['log'], again: true }
  ]
  for (const c of stitchTable) {
    it(`a finished job is stitched once; ${c.name}`, () => {
      const l = loop({ masterWorkLimit: 99 })
      const lease = sends(submit(l, 'j1', meta(['invert'], 16, 16, 16)))[0].lease
      const done = l.feed({ type: 'stored', lease, now: l.now })
      expect(types(done).filter(t => t === 'stitch')).toEqual(['stitch'])
      expect(types(stepMaster(l.plan, { type: 'tick', now: l.now + REPAIR_MS + 1, view: [] })).filter(t => t === 'stitch')).toEqual([])
      const out = stepMaster(l.plan, { type: 'stitched', jobId: 'j1', ...c.outcome, now: l.now })
      expect(types(out)).toEqual(c.want)
      if (c.want.includes('emit')) expect(out[1]).toMatchObject({ event: { type: 'result', jobId: 'j1', bytes: 123, format: 'png' } })
      const later = stepMaster(l.plan, { type: 'tick', now: l.now + 2 * REPAIR_MS + 2, view: [] })
      expect(types(later).includes('stitch')).toBe(c.again)
    })
  }

  it('a failed job: watchers hear why, and its files are dropped', () => {
    const l = loop({ masterWorkLimit: 99 })
    let lease = sends(submit(l, 'j1', meta(['invert'], 16, 16, 16)))[0].lease
    let last: MasterCommand[] = []
    // Alone, a tile that fails maxAttempts (3) times on this peer fails its job.
    for (let i = 0; i < 3; i++) {
      last = l.feed({ type: 'undelivered', lease, failure: 'workerError', message: `try ${i}`, now: l.now })
      const again = sends(last)
      if (i < 2) lease = again[0].lease
    }
    expect(getJob(l.q, 'j1')?.state).toBe('failed')
    expect(types(last).filter(t => t === 'emit' || t === 'forget')).toEqual(['emit', 'forget'])
    expect(last.find(c => c.type === 'emit')).toMatchObject({ event: { type: 'failed', jobId: 'j1', reason: expect.stringContaining('try 2') } })
    expect(l.plan.tiles.has('j1')).toBe(false)
  })
})

describe('master planner: standbys after a failover', () => {
  const restandbys = (cmds: MasterCommand[]): Array<Extract<MasterCommand, { type: 'restandby' }>> => cmds.filter((c): c is Extract<MasterCommand, { type: 'restandby' }> => c.type === 'restandby')
  const C = 'peer-cccccccc'
  const table: Array<{ name: string, standbys: string[], live: string[], want: number, exclude?: string[] }> = [
    { name: 'its standby is alive: nothing to do', standbys: [A], live: [A, B], want: 0 },
    { name: 'its standby is this master (it took over): another peer is made one', standbys: [SELF], live: [A, B], want: 1, exclude: [SELF, SELF] },
    { name: 'its standby died: another peer is made one', standbys: [A], live: [B], want: 1, exclude: [SELF, A] },
    { name: 'submitted alone (no standby): the first peer that comes is made one', standbys: [], live: [B], want: 1, exclude: [SELF] },
    { name: 'alone, and no standby alive: nothing to ask for', standbys: [A], live: [], want: 0 }
  ]
  for (const c of table) {
    it(c.name, () => {
      const l = loop({ masterWorkLimit: 99 })
      submit(l, 'j1', { ...meta(['invert'], 64, 64, 16), standbys: c.standbys })
      const cmds = stepMaster(l.plan, { type: 'tick', now: l.now + REPAIR_MS + 1, view: view(...c.live.map((p): [string, number] => [p, 0])) })
      const r = restandbys(cmds)
      if (c.want === 0) { expect(r).toEqual([]); return }
      expect(r).toEqual([{ type: 'restandby', jobId: 'j1', want: c.want, exclude: c.exclude }])
    })
  }

  it('asks once at a time; peers that took the files count from then on, and a refusal waits before asking again', () => {
    const l = loop({ masterWorkLimit: 99 })
    submit(l, 'j1', { ...meta(['invert'], 64, 64, 16), standbys: [A] })
    const live = view([B, 0], [C, 0])
    let t = l.now + REPAIR_MS + 1
    expect(restandbys(stepMaster(l.plan, { type: 'tick', now: t, view: live }))).toHaveLength(1)
    // Still copying: the next repair does not ask again.
    t += REPAIR_MS + 1
    expect(restandbys(stepMaster(l.plan, { type: 'tick', now: t, view: live }))).toEqual([])
    // Nobody took it: not asked again until the retry is due.
    stepMaster(l.plan, { type: 'standbys', jobId: 'j1', peers: [], now: t })
    t += REPAIR_MS + 1
    expect(restandbys(stepMaster(l.plan, { type: 'tick', now: t, view: live }))).toEqual([])
    t += RESTANDBY_RETRY_MS
    expect(restandbys(stepMaster(l.plan, { type: 'tick', now: t, view: live }))).toHaveLength(1)
    // B took it: B is a standby now, a tile's final pixels go to it, and no more are asked for.
    expect(types(stepMaster(l.plan, { type: 'standbys', jobId: 'j1', peers: [B], now: t }))).toEqual(['log'])
    expect(standbysOf(l.plan, 'j1')).toEqual([A, B])
    t += REPAIR_MS + 1
    expect(restandbys(stepMaster(l.plan, { type: 'tick', now: t, view: live }))).toEqual([])
  })

  it('a finished job\'s copies are checked once per master, even with its standby alive; a few jobs at a time', () => {
    const l = loop({ masterWorkLimit: 99 })
    const ids = ['j1', 'j2', 'j3', 'j4', 'j5', 'j6']
    for (const id of ids) {
      const lease = sends(submit(l, id, { ...meta(['invert'], 16, 16, 16), standbys: [A] }))[0].lease
      l.feed({ type: 'stored', lease, now: l.now })
      stepMaster(l.plan, { type: 'stitched', jobId: id, bytes: 10, now: l.now })
    }
    let t = l.now + REPAIR_MS + 1
    const first = restandbys(stepMaster(l.plan, { type: 'tick', now: t, view: view([A, 0]) }))
    expect(first).toHaveLength(MAX_RESTANDBYS)
    expect(first[0]).toEqual({ type: 'restandby', jobId: 'j1', want: 1, exclude: [SELF], verify: true })
    for (const c of first) stepMaster(l.plan, { type: 'standbys', jobId: c.jobId, peers: [], verified: true, now: t })
    t += REPAIR_MS + 1
    expect(restandbys(stepMaster(l.plan, { type: 'tick', now: t, view: view([A, 0]) })).map(c => c.jobId)).toEqual(['j5', 'j6'])
    for (const id of ['j5', 'j6']) stepMaster(l.plan, { type: 'standbys', jobId: id, peers: [], verified: true, now: t })
    t += REPAIR_MS + 1
    // Checked: with its standby alive, nothing more is asked.
    expect(restandbys(stepMaster(l.plan, { type: 'tick', now: t, view: view([A, 0]) }))).toEqual([])
  })

  it('a finished job asks only once its output is stored here; a failed one never', () => {
    const l = loop({ masterWorkLimit: 99 })
    const lease = sends(submit(l, 'j1', { ...meta(['invert'], 16, 16, 16), standbys: [A] }))[0].lease
    l.feed({ type: 'stored', lease, now: l.now })
    let t = l.now + REPAIR_MS + 1
    expect(restandbys(stepMaster(l.plan, { type: 'tick', now: t, view: view([B, 0]) }))).toEqual([])
    stepMaster(l.plan, { type: 'stitched', jobId: 'j1', bytes: 10, now: t })
    t += REPAIR_MS + 1
    expect(restandbys(stepMaster(l.plan, { type: 'tick', now: t, view: view([B, 0]) }))).toHaveLength(1)

    const f = loop({ masterWorkLimit: 99 })
    let fl = sends(submit(f, 'j2', { ...meta(['invert'], 16, 16, 16), standbys: [A] }))[0].lease
    for (let i = 0; i < 3; i++) {
      const again = sends(f.feed({ type: 'undelivered', lease: fl, failure: 'workerError', message: 'x', now: f.now }))
      if (i < 2) fl = again[0].lease
    }
    expect(getJob(f.q, 'j2')?.state).toBe('failed')
    expect(restandbys(stepMaster(f.plan, { type: 'tick', now: f.now + REPAIR_MS + 1, view: view([B, 0]) }))).toEqual([])
  })
})

/** Statistics of an all-black 16x16 tile for the pipeline's first phase, computed as a worker does. */
function statsOf (pipeline: Pipeline): unknown {
  const r = runTile(createRaw(16, 16, 3), pipeline, { phase: 0, stats: [], core: { x: 0, y: 0, width: 16, height: 16 } })
  if (!('stats' in r)) throw new Error('expected statistics')
  return r.stats
}
