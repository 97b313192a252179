// A hot device backs off: a peer whose thermal zone reads 85 °C (a fake sysfs dir) offers no slots in its
// heartbeats, says why, and gets none of a job's tiles; the job is done by the others, to the pixel.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import type { SimSwarm } from './harness.ts'
import { expectReference, makeImage, startSwarm, submit } from './jobs.ts'

const root = mkdtempSync(join(tmpdir(), 'swarm-hot-'))
let sim: SimSwarm | undefined
afterEach(async () => { await sim?.close(); sim = undefined })
afterAll(() => { rmSync(root, { recursive: true, force: true }) })

describe('sim: a hot peer', () => {
  it('offers no slots and gets no tiles while its sensor reads 85 °C', async () => {
    const thermal = join(root, 'thermal')
    mkdirSync(join(thermal, 'thermal_zone0'), { recursive: true })
    writeFileSync(join(thermal, 'thermal_zone0', 'temp'), '85000\n')
    const started = await startSwarm(2, { heartbeatMs: 200, deadAfterMs: 2000, masterWorkLimit: 0 })
    const s = sim = started.s
    const [hot] = await s.add(1, { thermalDir: thermal })
    const hotId = hot.peer!.peerId
    const { value: row } = await s.waitFor('the master hears the hot peer', () => {
      const r = started.master.node!.peer.snapshot().peers.find(p => p.peerId === hotId)
      return r?.load.tempC === 85 ? r : undefined
    }, 20_000)
    expect(row.load.freeSlots).toBe(0)
    expect(row.load.backoff).toMatch(/hot: 85 °C/)
    const workers = new Set<string>()
    started.master.node!.master.on('dispatched', (d) => { workers.add(d.peer) })
    const img = await makeImage(root, 'hot.png', 200, 150, 2)
    const out = await submit(s, img, ['grayscale', 'blur:sigma=1'], { tileSize: 32 })
    await expectReference(out.data, img, ['grayscale', 'blur:sigma=1'])
    expect(workers.size).toBeGreaterThan(0)
    expect([...workers]).not.toContain(hotId)
  })
})
