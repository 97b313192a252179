// The CLI session's search budget: masterTimeoutMs from the moment a master was lost, never from the
// job's last progress (a queued job is silent for as long as it waits, and that is no reason to give up).
import { describe, expect, it } from 'vitest'
import { ManualClock } from '../../src/transfer/clock.ts'
import { SearchBudget } from '../../src/ui-cli/job-session.ts'

describe('SearchBudget', () => {
  it('starts searching at once; a master heard stops the clock; a loss starts it again from then', () => {
    const clock = new ManualClock(1000)
    const b = new SearchBudget(clock, 15_000)
    clock.advance(4000)
    expect(b.left()).toBe(11_000)
    b.heard()
    clock.advance(120_000) // a long, silent wait in the queue
    expect(b.left()).toBe(15_000)
    b.lost()
    clock.advance(5000)
    b.lost() // still the same search: it does not start over
    expect(b.left()).toBe(10_000)
    clock.advance(10_000)
    expect(b.left()).toBe(0)
    b.heard()
    expect(b.left()).toBe(15_000)
  })
})
