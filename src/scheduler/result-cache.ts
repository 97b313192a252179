// The result cache: a job whose input bytes, pipeline (every op with every parameter, defaults filled in)
// and output format equal a finished job's, under the same OPS_VERSION, is answered with that job's
// stored output instead of being computed again. The tile size is not in the key: the output is the
// same to the pixel whatever the tiling (the guarantee test/ops/tiled-equals-whole.test.ts holds).
// The key lives in the job's meta, so it is replicated with the queue and survives any master; a pruned
// job leaves the cache with it.
import { createHash } from 'node:crypto'
import type { OutputFormat, Pipeline } from '../ops/index.ts'
import { OPS_VERSION } from '../ops/index.ts'
import type { JobMeta } from './master-planner.ts'
import type { QueueState } from './queue-machine.ts'

/** The key's layout version (bump if what it covers changes). */
const KEY_VERSION = 1

/** The cache key: SHA-256 of the input's SHA-256, the canonical pipeline, the format and OPS_VERSION. */
export function cacheKey (inputSha256: string, pipeline: Pipeline, format: OutputFormat): string {
  const canonical = JSON.stringify({ v: KEY_VERSION, ops: OPS_VERSION, input: inputSha256, format, pipeline: pipeline.ops.map(op => [op.name, Object.entries(op.params).sort(([a], [b]) => a < b ? -1 : 1)]) })
  return createHash('sha256').update(canonical).digest('hex')
}

/**
 * The newest finished (done) job with this key that `mayUse` allows, if the queue holds one. With accounts a
 * user is answered from their own jobs only (an admin's from anyone's): another's hit would tell them what
 * someone else processed, and name a job they may not watch.
 */
export function cachedJob (state: QueueState, key: string, mayUse: (meta: JobMeta) => boolean = () => true): string | undefined {
  let hit: { id: string, seq: number } | undefined
  for (const job of state.jobs.values()) {
    const meta = job.meta as JobMeta | undefined
    if (job.state !== 'done' || meta?.cacheKey !== key || !mayUse(meta)) continue
    if (hit == null || job.seq > hit.seq) hit = { id: job.id, seq: job.seq }
  }
  return hit?.id
}
