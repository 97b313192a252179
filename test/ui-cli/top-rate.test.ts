// `swarm top`'s throughput: tiles finished per second between two refreshes, from the queue's `done`
// counts, and megapixels per second (a tile is its job's width x height x phases / tiles).
import { describe, expect, it } from 'vitest'
import { rateBetween, type Sample } from '../../src/ui-cli/actions/top.ts'
import type { JobSummary } from '../../src/transfer/messages.ts'

const job = (id: string, done: number, state = 'running'): JobSummary => ({ id, name: `${id}.png`, state, done, total: 100, phase: 0, phaseCount: 1, peers: [], submittedAt: 0, width: 2000, height: 1000, pipeline: 'invert' })
const sample = (at: number, jobs: JobSummary[], master = 'm'): Sample => ({ at, snap: { respondent: 'm', master, epoch: 1, peers: [] }, jobs: { master, epoch: 1, jobs } })

describe('top: throughput between refreshes', () => {
  it('counts the tiles done since the last refresh, a new job from 0, per second and in MP/s', () => {
    const r = rateBetween(sample(0, [job('a', 10)]), sample(2000, [job('a', 30), job('b', 10)]))!
    expect(r.tilesPerSecond).toBeCloseTo(15)
    // each tile: 2000 x 1000 / 100 = 0.02 MP
    expect(r.megapixelsPerSecond).toBeCloseTo(0.3)
  })

  it('has none on the first frame or across a change of master', () => {
    expect(rateBetween(undefined, sample(1000, [job('a', 1)]))).toBeUndefined()
    expect(rateBetween(sample(0, [job('a', 1)], 'm1'), sample(1000, [job('a', 5)], 'm2'))).toBeUndefined()
  })
})
