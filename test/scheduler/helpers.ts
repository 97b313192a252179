// Test helpers: a driver that steps the queue machine with an injected clock, checks the machine's
// invariants after every step, and applies every persist effect to an in-memory key/value map (a fake
// LevelDB) that must always equal the records the state would persist.
import { expect } from 'vitest'
import {
  type QueueConfig, type QueueEffect, type QueueEvent, type QueueState, checkInvariants,
  createQueueState, step, toRecords
} from '../../src/scheduler/queue-machine.ts'

export type Eff<T extends QueueEffect['type']> = Extract<QueueEffect, { type: T }>

export function ofType<T extends QueueEffect['type']> (effects: QueueEffect[], type: T): Array<Eff<T>> {
  return effects.filter((e): e is Eff<T> => e.type === type)
}

/** "jobId/phase/index@peer" for assigns: compact to compare in order */
export function assigned (effects: QueueEffect[]): string[] {
  return ofType(effects, 'assign').map(a => `${a.jobId}/${a.phase}/${a.index}@${a.peer}`)
}

export class Driver {
  state: QueueState
  now = 0
  readonly kv = new Map<string, unknown>()
  /** compare kv with toRecords(state) after every step (O(records); fine for small tests) */
  checkKv = true
  last: QueueEffect[] = []

  constructor (config: Partial<QueueConfig> = {}) {
    this.state = createQueueState(config)
  }

  send (event: QueueEvent): QueueEffect[] {
    const r = step(this.state, event)
    this.state = r.state
    const persists = ofType(r.effects, 'persist')
    expect(persists.length).toBeLessThanOrEqual(1)
    if (persists.length === 1) expect(r.effects[0]?.type).toBe('persist')
    for (const p of persists) {
      for (const op of p.ops) {
        if (op.type === 'put') this.kv.set(op.key, JSON.parse(JSON.stringify(op.value)))
        else this.kv.delete(op.key)
      }
    }
    checkInvariants(this.state)
    if (this.checkKv) this.expectKvMatches()
    this.last = r.effects
    return r.effects
  }

  /** The fake disk equals what the state would persist. Lease deadlines are left out: renewals are
   * deliberately not persisted (a restored lease gets a fresh deadline), so they differ by design. */
  expectKvMatches (): void {
    const want = Object.fromEntries(toRecords(this.state).map(([k, v]) => [k, withoutDeadline(v)]))
    const have = Object.fromEntries([...this.kv].sort((a, b) => a[0] < b[0] ? -1 : 1).map(([k, v]) => [k, withoutDeadline(v)]))
    expect(have).toEqual(want)
  }

  submit (id: string, tileCount: number, phaseCount = 1): QueueEffect[] {
    return this.send({ type: 'submit', job: { id, tileCount, phaseCount }, now: this.now })
  }

  peers (view: Array<[peer: string, freeSlots: number, alive?: boolean]>): QueueEffect[] {
    return this.send({ type: 'peers', view: view.map(([peer, freeSlots, alive]) => ({ peer, freeSlots, alive: alive ?? true })), now: this.now })
  }

  tick (now: number): QueueEffect[] {
    this.now = now
    return this.send({ type: 'tick', now })
  }

  done (a: Eff<'assign'>, peer = a.peer): QueueEffect[] {
    return this.send({ type: 'done', jobId: a.jobId, phase: a.phase, index: a.index, leaseId: a.leaseId, peer, now: this.now })
  }

  fail (a: Eff<'assign'>, reason: string, peer = a.peer): QueueEffect[] {
    return this.send({ type: 'failed', jobId: a.jobId, phase: a.phase, index: a.index, leaseId: a.leaseId, peer, reason, now: this.now })
  }

  renew (a: Eff<'assign'>): QueueEffect[] {
    return this.send({ type: 'renew', jobId: a.jobId, phase: a.phase, index: a.index, leaseId: a.leaseId, peer: a.peer, now: this.now })
  }
}

function withoutDeadline (v: unknown): unknown {
  const c = JSON.parse(JSON.stringify(v)) as { lease?: { deadline?: number }, copy?: { deadline?: number } }
  if (c.lease !== undefined) delete c.lease.deadline
  if (c.copy !== undefined) delete c.copy.deadline
  return c
}

/** mulberry32: a tiny seeded PRNG, so the randomized tests replay exactly */
export function prng (seed: number): { next: () => number, int: (lo: number, hi: number) => number, pick: <T>(xs: readonly T[]) => T, chance: (p: number) => boolean } {
  let a = seed >>> 0
  const next = (): number => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const int = (lo: number, hi: number): number => lo + Math.floor(next() * (hi - lo + 1))
  return {
    next,
    int,
    pick: <T>(xs: readonly T[]): T => xs[int(0, xs.length - 1)] as T,
    chance: (p: number) => next() < p
  }
}
