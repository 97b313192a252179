// The dashboard's HTTP API as data: what each JSON route answers and each event stream sends. The page
// (src/ui-web/public) and `curl` users read the same shapes; README.md documents them with examples.
import type { OpInfo } from '../ops/catalogue.ts'
import type { PeerRow } from '../transfer/status.ts'

/** GET /api/swarm: this peer's view of the swarm (every peer has one, from the heartbeats). */
export interface SwarmView {
  /** The peer serving this page. */
  self: string
  master: string | null
  epoch: number
  peers: PeerRow[]
  /** Who has a connection to whom, as each peer last said in its heartbeat: [a, b] with a < b, once. */
  links: Array<[string, string]>
  distrusted: Array<{ peer: string, reason: string }>
}

/** GET /api/ops: the op catalogue, generated from the same parameter specs the CLI validates with. */
export type OpsView = OpInfo[]

export type JobStateName = 'queued' | 'running' | 'done' | 'failed' | 'cancelled'

/** One job in GET /api/jobs. */
export interface JobRow {
  id: string
  name: string
  state: JobStateName
  done: number
  total: number
  phase: number
  phaseCount: number
  /** Peers holding its tiles now. */
  peers: string[]
  /** Peers that did its tiles, as the master that ran it saw. */
  workers?: string[]
  submittedAt: number
  startedAt?: number
  finishedAt?: number
  failure?: string
  waiting?: string
  width: number
  height: number
  /** As the CLI writes it: "grayscale | blur:sigma=2". */
  pipeline: string
  format: string
  /** Who submitted it: "user@host" from the CLI, "browser via <peer>" from a dashboard. */
  submitter?: string
  etaMs?: number
  queuePosition?: number
  /** Every tile is done and the master is stitching the output (state is still running). */
  stitching?: boolean
}

/** GET /api/jobs?state=&q=&limit= */
export interface JobsView {
  jobs: JobRow[]
  /** Counts of every job the master keeps, by state (not only those listed). */
  counts: Record<JobStateName, number>
  master: string
  epoch: number
}

export type TileCellState = 'queued' | 'leased' | 'done'

/** GET /api/jobs/:id: a JobRow and where its tiles are, phase by phase. */
export interface JobDetail extends JobRow {
  tileSize: number
  /** Tile grid of the current phase (row-major, `cols` per row). */
  cols: number
  rows: number
  /** cells[i]: tile i of the current phase; peer: who holds it (leased) or did it (done), when known. */
  cells: Array<{ state: TileCellState, peer?: string, attempt?: number }>
  /** Tiles that failed on a peer, with the reason (the newest last, at most MAX_FAILURES_SHOWN). */
  failures: Array<{ phase: number, index: number, peer: string, reason: string, at: number }>
  /** Names of peers by PeerId, for the ones the master knows. */
  peerNames: Record<string, string>
}

/** POST /api/jobs answers 202 with the jobs queued, one per image uploaded. */
export interface SubmitReply {
  /** cached: the same input, pipeline and format ran before as jobId (its output is the answer). */
  jobs: Array<{ jobId: string, name: string, tiles: number, phases: number, width: number, height: number, cached?: boolean }>
}

/** Every error: a status code and this body. `field` names the form field at fault, when one is. */
export interface ApiError {
  error: { message: string, field?: string, code?: string }
}

/**
 * GET /api/events (text/event-stream): this peer's view of the swarm, live.
 *  - event: peer    data: { type: 'joined' | 'left', peerId, name?, reason?, at }
 *  - event: master  data: { master: string | null, epoch, previous: string | null, at }
 *  - event: swarm   data: SwarmView (every few seconds, and after each change)
 * GET /api/jobs/events: the master's job events, live (followed across failovers by the browser's
 * EventSource reconnecting: the stream ends when the master changes).
 *  - event: job     data: JobEvent (accepted, progress, result, failed) of src/transfer/messages.ts
 *  - event: tile    data: { jobId, phase, index, peer, attempt, speculative, at } (attempt > 1: reassigned)
 *  - event: log     data: { level, msg, at }
 * GET /api/jobs/:id/events: the same, for one job.
 */
export interface PeerEventData { type: 'joined' | 'left', peerId: string, name?: string, reason?: string, at: number }
export interface MasterEventData { master: string | null, epoch: number, previous: string | null, at: number }
export interface TileEventData { jobId: string, phase: number, index: number, peer: string, attempt: number, speculative: boolean, at: number }
export interface LogEventData { level: 'info' | 'warn', msg: string, at: number }
