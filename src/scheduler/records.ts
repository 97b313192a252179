// The persisted form of the queue: LevelDB keys and the JSON records stored under them.
//
// Keys (all strings; LevelDB sorts them bytewise, so zero padding keeps FIFO order on reload):
//   m                                   -> MetaRecord   (epoch, next job seq, next lease number)
//   j/<seq:12>                          -> JobRecord    (one per job, finished ones included)
//   t/<seq:12>/<phase:4>/<index:8>      -> TileRecord   (only tiles of the job's CURRENT phase that
//                                                        were ever leased; a tile without a record is
//                                                        queued and was never tried)
//   u/<name>                            -> UserRecord   (one per account: replicated with the queue, so
//                                                        every peer that may become master can check it)
// A job's tile records are deleted when its phase advances and when the job ends, so the store holds
// at most one phase of tiles per running job, and nothing per tile once a job is over.
import { z } from 'zod'
import { CorruptRecordError } from './errors.ts'

export const RECORD_VERSION = 1
export const MAX_SEQ = 999_999_999_999
export const MAX_PHASES = 9_999
export const MAX_TILES = 99_999_999

export const META_KEY = 'm'
const JOB_PREFIX = 'j/'
const TILE_PREFIX = 't/'
const USER_PREFIX = 'u/'

function pad (n: number, width: number): string {
  return String(n).padStart(width, '0')
}

export function jobKey (seq: number): string {
  return `${JOB_PREFIX}${pad(seq, 12)}`
}

export function tileKey (seq: number, phase: number, index: number): string {
  return `${TILE_PREFIX}${pad(seq, 12)}/${pad(phase, 4)}/${pad(index, 8)}`
}

export function userKey (name: string): string {
  return `${USER_PREFIX}${name}`
}

/** An account's name: what people type after `swarm login`; short, and safe in a key, a path and a log line. */
export const USER_NAME_RE = /^[a-z][a-z0-9._-]{0,31}$/

export type ParsedKey =
  | { kind: 'meta' }
  | { kind: 'user', name: string }
  | { kind: 'job', seq: number }
  | { kind: 'tile', seq: number, phase: number, index: number }

const JOB_KEY_RE = /^j\/(\d{12})$/
const TILE_KEY_RE = /^t\/(\d{12})\/(\d{4})\/(\d{8})$/
const USER_KEY_RE = /^u\/(.+)$/

export function parseKey (key: string): ParsedKey {
  if (key === META_KEY) return { kind: 'meta' }
  let m = JOB_KEY_RE.exec(key)
  if (m !== null) return { kind: 'job', seq: Number(m[1]) }
  m = TILE_KEY_RE.exec(key)
  if (m !== null) return { kind: 'tile', seq: Number(m[1]), phase: Number(m[2]), index: Number(m[3]) }
  m = USER_KEY_RE.exec(key)
  if (m !== null && USER_NAME_RE.test(m[1])) return { kind: 'user', name: m[1] }
  throw new CorruptRecordError(key, 'unknown key')
}

const nonNegInt = z.number().int().nonnegative()
const finite = z.number().finite()

export const AttemptSchema = z.object({
  peer: z.string(),
  reason: z.string(),
  at: finite,
  /** true when the attempt counts towards maxAttempts (the worker's error); false when the peer died,
   * left or was too slow to renew its lease (not the tile's fault). */
  counted: z.boolean(),
  /** the lease lapsed while its peer was alive: a slow peer, counted against maxLapses only */
  lapsed: z.literal(true).optional()
})
export type Attempt = z.infer<typeof AttemptSchema>

export const MetaRecordSchema = z.object({
  v: z.literal(RECORD_VERSION),
  epoch: nonNegInt,
  /** log position: how many persisting steps the queue has taken */
  pos: nonNegInt,
  nextSeq: nonNegInt,
  nextLease: nonNegInt,
  /** peers whose results disagreed with the others': they get no more tiles (optional: a field added) */
  blocked: z.array(z.object({ peer: z.string(), reason: z.string() })).optional()
})
export type MetaRecord = z.infer<typeof MetaRecordSchema>

export const JobFailureSchema = z.object({
  reason: z.string(),
  phase: nonNegInt,
  index: nonNegInt,
  attempts: z.array(AttemptSchema)
})
export type JobFailure = z.infer<typeof JobFailureSchema>

export const JobStateSchema = z.enum(['queued', 'running', 'done', 'failed', 'cancelled'])
export type JobState = z.infer<typeof JobStateSchema>

export const JobRecordSchema = z.object({
  v: z.literal(RECORD_VERSION),
  id: z.string().min(1),
  seq: nonNegInt,
  tileCount: z.number().int().min(1).max(MAX_TILES),
  phaseCount: z.number().int().min(1).max(MAX_PHASES),
  submittedAt: finite,
  state: JobStateSchema,
  phase: nonNegInt,
  /** the current phase is complete and the job waits for phaseReady of phase + 1 */
  awaitingReady: z.boolean(),
  /** tiles done in the phases before the current one; once the job is over: all tiles it got done */
  doneBefore: nonNegInt,
  failure: JobFailureSchema.optional(),
  finishedAt: finite.optional(),
  /** a done job's files were given up by retention or the disk cap (the record is kept as history) */
  removedAt: finite.optional(),
  meta: z.unknown().optional(),
  /** phaseData[k]: what the shell passed with phaseReady for phase k (e.g. merged statistics) */
  phaseData: z.array(z.unknown()).optional(),
  /** tiles (in every phase) whose result two peers must agree on */
  verify: z.array(nonNegInt).optional(),
  /** when its first tile was leased; absent until then, and in records written before it was kept
   * (optional, so they load as they are: a field added, none changed) */
  startedAt: finite.optional(),
  /** the peers whose results completed its tiles, sorted (optional, as startedAt) */
  workers: z.array(z.string()).optional()
})
export type JobRecord = z.infer<typeof JobRecordSchema>

export const LeaseRecordSchema = z.object({
  peer: z.string(),
  leaseId: z.string(),
  deadline: finite,
  attempt: z.number().int().min(1)
})
export type LeaseRecord = z.infer<typeof LeaseRecordSchema>

export const TileRecordSchema = z.object({
  v: z.literal(RECORD_VERSION),
  state: z.enum(['queued', 'leased', 'done', 'failed']),
  lease: LeaseRecordSchema.optional(),
  /** a speculative second lease beside `lease`, on another peer. Optional, so records written before
   * speculation load as they are (the version stays 1: a field added, none changed). */
  copy: LeaseRecordSchema.optional(),
  /** the peer that did it (state done) */
  peer: z.string().optional(),
  attempts: z.array(AttemptSchema),
  /** a checked tile's results so far, each peer's hash of what it returned (until two peers agree) */
  results: z.array(z.object({ peer: z.string(), hash: z.string() })).optional()
})
export type TileRecord = z.infer<typeof TileRecordSchema>

/** Device keys one account holds: a person's laptops, phones and dashboard sessions; the oldest goes first. */
export const MAX_USER_KEYS = 16

export const UserRecordSchema = z.object({
  v: z.literal(RECORD_VERSION),
  name: z.string().regex(USER_NAME_RE),
  admin: z.boolean(),
  /** scrypt$N$r$p$salt$hash (base64url), or absent: an account that has not set one cannot log in by password */
  password: z.string().max(256).optional(),
  /** ed25519 public keys (raw 32 bytes, base64url) whose signatures are this user's */
  keys: z.array(z.string().regex(/^[A-Za-z0-9_-]{43}$/)).max(MAX_USER_KEYS),
  createdAt: finite
})
export type UserRecord = z.infer<typeof UserRecordSchema>

export type QueueRecord = MetaRecord | JobRecord | TileRecord | UserRecord

/** One LevelDB change; a step's changes are written as ONE atomic batch. */
export type PersistOp =
  | { type: 'put', key: string, value: QueueRecord }
  | { type: 'del', key: string }

export function parseRecord<T> (schema: z.ZodType<T>, key: string, value: unknown): T {
  const r = schema.safeParse(value)
  if (!r.success) throw new CorruptRecordError(key, z.prettifyError(r.error).replace(/\n/g, '; '))
  return r.data
}

/** Checks one replicated change: a known key and a record of the right shape for it. */
export function checkOp (op: unknown): PersistOp {
  const o = op as { type?: unknown, key?: unknown, value?: unknown }
  if (o == null || typeof o.key !== 'string') throw new CorruptRecordError(String(o?.key), 'replicated change without a key')
  const kind = parseKey(o.key).kind
  if (o.type === 'del') return { type: 'del', key: o.key }
  if (o.type !== 'put') throw new CorruptRecordError(o.key, 'replicated change is neither put nor del')
  const schema = kind === 'meta' ? MetaRecordSchema : kind === 'job' ? JobRecordSchema : kind === 'user' ? UserRecordSchema : TileRecordSchema
  return { type: 'put', key: o.key, value: parseRecord(schema as z.ZodType<QueueRecord>, o.key, o.value) }
}
