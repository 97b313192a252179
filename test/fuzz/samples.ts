// Valid messages of every protocol schema, as fast-check arbitraries: what the mutations start from, and
// what must always parse. Each entry also says which of its paths the schema leaves open (z.unknown(),
// re-validated by whoever uses them) and which take null, so a mutation knows what must be refused.
import fc from 'fast-check'
import { roles, type Heartbeat } from '../../src/node/heartbeat.ts'
import type { Kind, Path } from './mutate.ts'

const rec = <T extends Record<string, fc.Arbitrary<unknown>>>(model: T, optional: Array<keyof T> = []) =>
  fc.record(model, { requiredKeys: Object.keys(model).filter(k => !optional.includes(k)) as Array<keyof T & string>, noNullPrototype: true })

/** ASCII, or now and then any code point (kept within `max` UTF-16 units, which is what zod counts). */
const str = (min: number, max: number): fc.Arbitrary<string> => fc.oneof(
  { weight: 4, arbitrary: fc.string({ minLength: min, maxLength: Math.min(max, 24) }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', minLength: min, maxLength: Math.min(Math.floor(max / 2), 24) }).filter(s => s.length >= min && s.length <= max) },
  { weight: 1, arbitrary: fc.constant('x'.repeat(max)) }
)
const id = str(1, 128)
const int = fc.oneof(fc.nat({ max: 1000 }), fc.maxSafeNat())
const intIn = (min: number, max: number): fc.Arbitrary<number> => fc.oneof(fc.integer({ min, max }), fc.constantFrom(min, max))
const json = fc.jsonValue({ maxDepth: 3 })
const channels = fc.constantFrom(1, 2, 3, 4)
const format = fc.constantFrom('png', 'jpeg', 'webp', 'tiff', 'avif', 'gif')
const sha = fc.uint8Array({ minLength: 32, maxLength: 32 }).map(b => Buffer.from(b).toString('hex'))
const small = <T>(a: fc.Arbitrary<T>, max = 3): fc.Arbitrary<T[]> => fc.array(a, { maxLength: max })
const nonNegative = fc.oneof(fc.double({ min: 0, max: 1e15, noNaN: true }), fc.nat())

export const tileRequest = rec({
  jobId: id,
  phase: intIn(0, 64),
  index: int,
  leaseId: id,
  epoch: int,
  pipeline: json,
  width: intIn(1, 65_536),
  height: intIn(1, 65_536),
  channels,
  core: rec({ x: int, y: int, width: intIn(1, 1e6), height: intIn(1, 1e6) }),
  stats: small(json, 4),
  renewMs: intIn(10, 600_000),
  copyTo: small(id, 8),
  source: rec({ sha256: sha, holders: fc.array(id, { minLength: 1, maxLength: 8 }), x: int, y: int })
}, ['copyTo', 'source'])

const b64url = (n: number): fc.Arbitrary<string> => fc.uint8Array({ minLength: n, maxLength: n }).map(b => Buffer.from(b).toString('base64url'))
/** A request's signature (request-auth.ts): its shape, not a valid signature (the fuzz checks the schema). */
const auth = rec({ user: str(1, 32), at: fc.nat(), nonce: b64url(18), sig: b64url(64) })
const userName = str(1, 32)
const publicKey = b64url(32)

const jobSummary = rec({
  id,
  name: str(0, 40),
  state: str(0, 40),
  done: int,
  total: int,
  phase: int,
  phaseCount: int,
  peers: small(str(0, 20)),
  submittedAt: fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true })),
  finishedAt: fc.integer(),
  failure: str(0, 60),
  waiting: str(0, 1024),
  width: int,
  height: int,
  pipeline: str(0, 60),
  submitter: str(0, 128),
  owner: str(0, 32),
  startedAt: fc.integer(),
  workers: small(id),
  format,
  inputBytes: int,
  inputSha256: sha
}, ['finishedAt', 'failure', 'waiting', 'submitter', 'startedAt', 'workers', 'format', 'inputBytes', 'inputSha256'])

export const load = rec({
  cores: intIn(0, 4096),
  freeSlots: intIn(0, 4096),
  busyTiles: intIn(0, 1_000_000),
  freeMem: nonNegative,
  tileSpeed: nonNegative
})

/** A heartbeat; `peerId`, `incarnation` and `seq` may be fixed by the caller. */
export function heartbeatOf (over: { peerId?: fc.Arbitrary<string>, incarnation?: fc.Arbitrary<number>, seq?: fc.Arbitrary<number>, role?: fc.Arbitrary<Heartbeat['role']>, addrs?: fc.Arbitrary<string[]> } = {}): fc.Arbitrary<Heartbeat> {
  return rec({
    v: fc.constant(1 as const),
    peerId: over.peerId ?? id,
    name: str(0, 64),
    incarnation: over.incarnation ?? int,
    seq: over.seq ?? int,
    role: over.role ?? fc.constantFrom(...roles),
    epoch: int,
    master: fc.option(id, { nil: null }),
    eligible: fc.boolean(),
    replicaPos: int,
    load,
    arch: str(0, 32),
    platform: str(0, 32),
    version: str(0, 32),
    addrs: over.addrs ?? small(str(0, 256), 32),
    lagMs: intIn(0, 600_000)
  }, ['lagMs']) as fc.Arbitrary<Heartbeat>
}

const signed = { hb: str(2, 16 * 1024), sig: str(1, 128) }
const tileAddress = { jobId: id, phase: intIn(0, 64), index: int, leaseId: id, epoch: int }

export interface Sample {
  /** Valid messages. */
  valid: fc.Arbitrary<unknown>
  /** Paths (`*`: any key) under which the schema takes any value. */
  loose?: Path[]
  /** Paths that take null as well as a value of `kind`. */
  nullable?: Array<{ path: Path, kind: Kind }>
  /** The schema refuses an unknown key at the root (z.object().strict()). */
  strict: boolean
}

/**
 * By export name: the schemas of src/transfer/messages.ts (every one must have an entry here: a test says
 * so), and those of the protocols that keep their own.
 */
export const messageSamples: Record<string, Sample> = {
  OutputFormatSchema: { valid: format, strict: false },
  TileRequestSchema: { valid: tileRequest, loose: [['pipeline'], ['stats', '*']], strict: true },
  TileReplySchema: {
    valid: fc.oneof(
      fc.constant({ type: 'working' }),
      rec({ type: fc.constant('stats'), stats: json, kept: fc.boolean() }, ['kept']),
      rec({ type: fc.constant('image'), width: intIn(1, 1e6), height: intIn(1, 1e6), channels, kept: fc.boolean() }, ['kept']),
      rec({ type: fc.constant('stored'), width: intIn(1, 1e6), height: intIn(1, 1e6), channels, copies: fc.array(id, { minLength: 1, maxLength: 8 }) })
    ),
    loose: [['stats']],
    strict: true
  },
  TileAckSchema: { valid: fc.constant({ type: 'ack' }), strict: true },
  SubmitRequestSchema: {
    valid: rec({ name: str(1, 255), bytes: intIn(1, 2 ** 40), pipeline: json, format, tileSize: intIn(16, 16_384), watch: fc.boolean(), submitter: str(0, 128), noCache: fc.boolean(), auth }, ['tileSize', 'submitter', 'noCache', 'auth']),
    loose: [['pipeline']],
    strict: true
  },
  ResubmitRequestSchema: {
    valid: rec({ from: id, format, watch: fc.boolean(), submitter: str(0, 128), noCache: fc.boolean(), auth }, ['format', 'submitter', 'noCache', 'auth']),
    strict: true
  },
  WatchRequestSchema: { valid: rec({ jobId: id, result: fc.boolean(), auth }, ['auth']), strict: true },
  JobEventSchema: {
    valid: fc.oneof(
      rec({ type: fc.constant('accepted'), jobId: id, tiles: int, phases: int, width: int, height: int, copies: int, cached: fc.boolean() }, ['cached']),
      rec({ type: fc.constant('progress'), jobId: id, state: str(0, 32), done: int, total: int, phase: int, phaseCount: int, peers: small(id, 8), queuePosition: int, waiting: str(0, 1024) }, ['waiting']),
      rec({ type: fc.constant('result'), jobId: id, format, bytes: int, width: int, height: int }),
      rec({ type: fc.constant('failed'), jobId: id, reason: str(0, 4096) })
    ),
    strict: true
  },
  JobsRequestSchema: {
    valid: rec({ limit: intIn(0, 10_000), states: fc.uniqueArray(fc.constantFrom('queued', 'running', 'done', 'failed', 'cancelled'), { minLength: 1 }), since: fc.integer(), until: fc.integer(), auth }, ['limit', 'states', 'since', 'until', 'auth']),
    strict: true
  },
  JobSummarySchema: { valid: jobSummary, strict: true },
  JobsReplySchema: { valid: rec({ jobs: small(jobSummary, 2), master: id, epoch: int }), strict: true },
  CancelRequestSchema: { valid: rec({ jobId: id, auth }, ['auth']), strict: true },
  CancelReplySchema: { valid: rec({ jobId: id, state: str(0, 32), cancelled: fc.boolean() }), strict: true },
  PruneRequestSchema: {
    valid: rec({ olderThanMs: int, states: fc.uniqueArray(fc.constantFrom('done', 'failed', 'cancelled'), { minLength: 1, maxLength: 3 }), dryRun: fc.boolean(), auth }, ['auth']),
    strict: true
  },
  PruneReplySchema: {
    valid: rec({ jobs: small(rec({ id, name: str(0, 256), state: str(0, 32), finishedAt: fc.integer() })), more: fc.boolean(), dryRun: fc.boolean() }),
    strict: true
  },
  UsersRequestSchema: {
    valid: fc.oneof(
      rec({ op: fc.constant('add'), name: userName, password: str(1, 1024), admin: fc.boolean(), key: publicKey, auth }, ['key', 'auth']),
      rec({ op: fc.constant('list'), auth }, ['auth']),
      rec({ op: fc.constant('remove'), name: userName, auth }, ['auth']),
      rec({ op: fc.constant('login'), name: userName, password: str(1, 1024), key: publicKey })
    ),
    strict: true
  },
  UserSummarySchema: { valid: rec({ name: userName, admin: fc.boolean(), keys: int, createdAt: fc.integer() }), strict: true },
  UsersReplySchema: { valid: rec({ users: small(rec({ name: userName, admin: fc.boolean(), keys: int, createdAt: fc.integer() })), open: fc.boolean() }), strict: true }
}

/** Schemas kept beside their protocol (heartbeat.ts, tile-done.ts, handover-protocol.ts), by name. */
export const otherSamples: Record<string, Sample> = {
  HeartbeatSchema: { valid: heartbeatOf(), nullable: [{ path: ['master'], kind: 'string' }], strict: true },
  // Not strict: an unknown key in a heartbeat's load is dropped, not refused (the heartbeat itself is strict).
  LoadSchema: { valid: load, strict: false },
  HeartbeatFrameSchema: {
    valid: rec({
      v: fc.constant(1),
      ...signed,
      relayed: small(rec({ ...signed, ageMs: intIn(0, 600_000) }), 4),
      seen: small(rec({ peer: str(1, 128), ageMs: intIn(0, 600_000) }), 4)
    }, ['relayed', 'seen']),
    strict: true
  },
  TileNoticeSchema: {
    valid: fc.oneof(
      rec({ type: fc.constant('renew'), ...tileAddress }),
      rec({ type: fc.constant('done'), ...tileAddress, stats: json }, ['stats']),
      rec({ type: fc.constant('holding'), leaseIds: small(id, 6) })
    ),
    loose: [['stats']],
    strict: true
  },
  HandoverRequestSchema: {
    valid: rec({ jobId: fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/), meta: json, bytes: intIn(1, 8 * 1024 ** 3) }),
    loose: [['meta']],
    strict: true
  }
}
