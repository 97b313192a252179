import { describe, expect, it } from 'vitest'
import { ManualClock, systemClock } from '../../src/transfer/clock.ts'

describe('clock', () => {
  it('a manual clock runs due timers in time order, repeats, and cancels', () => {
    const c = new ManualClock(1000)
    const seen: string[] = []
    c.after(300, () => { seen.push(`a@${c.now()}`) })
    const b = c.every(100, () => { seen.push(`b@${c.now()}`) })
    const gone = c.after(50, () => { seen.push('never') })
    gone.cancel()
    c.advance(250)
    expect(seen).toEqual(['b@1100', 'b@1200'])
    expect(c.now()).toBe(1250)
    c.advance(100)
    // Timers due at the same time run in the order they were armed.
    expect(seen).toEqual(['b@1100', 'b@1200', 'a@1300', 'b@1300'])
    b.cancel()
    c.advance(1000)
    expect(seen).toHaveLength(4)
    expect(c.pending).toBe(0)
  })

  it('sleep resolves when time reaches it and rejects when aborted', async () => {
    const c = new ManualClock()
    let woke = false
    const p = c.sleep(500).then(() => { woke = true })
    c.advance(499)
    await Promise.resolve()
    expect(woke).toBe(false)
    c.advance(1)
    await p
    expect(woke).toBe(true)
    const ac = new AbortController()
    const q = c.sleep(500, ac.signal)
    ac.abort(new Error('stop'))
    await expect(q).rejects.toThrow('stop')
    expect(c.pending).toBe(0)
  })

  it('the system clock sleeps for real', async () => {
    const t0 = systemClock.now()
    await systemClock.sleep(20)
    expect(systemClock.now() - t0).toBeGreaterThanOrEqual(15)
  })
})
