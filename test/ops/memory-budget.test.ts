// The memory budget: sizes as people write them, one sentence for a bad one, and reservations judged
// against measured RSS plus what is reserved, with an idle budget always able to take one piece of work.
import { describe, expect, it } from 'vitest'
import { defaultMemoryLimit, largestReservation, MemoryBudget, MIN_MEMORY_BYTES, parseMemorySize, slackOf, tileWorkingBytes } from '../../src/ops/memory-budget.ts'

const MiB = 1024 * 1024

describe('memory sizes', () => {
  it('reads M, G, MiB, GB and bare MiB', () => {
    expect(parseMemorySize('512M')).toBe(512 * MiB)
    expect(parseMemorySize('2G')).toBe(2048 * MiB)
    expect(parseMemorySize('1.5GiB')).toBe(1536 * MiB)
    expect(parseMemorySize(' 300 ')).toBe(300 * MiB)
    expect(parseMemorySize('268435456b')).toBe(256 * MiB)
  })

  it('refuses anything else, and less than the minimum, in one sentence', () => {
    for (const bad of ['', 'lots', '-1G', '12T', '1e9', '100M', 'NaN']) {
      expect(() => parseMemorySize(bad)).toThrow(`--max-memory must be a size of at least 256 MiB (e.g. 512M, 2G), got ${JSON.stringify(bad)}`)
    }
  })

  it('defaults to a share of free memory, never under the minimum', () => {
    expect(defaultMemoryLimit(8192 * MiB)).toBe(6144 * MiB)
    expect(defaultMemoryLimit(100 * MiB)).toBe(MIN_MEMORY_BYTES)
  })
})

describe('MemoryBudget', () => {
  it('grants what fits beside measured RSS, what is reserved and the slack, and refuses the rest', () => {
    let rss = 300 * MiB
    const b = new MemoryBudget(1000 * MiB, () => rss)
    expect(slackOf(1000 * MiB)).toBe(100 * MiB)
    expect(slackOf(256 * MiB)).toBe(32 * MiB)
    const first = b.tryReserve(100 * MiB)
    expect(first?.bytes).toBe(100 * MiB)
    expect(b.headroom()).toBe(500 * MiB)
    expect(b.tryReserve(501 * MiB)).toBeUndefined()
    const second = b.tryReserve(500 * MiB)
    expect(second).toBeDefined()
    // RSS rises as the work allocates: nothing more fits until something is released.
    rss = 450 * MiB
    expect(b.tryReserve(1)).toBeUndefined()
    first!.release()
    first!.release() // twice gives back once
    expect(b.reserved).toBe(500 * MiB)
    second!.release()
    expect(b.reserved).toBe(0)
    expect(b.describe(64 * MiB, 'a 4096x4096 tile')).toBe("this peer's memory budget (1000 MiB, 450 MiB in use, 0 MiB reserved) has no room for a 4096x4096 tile (64 MiB)")
  })

  it('an idle budget grants one piece of work that fits its limit whatever RSS says (no stall for good)', () => {
    const b = new MemoryBudget(512 * MiB, () => 600 * MiB)
    expect(b.tryReserve(largestReservation(512 * MiB) + 1)).toBeUndefined()
    const one = b.tryReserve(100 * MiB)
    expect(one).toBeDefined()
    expect(b.tryReserve(1)).toBeUndefined()
    one!.release()
    expect(b.tryReserve(100 * MiB)).toBeDefined()
  })

  it('a lasting reservation (a cached input) must fit as measured and does not stop the idle grant', () => {
    let rss = 300 * MiB
    const b = new MemoryBudget(1000 * MiB, () => rss)
    const cached = b.tryReserve(200 * MiB, { lasting: true })
    expect(cached).toBeDefined()
    rss = 900 * MiB
    expect(b.tryReserve(10 * MiB, { lasting: true })).toBeUndefined() // no room as measured
    const tile = b.tryReserve(50 * MiB) // no work in progress: granted
    expect(tile).toBeDefined()
    expect(b.tryReserve(50 * MiB)).toBeUndefined()
    tile!.release()
    cached!.release()
    expect(b.reserved).toBe(0)
  })

  it('before refusing, collects the garbage (at most once a second) and measures again', () => {
    let rss = 800 * MiB
    let t = 0
    let collections = 0
    const b = new MemoryBudget(1000 * MiB, { rss: () => rss, now: () => t, collect: () => { collections++; rss = 500 * MiB } })
    const held = b.tryReserve(150 * MiB) // 100 MiB of room as measured
    expect(held).toBeDefined()
    expect(collections).toBe(1) // it did not fit as measured: collected first, and then it did
    rss = 840 * MiB
    expect(b.tryReserve(100 * MiB)).toBeUndefined() // no room, and no second collection within the second
    expect(collections).toBe(1)
    t = 1500
    expect(b.tryReserve(100 * MiB)).toBeDefined() // collected again: 250 MiB of room
    expect(collections).toBe(2)
  })

  it('an idle peer over its budget collects before every grant, not once a second, and still grants', () => {
    let rss = 900 * MiB
    let collections = 0
    const b = new MemoryBudget(1000 * MiB, { rss: () => rss, now: () => 0, collect: () => { collections++; rss = 880 * MiB } })
    b.tryReserve(MiB)?.release() // a grant at t=0 with no room: collected
    expect(collections).toBe(1)
    const tile = b.tryReserve(50 * MiB) // idle again at t=0: collected again, then granted by the idle rule
    expect(collections).toBe(2)
    expect(tile).toBeDefined()
    expect(b.tryReserve(50 * MiB)).toBeUndefined() // not idle now: no room, and no collection within the second
    expect(collections).toBe(2)
  })

  it('while a stage waits for room, only waited reservations are granted (tiles cannot take each bit of room first)', () => {
    const b = new MemoryBudget(512 * MiB, () => 200 * MiB)
    const done = b.startWaiting()
    expect(b.tryReserve(MiB)).toBeUndefined()
    const stage = b.tryReserve(100 * MiB, { waited: true })
    expect(stage).toBeDefined()
    done()
    done()
    expect(b.tryReserve(MiB)).toBeDefined()
  })

  it('a tile\'s working set counts 4 bytes a pixel, whatever its channels', () => {
    expect(tileWorkingBytes(512, 512)).toBe(512 * 512 * 4 * 5)
  })
})
