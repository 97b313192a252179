// Chaos: from fixed seeds, a multi-job workload while the master is killed at random points, workers
// die mid-tile, peers restart, the swarm splits 3/2 or 4/1 and heals, and some peers are slow.
// Invariants, checked all along and at the end: at most one master per epoch among peers that hear
// each other (the harness), every accepted job completes, every output equals the reference, no peer
// stitches a job twice, after the last fault the swarm converges to one master, and durability: after
// every step that leaves the swarm connected, each accepted job is on two live peers again within a few
// repair rounds (its output once stored, else its input), and every output ends on two live peers.
// More schedules: SWARM_SIM_SEEDS=500; replay one: SWARM_SIM_SEED=<seed> (the failure prints it);
// beside CPU hogs: SWARM_SIM_HOGS=2.
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { connectClient } from '../../src/node/client.ts'
import { parsePipeline, type RawImage } from '../../src/ops/index.ts'
import { runSubmit } from '../../src/ui-cli/job-session.ts'
import { SimSwarm, type SimPeer } from './harness.ts'
import { decodeOutput, makeImage, reference } from './jobs.ts'
import { pick, prng } from './prng.ts'
import { hogsFromEnv, startHogs, type Hogs } from './cpu-hogs.ts'

const only = process.env.SWARM_SIM_SEED
// 26 by default: CI runs the whole suite in under 20 minutes (40 took 210 s of it); the seeds are fixed, so
// more of them only adds schedules (SWARM_SIM_SEEDS).
const count = Number(process.env.SWARM_SIM_SEEDS ?? 26)
const seeds = only != null ? [Number(only)] : Array.from({ length: count }, (_, i) => 7000 + i)

const WORKLOAD = [
  { name: 'a.png', specs: ['grayscale', 'blur:sigma=1'], w: 96, h: 72 },
  { name: 'b.png', specs: ['invert', 'threshold:method=otsu'], w: 80, h: 64 },
  { name: 'c.png', specs: ['sepia', 'dilate'], w: 88, h: 56 }
]

let dir: string
const refs = new Map<string, RawImage>()
let sim: SimSwarm | undefined
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'swarm-chaos-'))
  for (const [i, job] of WORKLOAD.entries()) {
    const path = await makeImage(dir, job.name, job.w, job.h, 100 + i)
    refs.set(job.name, await reference(path, parsePipeline(job.specs)))
  }
})
afterAll(async () => { await rm(dir, { recursive: true, force: true }) })
// SWARM_SIM_HOGS=2: the same schedules beside busy loops pinned to the cores (an overloaded machine).
let hogs: Hogs | undefined
beforeAll(() => { if (hogsFromEnv() > 0) hogs = startHogs(hogsFromEnv(), 30 * 60_000) })
afterAll(() => { hogs?.stop() })

afterEach(async () => { await sim?.close(); sim = undefined })

const timing = { heartbeatMs: 100, deadAfterMs: 400, leaseMs: 2000, slots: 1 }
const pause = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

/** Live peers holding the job's output, or when none does yet, its input. */
async function holders (s: SimSwarm, jobId: string): Promise<{ what: string, n: number }> {
  const live = s.running()
  let out = 0
  let input = 0
  for (const p of live) {
    const files = p.node!.master.files
    if (await files.has(jobId, 'output.png')) out++
    else if (await files.has(jobId, 'input')) input++
  }
  return out > 0 ? { what: 'output', n: out } : { what: 'input', n: input }
}

/**
 * The two-copies invariant after a step: every accepted job on two live peers, allowed the time a new
 * master takes to be elected and re-replicate (REPAIR_MS rounds), generously for a loaded CI machine; bounded at 200 polls, 30 s.
 */
async function expectTwoCopies (s: SimSwarm, jobIds: Iterable<string>, after: string): Promise<void> {
  if (s.running().length < 2) return
  for (const jobId of jobIds) {
    // Both holders down (a master and its standby killed before it re-replicated: two deaths, not one)
    // leaves none live; the job waits for one of them to come back, and the end of the schedule checks it.
    // Waiting here would only spend the step's bound on a job that cannot move.
    const stranded = (h: { n: number }): boolean => h.n === 0 && s.peers.some(p => p.peer == null)
    let h = await holders(s, jobId)
    for (let i = 0; i < 200 && h.n < 2 && !stranded(h); i++) {
      await pause(150)
      h = await holders(s, jobId)
    }
    if (stranded(h)) continue
    expect(h.n, `after ${after}: job ${jobId} has its ${h.what} on ${h.n} live peer(s)`).toBeGreaterThanOrEqual(2)
  }
}

describe('sim: chaos schedules', () => {
  for (const seed of seeds) {
    it(`seed ${seed}`, { timeout: 120_000 }, async () => {
      const rand = prng(seed)
      const s = sim = new SimSwarm(timing)
      await s.init()
      s.note(`seed ${seed}`)
      try {
        await s.add(5)
        await s.waitFor('first master', () => s.agreedMaster(), 4000)
        const stitched = new Map<object, Set<string>>()
        const twice: string[] = []
        const watchStitching = (p: SimPeer): void => {
          const node = p.node!
          node.master.on('job', (e) => {
            if (e.type !== 'result') return
            const set = stitched.get(node) ?? new Set<string>()
            if (set.has(e.jobId)) twice.push(`peer ${p.index} stitched ${e.jobId} twice`)
            set.add(e.jobId)
            stitched.set(node, set)
          })
        }
        s.peers.forEach(watchStitching)

        // The workload: three jobs submitted like the CLI does, each client following its job
        // through every master change. Clients know every peer's address.
        const targets = s.peers.map(p => `/ip4/127.0.0.1/tcp/${p.port}/p2p/${p.peerId}`)
        const accepted = new Set<string>()
        const jobs = WORKLOAD.map(async (job) => {
          const client = await connectClient({ peers: targets })
          try {
            const path = join(dir, job.name)
            let jobId = ''
            const out = await runSubmit({ path, name: job.name, bytes: (await stat(path)).size, pipeline: parsePipeline(job.specs), format: 'png', tileSize: 24, watch: true }, {
              node: client.node, targets: client.targets, masterTimeoutMs: 30_000, onEvent: (e) => { if (e.type === 'accepted') accepted.add(jobId = e.jobId) }
            })
            return { job, out, jobId }
          } finally { await client.close() }
        })

        // The faults, while the jobs run.
        let partitioned = false
        const steps = 4 + Math.floor(rand() * 3)
        for (let step = 0; step < steps; step++) {
          await s.waitFor('pause', () => false, 100 + Math.floor(rand() * 500)).catch((err: Error) => { if (!err.message.startsWith('timed out')) throw err })
          const up = s.running()
          const down = s.peers.filter(p => p.peer == null)
          const kind = pick(rand, ['kill-master', 'kill-worker', 'restart', 'partition', 'heal', 'slow'] as const)
          if (kind === 'kill-master' && up.length > 2) {
            const m = s.masters()
            if (m.length > 0) await s.kill(pick(rand, m).index)
          } else if (kind === 'kill-worker' && up.length > 2) {
            const workers = up.filter(p => !p.peer!.isMaster)
            if (workers.length > 0) await s.kill(pick(rand, workers).index)
          } else if (kind === 'restart' && down.length > 0) {
            const p = pick(rand, down)
            await s.restart(p.index)
            watchStitching(p)
          } else if (kind === 'partition' && !partitioned) {
            const order = s.peers.map(p => p.index).sort(() => rand() - 0.5)
            const cut = rand() < 0.5 ? 3 : 4
            await s.partition([order.slice(0, cut), order.slice(cut)])
            partitioned = true
          } else if (kind === 'heal') {
            s.heal()
            partitioned = false
          } else if (kind === 'slow' && up.length > 0) {
            pick(rand, up).node!.worker.opts.slowdownMs = 100 + Math.floor(rand() * 200)
          }
          // (While split, a job accepted on a side of one has no second peer to be on: checked once healed.)
          if (!partitioned) await expectTwoCopies(s, [...accepted], `step ${step} (${kind})`)
        }

        // After the last fault: heal, bring every peer back; every accepted job must complete.
        s.heal()
        for (const p of s.peers.filter(p => p.peer == null)) {
          await s.restart(p.index)
          watchStitching(p)
        }
        const results = await Promise.race([
          Promise.all(jobs),
          pause(45_000).then(() => { throw new Error('jobs did not complete within 45 s of the last fault') })
        ])
        for (const { job, out } of results) {
          expect(out.failure, `${job.name} failed`).toBeUndefined()
          const got = await decodeOutput(out.data!)
          const want = refs.get(job.name)!
          expect([got.width, got.height, got.channels], job.name).toEqual([want.width, want.height, want.channels])
          expect(Buffer.compare(Buffer.from(got.data), Buffer.from(want.data)), `${job.name} differs from the reference`).toBe(0)
        }
        expect(twice).toEqual([])
        await s.waitFor('convergence to one master', () => s.agreedMaster(), 5000)
        // Durability: with every peer back, each job's output is on two live peers (re-replicated after
        // the deaths, within a few repair rounds; bounded at 60 polls, 15 s).
        for (const { job, jobId } of results) {
          let holders = 0
          for (let i = 0; i < 60 && holders < 2; i++) {
            holders = 0
            for (const p of s.running()) if (await p.node!.master.files.has(jobId, 'output.png')) holders++
            if (holders < 2) await pause(250)
          }
          expect(holders, `${job.name} (${jobId}): live peers holding its output`).toBeGreaterThanOrEqual(2)
        }
        if (process.env.SWARM_SIM_TRACE != null) console.log(s.trace())
        // Still one master at the end: awaited, not sampled. A peer whose link to the master was cut by
        // the last partition may notice it only now, hold an election, and be settled by the next
        // heartbeats (seed 7015 on a loaded CI machine: elected 200 ms after the convergence above).
        await s.waitFor('one agreed master at the end', () => s.agreedMaster(), 10_000)
      } catch (err) {
        throw new Error(`seed ${seed} failed (replay: SWARM_SIM_SEED=${seed}): ${(err as Error).message}\n${s.trace()}`)
      }
    })
  }
})
