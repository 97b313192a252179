// The worker's notice retries on a manual clock: a notice the master it follows cannot take yet (it is still
// opening its queue, or not reachable) is offered again every NOTIFY_RETRY_MS, for NOTIFY_FOR_MS, then dropped.
import { describe, expect, it } from 'vitest'
import { NOTIFY_FOR_MS, NOTIFY_RETRY_MS, WorkerRuntime } from '../../src/scheduler/worker.ts'
import { parsePipeline } from '../../src/ops/index.ts'
import { ManualClock } from '../../src/transfer/clock.ts'
import type { TileRequest } from '../../src/transfer/messages.ts'
import type { TileNotice } from '../../src/transfer/tile-done.ts'

/** Lets the worker's promise chains run, without moving the clock. */
async function turns (n = 5): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise(resolve => setImmediate(resolve))
}

function worker (clock: ManualClock, answer: (n: number) => boolean | Error): { w: WorkerRuntime, calls: number[] } {
  const calls: number[] = []
  const w = new WorkerRuntime({
    slots: 1,
    epoch: () => 1,
    clock,
    notify: async (_notice: TileNotice) => {
      calls.push(clock.now())
      const a = answer(calls.length)
      if (a instanceof Error) throw a
      return a
    }
  })
  return { w, calls }
}

describe('worker notices on a manual clock', () => {
  it('a notice no master can take is offered every NOTIFY_RETRY_MS until NOTIFY_FOR_MS, then given up', async () => {
    const clock = new ManualClock(5000)
    const { w, calls } = worker(clock, () => new Error('not master yet'))
    let settled = false
    const report = w.reportHolding().then(() => { settled = true })
    await turns()
    expect(calls).toEqual([5000])
    // Bounded: one step per retry, and a few more to see that none comes after the window.
    for (let i = 0; i < NOTIFY_FOR_MS / NOTIFY_RETRY_MS + 5; i++) {
      clock.advance(NOTIFY_RETRY_MS)
      await turns()
    }
    await report
    expect(settled).toBe(true)
    const want = Array.from({ length: NOTIFY_FOR_MS / NOTIFY_RETRY_MS }, (_, i) => 5000 + i * NOTIFY_RETRY_MS)
    expect(calls).toEqual(want)
    expect(clock.pending).toBe(0)
  })

  it('stops offering once a master answers, whatever it answers', async () => {
    const clock = new ManualClock()
    const { w, calls } = worker(clock, n => n < 3 ? new Error('unreachable') : false)
    const report = w.reportHolding()
    for (let i = 0; i < 10; i++) {
      await turns()
      clock.advance(NOTIFY_RETRY_MS)
    }
    await report
    expect(calls).toEqual([0, NOTIFY_RETRY_MS, 2 * NOTIFY_RETRY_MS])
    expect(clock.pending).toBe(0)
  })

  it('tile speed counts the tiles of the last minute of the injected clock', async () => {
    const clock = new ManualClock(1_000_000)
    const { w } = worker(clock, () => true)
    try {
      const req: TileRequest = {
        jobId: 'j', phase: 0, index: 0, leaseId: '1:1', epoch: 1, pipeline: parsePipeline(['invert']),
        width: 4, height: 4, channels: 1, core: { x: 0, y: 0, width: 4, height: 4 }, stats: [], renewMs: 1000
      }
      await w.run(req, new Uint8Array(16))
      clock.advance(20_000)
      expect(w.tileSpeed()).toBe(0.05) // 1 tile in 20 s
      clock.advance(40_000)
      expect(w.tileSpeed()).toBe(0) // a minute old: out of the window
    } finally {
      await w.close()
    }
  })
})
