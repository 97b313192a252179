// The disk policy, case by case: retention, the cap in least-recently-used order, what is never removed,
// and a cap that cannot be met says so.
import { describe, expect, it } from 'vitest'
import { decideRemovals, type DiskJob, type DiskPolicyInput } from '../../src/scheduler/disk-policy.ts'

const H = 3_600_000
const NOW = 100 * H
const done = (id: string, finishedHoursAgo: number, bytes: number, more: Partial<DiskJob> = {}): DiskJob =>
  ({ id, state: 'done', finishedAt: NOW - finishedHoursAgo * H, bytes, evictable: true, ...more })
const running = (id: string, bytes: number): DiskJob => ({ id, state: 'running', bytes, evictable: false })
const used = (jobs: DiskJob[]): number => jobs.reduce((n, j) => n + j.bytes, 0)

interface Case { name: string, jobs: DiskJob[], retainMs?: number, maxDiskBytes?: number, usedBytes?: number, removed: string[], reasons?: string[], overCap?: boolean }

const CASES: Case[] = [
  { name: 'nothing configured: nothing removed', jobs: [done('a', 50, 10)], removed: [] },
  { name: 'retention passed: removed', jobs: [done('a', 50, 10), done('b', 1, 10)], retainMs: 24 * H, removed: ['a'], reasons: ['retention'] },
  { name: 'retention counts from the last use, not the end', jobs: [done('a', 50, 10, { lastUsed: NOW - H })], retainMs: 24 * H, removed: [] },
  { name: 'retention exactly reached: removed', jobs: [done('a', 24, 10)], retainMs: 24 * H, removed: ['a'] },
  { name: 'retain 0: every evictable job at once', jobs: [done('a', 0, 10), { ...done('b', 0, 10), state: 'failed' }], retainMs: 0, removed: ['a', 'b'] },
  { name: 'a running job is never removed, however old', jobs: [{ ...running('r', 10), finishedAt: 0 }], retainMs: 0, removed: [] },
  { name: 'a done job not yet safe elsewhere is kept', jobs: [done('a', 50, 10, { evictable: false })], retainMs: H, maxDiskBytes: 1, removed: [], overCap: true },
  { name: 'retired by the master: removed whatever the retention', jobs: [done('a', 0, 10, { retired: true })], removed: ['a'], reasons: ['retired'] },
  { name: 'under the cap: nothing removed', jobs: [done('a', 3, 10), done('b', 2, 10)], maxDiskBytes: 20, removed: [] },
  {
    name: 'over the cap: least recently used first, until under',
    jobs: [done('new', 1, 10), done('old', 9, 10), done('mid', 5, 10), running('r', 10)],
    maxDiskBytes: 25,
    removed: ['old', 'mid'],
    reasons: ['cap', 'cap']
  },
  {
    name: 'a recent download makes an old job the last to go',
    jobs: [done('old', 9, 10, { lastUsed: NOW }), done('mid', 5, 10)],
    maxDiskBytes: 15,
    removed: ['mid']
  },
  {
    name: 'the cap takes fetched results before one nobody has fetched yet, however recent',
    jobs: [done('waiting', 9, 10, { delivered: false }), done('fetched', 1, 10, { delivered: true })],
    maxDiskBytes: 15,
    removed: ['fetched']
  },
  {
    name: 'the cap leaves a result nobody has fetched alone just after its end, and says it is over',
    jobs: [{ ...done('just', 0, 10, { delivered: false }), finishedAt: NOW - 1000 }],
    maxDiskBytes: 5,
    removed: [],
    overCap: true
  },
  { name: 'the cap takes an unfetched result once its grace has passed', jobs: [done('old', 1, 10, { delivered: false })], maxDiskBytes: 5, removed: ['old'] },
  { name: 'retention removes an unfetched result too (it had its time)', jobs: [done('a', 50, 10, { delivered: false })], retainMs: 24 * H, removed: ['a'] },
  { name: 'retention frees enough: the cap removes nothing more', jobs: [done('old', 30, 10), done('new', 1, 10)], retainMs: 24 * H, maxDiskBytes: 10, removed: ['old'], reasons: ['retention'] },
  { name: 'over the cap but nothing evictable: removes nothing and says so', jobs: [running('r', 30), done('d', 9, 30, { evictable: false })], maxDiskBytes: 10, removed: [], overCap: true },
  { name: 'over the cap, not all evictable: removes what it may and says it is still over', jobs: [running('r', 30), done('d', 9, 5)], maxDiskBytes: 10, removed: ['d'], overCap: true },
  { name: 'files of no job (stray) count as used but are not removed here', jobs: [done('a', 1, 10)], usedBytes: 100, maxDiskBytes: 50, removed: ['a'], overCap: true },
  { name: 'an empty job directory is not listed as removed', jobs: [done('a', 50, 0)], retainMs: H, removed: [] },
  { name: 'ties in use go by id, so runs agree', jobs: [done('b', 5, 10), done('a', 5, 10)], maxDiskBytes: 10, removed: ['a'] }
]

describe('disk policy', () => {
  for (const c of CASES) {
    it(c.name, () => {
      const input: DiskPolicyInput = { jobs: c.jobs, now: NOW, retainMs: c.retainMs, maxDiskBytes: c.maxDiskBytes, usedBytes: c.usedBytes ?? used(c.jobs) }
      const d = decideRemovals(input)
      expect(d.remove.map(r => r.id)).toEqual(c.removed)
      if (c.reasons != null) expect(d.remove.map(r => r.reason)).toEqual(c.reasons)
      expect(d.usedAfter).toBe(input.usedBytes - d.remove.reduce((n, r) => n + r.bytes, 0))
      expect(d.overCap != null).toBe(c.overCap === true)
      if (c.overCap === true) expect(d.overCap).toMatch(/over the cap of \d+/)
    })
  }
})
