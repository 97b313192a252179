// What `swarm jobs` and `swarm top` print, run in-process against a sim swarm on 127.0.0.1: a finished
// job's row counts the peers that did its tiles and says how long it took (it showed 0 peers and no
// duration), and top's one frame (no terminal) names the peers and the master.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { jobs } from '../../src/ui-cli/actions/jobs.ts'
import type { SimSwarm } from './harness.ts'
import { makeImage, startSwarm, submit } from './jobs.ts'

let dir: string
let sim: SimSwarm | undefined
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'swarm-cli-views-')) })
afterAll(async () => { await rm(dir, { recursive: true, force: true }) })
afterEach(async () => { vi.restoreAllMocks(); await sim?.close(); sim = undefined })

/** What `run` wrote to stdout (console.log and process.stdout.write alike). */
async function stdoutOf (run: () => Promise<unknown>): Promise<string> {
  let out = ''
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => { out += chunk.toString(); return true })
  vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => { out += `${args.join(' ')}\n` })
  try { await run() } finally { vi.restoreAllMocks() }
  return out
}

describe('sim: swarm jobs and swarm top', () => {
  it('jobs: a finished job shows the peers that did its tiles, its duration and throughput; --json has them too', async () => {
    const started = await startSwarm(3, { heartbeatMs: 200, deadAfterMs: 800, verify: 0 })
    sim = started.s
    const img = await makeImage(dir, 'a.png', 320, 240, 5)
    const out = await submit(sim, img, ['invert'], { tileSize: 64 })
    expect(out.failure).toBeUndefined()
    const peer = [sim.running()[0].peer!.addrs()[0].toString()]
    const table = await stdoutOf(async () => { await jobs({ peer, json: false, limit: 50, timeout: 10_000 }) })
    const head = table.split('\n').find(l => l.includes('state'))!
    expect(head).toMatch(/peers.*duration.*throughput/)
    const row = table.split('\n').find(l => l.includes('a.png'))
    expect(row, table).toBeDefined()
    const cells = row!.split('│').map(c => c.trim()).filter(c => c !== '')
    // job, image, size, state, progress, peers, duration, throughput, pipeline, submitted
    expect(cells[3]).toBe('done')
    expect(Number(cells[5]), table).toBeGreaterThan(0)
    expect(cells[6], table).toMatch(/^\d+(\.\d)? (ms|s)$|min/)
    expect(cells[7], table).toMatch(/MP\/s$/)
    // Not a terminal: no colour codes.
    expect(table).not.toContain('\u001b[')
    const json = JSON.parse(await stdoutOf(async () => { await jobs({ peer, json: true, limit: 50, timeout: 10_000 }) })) as { jobs: Array<Record<string, unknown>>, master: string }
    const j = json.jobs.find(x => x.name === 'a.png')!
    expect(j.state).toBe('done')
    expect((j.workers as string[]).length).toBeGreaterThan(0)
    expect(j.peerCount).toBe((j.workers as string[]).length)
    expect(j.durationMs).toBeGreaterThan(0)
    expect(j.megapixelsPerSecond).toBeGreaterThan(0)
    expect(json.master).toBe(started.master.peerId)
  })

  it('top --once (or without a terminal): one frame with the peers, the master and the queue, exit 0', async () => {
    const started = await startSwarm(2, { heartbeatMs: 200, deadAfterMs: 800, verify: 0 })
    sim = started.s
    // Both peers have heard each other: the frame lists them both.
    await sim.waitFor('each peer to see the other', () => sim!.running().every(p => p.peer!.liveView().length >= 1), 10_000)
    const { top } = await import('../../src/ui-cli/actions/top.ts')
    let code = -1
    const frame = await stdoutOf(async () => { code = await top({ peer: [sim!.running()[0].peer!.addrs()[0].toString()], interval: 1000, once: true, timeout: 10_000 }) })
    expect(code).toBe(0)
    expect(frame).toContain(`master: `)
    expect(frame).toContain(started.master.peerId)
    expect(frame).toMatch(/2 peer\(s\) alive/)
    for (const p of sim.running()) expect(frame).toContain(p.peerId.slice(-6))
    expect(frame).toMatch(/tiles in flight: \d+ of \d+ slots/)
    expect(frame).toContain('tiles/s')
    expect(frame).toMatch(/no job running/)
    // Printed once, with no screen control (not a terminal).
    expect(frame).not.toContain('\u001b[')
    expect(frame.match(/swarm top/g)).toHaveLength(1)
  })
})
