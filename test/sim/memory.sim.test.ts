// Admission against the peers' memory budgets: a job whose tile no peer's budget could ever hold is
// refused at submit with a sentence naming the tile and the largest budget, instead of waiting in the
// queue for good; the same image in tiles that fit runs.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import sharp from 'sharp'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import type { SimSwarm } from './harness.ts'
import { startSwarm, submit } from './jobs.ts'

const MiB = 1024 * 1024
const dir = await mkdtemp(join(tmpdir(), 'swarm-memory-sim-'))
let sim: SimSwarm | undefined
afterAll(async () => { await rm(dir, { recursive: true, force: true }) })
afterEach(async () => { await sim?.close(); sim = undefined })

describe('sim: memory budgets at submit', () => {
  it('a tile no peer\'s budget can hold is refused, naming the tile size; smaller tiles of the same image run', { timeout: 180_000 }, async () => {
    const started = await startSwarm(3, { heartbeatMs: 200, deadAfterMs: 1500, maxMemory: 2048 * MiB })
    sim = started.s
    const img = join(dir, 'wide.png')
    await sharp({ create: { width: 11000, height: 11000, channels: 3, background: { r: 128, g: 128, b: 128 } } }).toColourspace('b-w').png().toFile(img)
    // 11000 x 11000 x 4 bytes x 5 = 2308 MiB for one tile; a 2 GiB budget holds at most 1920 MiB at once.
    // (The peers share this process's RSS, so the budget is set far above it: only the refusal is tested.)
    const refused = await submit(sim, img, ['invert'], { tileSize: 16384 }).then(() => undefined, (err: Error) => err)
    expect(refused?.message).toContain('wide.png: a tile of 16384x16384 pixels needs 2308 MiB of memory while it is worked, more than the largest peer memory budget in the swarm (2048 MiB) can hold; submit with a smaller --tile-size')
    const ok = await submit(sim, img, ['invert'], { tileSize: 2048 })
    expect(ok.failure).toBeUndefined()
    expect(ok.data?.byteLength).toBeGreaterThan(0)
  })
})
