// Every message of the job protocols, as zod schemas: whatever arrives is checked field by field before
// it is used, and anything else resets the stream.
import { z } from 'zod'
import { OUTPUT_FORMATS } from '../ops/limits.ts'
import { AuthSchema } from './request-auth.ts'

export const TILE_PROTOCOL = '/swarm/tile/1.0.0'
export const SUBMIT_PROTOCOL = '/swarm/submit/1.0.0'
export const WATCH_PROTOCOL = '/swarm/watch/1.0.0'
export const JOBS_PROTOCOL = '/swarm/jobs/1.0.0'
export const CANCEL_PROTOCOL = '/swarm/cancel/1.0.0'
export const PRUNE_PROTOCOL = '/swarm/prune/1.0.0'
export const USERS_PROTOCOL = '/swarm/users/1.0.0'

/** Every request a person makes may carry their signature; once the swarm has accounts, it must. */
const auth = AuthSchema.optional()
export const RESUBMIT_PROTOCOL = '/swarm/resubmit/1.0.0'

/** Binary payloads travel in frames of this size; JSON messages stay well under it. */
export const FRAME_BYTES = 1024 * 1024
export const MAX_JSON_BYTES = FRAME_BYTES

const id = z.string().min(1).max(128)
const int = z.number().int().min(0)
const RectSchema = z.object({ x: int, y: int, width: int.min(1), height: int.min(1) }).strict()
const channels = z.union([z.literal(1), z.literal(2), z.literal(3), z.literal(4)])
export const OutputFormatSchema = z.enum(OUTPUT_FORMATS)

// ---- tile: master -> worker, and back
export const TileRequestSchema = z.object({
  jobId: id,
  phase: int.max(64),
  index: int,
  leaseId: id,
  epoch: int,
  /** Re-validated by the worker (validatePipeline). */
  pipeline: z.unknown(),
  width: int.min(1).max(65_536),
  height: int.min(1).max(65_536),
  channels,
  core: RectSchema,
  stats: z.array(z.unknown()).max(64),
  /** How often the worker says it is still working (renews the lease). */
  renewMs: int.min(10).max(600_000),
  /**
   * Peers that should hold a copy of the result besides the worker (the job's standbys). A worker that
   * keeps its result and gives them a copy answers `stored`: the pixels never travel to the master.
   */
  copyTo: z.array(id).max(8).optional(),
  /**
   * Instead of pixels: the worker cuts the tile (width x height at x, y, with its halo) from the job's
   * input, which it fetches once (from `holders`, checked against `sha256`) and keeps decoded while the
   * job runs. No pixel frame follows the request then.
   */
  source: z.object({
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
    holders: z.array(id).min(1).max(8),
    x: int,
    y: int
  }).strict().optional()
}).strict()
export type TileRequest = z.infer<typeof TileRequestSchema>

export const TileReplySchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('working') }).strict(),
  // kept: the worker stored the result in its own data dir, so it is the result's second copy.
  z.object({ type: z.literal('stats'), stats: z.unknown(), kept: z.boolean().optional() }).strict(),
  z.object({ type: z.literal('image'), width: int.min(1), height: int.min(1), channels, kept: z.boolean().optional() }).strict(),
  // The pixels are on the worker and on `copies` (some of the request's copyTo): none follow.
  z.object({ type: z.literal('stored'), width: int.min(1), height: int.min(1), channels, copies: z.array(id).min(1).max(8) }).strict()
])
export type TileReply = z.infer<typeof TileReplySchema>
/**
 * master -> worker, after the result is stored and counted. A worker that gets no ack (the master died
 * in between) offers the result to the next master (tile-done protocol) instead of letting it be lost.
 */
export const TileAckSchema = z.object({ type: z.literal('ack') }).strict()

// ---- submit: client -> master
/** A submitter's name: a user and a host name. */
export const SUBMITTER_MAX_CHARS = 128

export const SubmitRequestSchema = z.object({
  name: z.string().min(1).max(255),
  bytes: int.min(1),
  pipeline: z.unknown(),
  format: OutputFormatSchema,
  tileSize: int.min(16).max(16_384).optional(),
  /** false = --detach: the stream ends once the job is accepted. */
  watch: z.boolean(),
  /** Who submits, for people to read ("user@host", "browser via <peer>"): not checked, never acted on. */
  submitter: z.string().max(SUBMITTER_MAX_CHARS).optional(),
  /** true: compute it even if the result cache has it (a benchmark, or a result in doubt). */
  noCache: z.boolean().optional(),
  auth
}).strict()
export type SubmitRequest = z.infer<typeof SubmitRequestSchema>

/**
 * resubmit: client -> master. Runs job `from` again, from the input the swarm kept (nothing is uploaded),
 * with its pipeline and, unless `format` says otherwise, its format. Answered as a submit is.
 */
export const ResubmitRequestSchema = z.object({
  from: id,
  format: OutputFormatSchema.optional(),
  watch: z.boolean(),
  submitter: z.string().max(SUBMITTER_MAX_CHARS).optional(),
  noCache: z.boolean().optional(),
  auth
}).strict()
export type ResubmitRequest = z.infer<typeof ResubmitRequestSchema>

export const WatchRequestSchema = z.object({ jobId: id, result: z.boolean(), auth }).strict()

/** A progress event's `waiting` reason is cut to this: an error message with a path, not a log. */
export const WAITING_MAX_CHARS = 1024

// ---- master -> client, on submit and watch streams
export const JobEventSchema = z.discriminatedUnion('type', [
  /** cached: the same input, pipeline and format ran before as jobId; its stored output is the answer. */
  z.object({ type: z.literal('accepted'), jobId: id, tiles: int, phases: int, width: int, height: int, copies: int, cached: z.boolean().optional() }).strict(),
  z.object({
    type: z.literal('progress'),
    jobId: id,
    state: z.string().max(32),
    done: int,
    total: int,
    phase: int,
    phaseCount: int,
    peers: z.array(id).max(4096),
    queuePosition: int,
    /** Why the job is not moving, when the master knows (its own disk refused a result, naming the path). */
    waiting: z.string().max(WAITING_MAX_CHARS).optional(),
    /** The master's estimate of the time left, in ms, from the swarm's recent rate (absent until it has one). */
    etaMs: int.optional()
  }).strict(),
  z.object({ type: z.literal('result'), jobId: id, format: OutputFormatSchema, bytes: int, width: int, height: int }).strict(),
  z.object({ type: z.literal('failed'), jobId: id, reason: z.string().max(4096) }).strict()
])
export type JobEvent = z.infer<typeof JobEventSchema>

/** Every state a job has in the queue, in the order it goes through them. */
export const JOB_STATES = ['queued', 'running', 'done', 'failed', 'cancelled'] as const
/**
 * The listing, and with its filters the history (`swarm history`): the newest `limit` jobs in `states`
 * submitted at or after `since` and before `until` (ms since the epoch, on the master's clock). Filtered on
 * the master, which holds every record: a client filtering the newest jobs would miss older matches.
 */
export const JobsRequestSchema = z.object({
  limit: int.max(10_000).optional(),
  states: z.array(z.enum(JOB_STATES)).min(1).max(JOB_STATES.length).optional(),
  since: z.number().finite().optional(),
  until: z.number().finite().optional(),
  auth
}).strict()
export type JobsRequest = z.infer<typeof JobsRequestSchema>
export type JobsFilter = Omit<JobsRequest, 'limit' | 'auth'>
export const JobSummarySchema = z.object({
  id, name: z.string(), state: z.string(), done: int, total: int, phase: int, phaseCount: int,
  peers: z.array(z.string()), submittedAt: z.number(), finishedAt: z.number().optional(), failure: z.string().optional(),
  waiting: z.string().max(WAITING_MAX_CHARS).optional(),
  width: int, height: int, pipeline: z.string(),
  submitter: z.string().max(SUBMITTER_MAX_CHARS).optional(),
  /** The account that submitted it (absent in an open swarm). */
  owner: z.string().max(32).optional(),
  /** When its first tile was handed out, as the master that ran it saw it (kept in the queue's job record). */
  startedAt: z.number().optional(),
  /** The peers whose results completed its tiles, sorted (kept in the queue's job record). */
  workers: z.array(z.string()).max(4096).optional(),
  /** Its output's format. */
  format: OutputFormatSchema.optional(),
  /** The input file's size and SHA-256, as received (absent for jobs queued before they were kept). */
  inputBytes: int.optional(),
  inputSha256: z.string().regex(/^[0-9a-f]{64}$/).optional()
}).strict()
export type JobSummary = z.infer<typeof JobSummarySchema>
export const JobsReplySchema = z.object({ jobs: z.array(JobSummarySchema), master: id, epoch: int }).strict()
export type JobsReply = z.infer<typeof JobsReplySchema>

// ---- cancel: client -> master
/** The reason a cancelled job's watchers hear in its `failed` event (the client shows it as cancelled, not failed). */
export const CANCELLED_REASON = 'cancelled'

/** Ends every "output removed" answer: a client tells it from a failure by this. */
export const REMOVED_TAIL = 'is no longer kept (submit the image again to compute it)'
/** Why a done job has no output to fetch: retention or the disk cap gave its files up on `removedAt`. */
export const removedReason = (jobId: string, removedAt: number): string =>
  `the output of job ${jobId} was removed by retention or the disk cap on ${new Date(removedAt).toISOString()} and ${REMOVED_TAIL}`
export const CancelRequestSchema = z.object({ jobId: id, auth }).strict()
/** cancelled: false when the job had already ended (its state says how); cancelling twice is no error. */
export const CancelReplySchema = z.object({ jobId: id, state: z.string().max(32), cancelled: z.boolean() }).strict()
export type CancelReply = z.infer<typeof CancelReplySchema>

// ---- prune: client -> master
/** Jobs one prune removes at most (its reply lists each in one frame); the rest are left for the next. */
export const MAX_PRUNED = 5000
export const FINISHED_STATES = ['done', 'failed', 'cancelled'] as const
/** Finished jobs that ended more than olderThanMs ago, in the given states; dryRun: list them, remove nothing. */
export const PruneRequestSchema = z.object({ olderThanMs: int, states: z.array(z.enum(FINISHED_STATES)).min(1).max(3), dryRun: z.boolean(), auth }).strict()
export type PruneRequest = z.infer<typeof PruneRequestSchema>
export const PruneReplySchema = z.object({
  jobs: z.array(z.object({ id, name: z.string().max(256), state: z.string().max(32), finishedAt: z.number() }).strict()).max(MAX_PRUNED),
  /** More jobs matched than one prune removes. */
  more: z.boolean(),
  dryRun: z.boolean()
}).strict()
export type PruneReply = z.infer<typeof PruneReplySchema>

// ---- users: client -> master (swarm user add/list/remove, swarm login)
const userName = z.string().min(1).max(32)
const password = z.string().min(1).max(1024)
const publicKey = z.string().regex(/^[A-Za-z0-9_-]{43}$/)
export const UsersRequestSchema = z.discriminatedUnion('op', [
  /** The first account may be made unsigned (it is the admin, with this device's key); later ones by an admin. */
  z.object({ op: z.literal('add'), name: userName, password, admin: z.boolean(), key: publicKey.optional(), auth }).strict(),
  z.object({ op: z.literal('list'), auth }).strict(),
  z.object({ op: z.literal('remove'), name: userName, auth }).strict(),
  /** The password proves who it is; `key` becomes one of the account's device keys. */
  z.object({ op: z.literal('login'), name: userName, password, key: publicKey }).strict()
])
export type UsersRequest = z.infer<typeof UsersRequestSchema>
export const UserSummarySchema = z.object({ name: userName, admin: z.boolean(), keys: int, createdAt: z.number() }).strict()
export type UserSummary = z.infer<typeof UserSummarySchema>
export const UsersReplySchema = z.object({ users: z.array(UserSummarySchema).max(10_000), open: z.boolean() }).strict()
export type UsersReply = z.infer<typeof UsersReplySchema>

/** Error codes a peer sends in an error frame. */
export const ErrorCodes = {
  notMaster: 'not-master',
  staleEpoch: 'stale-epoch',
  badInput: 'bad-input',
  badPipeline: 'bad-pipeline',
  badTile: 'bad-tile',
  unknownJob: 'unknown-job',
  busy: 'busy',
  /** the worker could not get the job's input now (no holder answered): not the tile's fault */
  inputUnavailable: 'input-unavailable',
  /** the sender may not write that file here (not the master followed, or a stored file with other bytes) */
  forbidden: 'forbidden',
  /** the receiving peer's disk has no room for what was announced */
  noSpace: 'no-space',
  /** the receiving peer's memory budget has no room for the work now: not the work's fault */
  noMemory: 'no-memory',
  /** the request has no valid user (this swarm has accounts), or the user may not do it */
  unauthorized: 'unauthorized',
  internal: 'internal'
} as const
