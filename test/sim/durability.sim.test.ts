// Durability after failovers: what the swarm accepted stays on two live peers while two are alive. The
// standby chosen at submit is the likeliest next master, so once it takes over the job would be on one
// peer only unless the new master makes another peer its standby; these tests kill masters in turn and
// check the job's output is still on two peers, and that `swarm result` still gives it from the last one.
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { parsePipeline } from '../../src/ops/index.ts'
import { findMaster, watchJob } from '../../src/transfer/job-protocol.ts'
import type { JobEvent } from '../../src/transfer/messages.ts'
import { runSubmit } from '../../src/ui-cli/job-session.ts'
import { connectClient } from '../../src/node/client.ts'
import { SimSwarm, type SimPeer } from './harness.ts'
import { clientFor, expectReference, makeImage, startSwarm, submit } from './jobs.ts'

let dir: string
let sim: SimSwarm | undefined
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'swarm-durability-')) })
afterAll(async () => { await rm(dir, { recursive: true, force: true }) })
afterEach(async () => { await sim?.close(); sim = undefined })

/** Live peers that hold the job's output file, polled until at least `n` do (bounded: 60 polls, 30 s). */
async function holders (s: SimSwarm, jobId: string, n: number): Promise<SimPeer[]> {
  let have: SimPeer[] = []
  const until = Date.now() + 30_000
  for (let i = 0; i < 60 && Date.now() < until; i++) {
    have = []
    for (const p of s.running()) if (await p.node!.master.files.has(jobId, 'output.png')) have.push(p)
    if (have.length >= n) return have
    await new Promise(resolve => setTimeout(resolve, 500))
  }
  return have
}

/** The promise's value, or a failure that says what was seen, so a stalled job shows its trace. */
async function withDeadline<T> (p: Promise<T>, ms: number, seen: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => { reject(new Error(seen())) }, ms) })
  try { return await Promise.race([p, late]) } finally { clearTimeout(timer) }
}

describe('sim: durability after failovers', () => {
  it('the master killed mid-job: the output ends on two live peers, and after the next master dies too the last peer still serves it', async () => {
    const started = await startSwarm(3, { heartbeatMs: 200, deadAfterMs: 800, leaseMs: 3000 })
    sim = started.s
    const s = started.s
    const specs = ['invert', 'blur:sigma=1']
    const img = await makeImage(dir, 'durable.png', 240, 160, 7)
    const via = s.peers.find(p => p !== started.master)!
    const client = await clientFor(s, via.index)
    let jobId = ''
    let killed = false
    let out: { data?: Uint8Array, failure?: string }
    try {
      out = await runSubmit({ path: img, name: 'durable.png', bytes: (await stat(img)).size, pipeline: parsePipeline(specs), format: 'png', tileSize: 40, watch: true }, {
        node: client.node,
        targets: client.targets,
        masterTimeoutMs: 20_000,
        onEvent: (e: JobEvent) => {
          if (e.type === 'accepted') jobId = e.jobId
          if (e.type === 'progress' && !killed && e.done >= e.total * 0.3) { killed = true; void s.kill(started.master.index) }
        }
      })
    } finally { await client.close() }
    expect(killed, 'the master was killed mid-job').toBe(true)
    expect(out.failure).toBeUndefined()
    await expectReference(out.data, img, specs)

    // Two peers are left, the new master one of them: both hold the output.
    const { value: second } = await s.waitFor('a new master', () => s.agreedMaster(), 20_000)
    const both = await holders(s, jobId, 2)
    expect(both.map(p => p.index).sort(), 'live peers holding the output').toEqual(s.running().map(p => p.index).sort())

    // The second master dies too: the one peer left is master and still gives the result.
    await s.kill(second.index)
    const last = s.running()
    expect(last).toHaveLength(1)
    await s.waitFor('the last peer is master', () => s.agreedMaster() === last[0] ? last[0] : null, 20_000)
    const c2 = await clientFor(s, last[0].index)
    try {
      const master = await findMaster(c2.node, c2.targets, 20_000)
      const again = await watchJob(c2.node, master, jobId, true, () => {})
      expect(again.failure).toBeUndefined()
      await expectReference(again.data, img, specs)
    } finally { await c2.close() }
  })

  it('a finished job whose output and tiles are on no peer any more is made again from its input by the master', { timeout: 120_000 }, async () => {
    // The one way to lose every copy of a counted tile on purpose: one peer, the output deleted while it is
    // down (its tiles went when the output was made). Before, the stitch waited for the tiles forever.
    const started = await startSwarm(1, { heartbeatMs: 200, deadAfterMs: 800, leaseMs: 3000 })
    sim = started.s
    const s = started.s
    const specs = ['normalise', 'blur:sigma=1']
    const img = await makeImage(dir, 'lost.png', 200, 120, 11)
    const first = await submit(s, img, specs, { tileSize: 40 })
    expect(first.failure).toBeUndefined()
    const jobId = first.jobId
    const output = started.master.node!.master.files.pathOf(jobId, 'output.png')
    await s.kill(started.master.index)
    await rm(output)
    await s.restart(started.master.index)
    await s.waitFor('the peer is master again', () => s.agreedMaster(), 20_000)
    const c = await clientFor(s, started.master.index)
    try {
      const master = await findMaster(c.node, c.targets, 20_000)
      const again = await withDeadline(watchJob(c.node, master, jobId, true, () => {}), 60_000, () => `no output after the restart\n${s.trace()}`)
      expect(again.failure).toBeUndefined()
      await expectReference(again.data, img, specs)
    } finally { await c.close() }
    expect(s.log.filter(l => l.includes('is on no live peer')).length, 'tiles made again at the stitch').toBeGreaterThan(0)
  })

  it('the master killed mid-job, then the new master killed mid-job too: the job completes, right, on two live peers', { timeout: 120_000 }, async () => {
    const started = await startSwarm(4, { heartbeatMs: 200, deadAfterMs: 800, leaseMs: 3000, verify: 0 })
    sim = started.s
    const s = started.s
    // Slow workers, so the job outlasts two failovers.
    for (const p of s.peers) p.node!.worker.opts.slowdownMs = 600
    const specs = ['invert', 'blur:sigma=1']
    const img = await makeImage(dir, 'twice.png', 320, 240, 9)
    // The client knows every peer (as `swarm submit` learns them): whichever masters die, it follows the job.
    const client = await connectClient({ peers: s.peers.map(p => `/ip4/127.0.0.1/tcp/${p.port}/p2p/${p.peerId}`) })
    const first = started.master
    let second: SimPeer | undefined
    let jobId = ''
    let done = 0
    let total = 1
    const kills: number[] = []
    // The second death is covered once the first is repaired: the next master is agreed and the job is on
    // two live peers again; then, past half the job, it dies too.
    let secondKill: Promise<void> | undefined
    const killSecond = async (): Promise<void> => {
      const { value: m } = await s.waitFor('the next master', () => { const a = s.agreedMaster(); return a !== first ? a : null }, 30_000)
      for (let i = 0; i < 120; i++) {
        let n = 0
        for (const p of s.running()) if (await p.node!.master.files.has(jobId, 'input')) n++
        if (n >= 2 && done >= total * 0.5) break
        await new Promise(resolve => setTimeout(resolve, 100))
      }
      if (done >= total) return
      second = m
      kills.push(done)
      s.note(`client: killing the second master at ${done}/${total}`)
      await s.kill(m.index)
    }
    let out: { data?: Uint8Array, failure?: string }
    try {
      const submitted = runSubmit({ path: img, name: 'twice.png', bytes: (await stat(img)).size, pipeline: parsePipeline(specs), format: 'png', tileSize: 40, watch: true }, {
        node: client.node,
        targets: client.targets,
        masterTimeoutMs: 60_000,
        onEvent: (e: JobEvent) => {
          if (e.type === 'accepted') jobId = e.jobId
          s.note(`client: ${e.type}${e.type === 'progress' ? ` ${e.done}/${e.total}` : ''}`)
          if (e.type !== 'progress') return
          done = e.done
          total = e.total
          if (kills.length === 0 && e.done >= e.total * 0.2) {
            kills.push(e.done)
            void s.kill(first.index)
            s.note(`client: killing the first master at ${e.done}/${e.total}`)
            secondKill = killSecond()
          }
        }
      })
      out = await withDeadline(submitted, 90_000, () => `the job still not done at ${done}/${total}\n${s.trace()}`)
    } finally { await client.close() }
    await secondKill
    expect(kills, 'progress at each kill').toHaveLength(2)
    expect(second).toBeDefined()
    expect(out.failure).toBeUndefined()
    await expectReference(out.data, img, specs)
    const both = await holders(s, jobId, 2)
    expect(both.map(p => p.index).sort(), 'the two live peers both hold the output').toEqual(s.running().map(p => p.index).sort())
  })

  it('a job done by a lone peer gets a second copy of its output once another peer joins', async () => {
    const started = await startSwarm(1, { heartbeatMs: 200, deadAfterMs: 800, leaseMs: 3000 })
    sim = started.s
    const s = started.s
    const specs = ['invert']
    const img = await makeImage(dir, 'lone.png', 240, 160, 8)
    const client = await clientFor(s, 0)
    let accepted: Extract<JobEvent, { type: 'accepted' }> | undefined
    let out: { data?: Uint8Array, failure?: string }
    try {
      out = await runSubmit({ path: img, name: 'lone.png', bytes: (await stat(img)).size, pipeline: parsePipeline(specs), format: 'png', tileSize: 40, watch: true }, {
        node: client.node, targets: client.targets, masterTimeoutMs: 20_000, onEvent: (e: JobEvent) => { if (e.type === 'accepted') accepted = e }
      })
    } finally { await client.close() }
    expect(out.failure).toBeUndefined()
    // Alone at submit: its only copy is here.
    expect(accepted?.copies).toBe(1)
    expect(await holders(s, accepted!.jobId, 1)).toHaveLength(1)
    await s.add(1)
    const both = await holders(s, accepted!.jobId, 2)
    expect(both).toHaveLength(2)
  })
})
