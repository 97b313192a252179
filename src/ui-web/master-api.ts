// The master's part of the dashboard API: the queue's jobs, their tiles, submits, cancels, results and
// live job events. Only the master answers it; a dashboard on another peer sends these requests here
// through the HTTP tunnel (src/transfer/http-tunnel.ts). A fetch handler (Request -> Response), so the
// same code answers the master's own browser and the tunnelled requests of every other peer's.
import { createReadStream } from 'node:fs'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { Hono } from 'hono'
import { ImageInputError, probeImage, type Pipeline } from '../ops/index.ts'
import { InvalidParameterError, OpsError } from '../ops/errors.ts'
import { validateOp, validatePipeline, type OpCall } from '../ops/pipeline.ts'
import type { Clock } from '../transfer/clock.ts'
import { JobRefusal } from '../transfer/job-protocol.ts'
import { ErrorCodes, OutputFormatSchema, type JobEvent, type JobSummary } from '../transfer/messages.ts'
import type { JobService } from '../scheduler/job-service.ts'
import { extensionOf, type MasterRuntime } from '../scheduler/master.ts'
import { tileInfo } from '../scheduler/queue-machine.ts'
import { MAX_TILE_SIZE, MIN_TILE_SIZE } from '../ops/tiling.ts'
import type { JobDetail, JobRow, JobsView, JobStateName, SubmitReply } from './api-types.ts'
import { ApiRefusal, errorResponse, refusalResponse } from './http-errors.ts'
import { eventStream } from './sse.ts'
import { readUpload } from './upload.ts'
import { TileHistory } from './tile-history.ts'
import { Previews } from './preview.ts'
import { AuthSchema, type Caller } from '../transfer/request-auth.ts'

/** The header a dashboard adds to what it sends to the master: its peer's name. */
export const VIA_HEADER = 'x-swarm-dashboard'
/**
 * The header with the signature of the dashboard's logged-in user (base64url JSON of an Auth) over the
 * request's method and path, made with the session's key by the peer that serves the page.
 */
export const USER_AUTH_HEADER = 'x-swarm-user'
/** The protocol name a dashboard request's signature is for: never valid on the libp2p protocols. */
export const DASHBOARD_AUTH_PROTOCOL = '/swarm/dashboard-http'

/** What a dashboard request's signature covers (the body is the tunnel's, on a connection the swarm key admits). */
export function dashboardRequestBody (method: string, url: string): Record<string, unknown> {
  const u = new URL(url, 'http://dashboard')
  return { method, path: `${u.pathname}${u.search}` }
}
/** Tiles shown one by one in a job's map; a larger job's map is left out (a grid of 16k cells is a blur). */
export const MAX_CELLS = 16_384
/** Tile failures listed on a job's page: the newest. */
export const MAX_FAILURES_SHOWN = 100
/** Jobs one listing returns at most. */
export const MAX_LIST = 1000
const STATES: JobStateName[] = ['queued', 'running', 'done', 'failed', 'cancelled']

export interface MasterApiComponents {
  master: Pick<MasterRuntime, 'active' | 'queue' | 'opts' | 'progressEvent' | 'meta' | 'on' | 'off' | 'ensureLocal' | 'files' | 'isStitched'>
  jobs: Pick<JobService, 'admit' | 'cancel' | 'output' | 'jobs' | 'summary' | 'masterId' | 'identify' | 'maySee'>
  /** Names of the peers, by PeerId, as this peer's heartbeats say. */
  peerNames: () => Record<string, string>
  clock: Clock
  /** Where uploads are spooled before they are admitted (in the data dir: an input may be large). */
  uploadDir: string
}

export class MasterApi {
  readonly app = new Hono()
  readonly #c: MasterApiComponents
  readonly history: TileHistory
  readonly #previews: Previews
  /** Each request's author, found once (a signature's nonce is good for one check). */
  readonly #callers = new WeakMap<Request, Caller>()

  constructor (components: MasterApiComponents) {
    this.#c = components
    this.history = new TileHistory()
    this.#previews = new Previews({ master: components.master, memory: components.master.opts.memory })
    const app = this.app
    app.use('*', async (c, next) => {
      if (!this.#c.master.active) return errorResponse(503, 'this peer is not master (any more); ask again', { code: ErrorCodes.notMaster })
      this.#callers.set(c.req.raw, this.identify(c.req.raw))
      await next()
    })
    const who = (c: { req: { raw: Request } }): Caller => this.#callers.get(c.req.raw) ?? null
    app.get('/api/jobs', (c) => Response.json(this.list(c.req.query('state'), c.req.query('q'), c.req.query('limit'), who(c))))
    app.get('/api/jobs/events', (c) => this.events(undefined, who(c)))
    app.post('/api/jobs', async (c) => await this.submit(c.req.raw, who(c)))
    app.get('/api/jobs/:id', (c) => this.detail(c.req.param('id'), who(c)))
    app.get('/api/jobs/:id/events', (c) => { this.mustKnow(c.req.param('id'), who(c)); return this.events(c.req.param('id'), who(c)) })
    app.get('/api/jobs/:id/result', async (c) => await this.result(c.req.param('id'), who(c)))
    app.get('/api/jobs/:id/preview', async (c) => await this.preview(c.req.param('id'), who(c)))
    app.post('/api/jobs/:id/cancel', async (c) => Response.json(await this.#c.jobs.cancel(this.mustKnow(c.req.param('id'), who(c)), who(c))))
    app.onError((err) => {
      if (err instanceof ApiRefusal) return refusalResponse(err)
      if (err instanceof JobRefusal && err.code === ErrorCodes.unauthorized) return errorResponse(401, err.message, { code: err.code })
      if (err instanceof JobRefusal) return errorResponse(err.code === ErrorCodes.busy ? 503 : err.code === ErrorCodes.notMaster ? 503 : err.code === ErrorCodes.unknownJob ? 404 : 400, err.message, { code: err.code })
      return errorResponse(500, err.message, { code: ErrorCodes.internal })
    })
    app.notFound(() => errorResponse(404, 'no such route in the dashboard API (see README: the HTTP API)'))
  }

  /** Follows the master's tile events (which peer did which tile), while this peer lives. */
  start (): void { this.history.follow(this.#c.master) }
  stop (): void { this.history.unfollow(this.#c.master) }

  readonly fetch = async (request: Request): Promise<Response> => await this.app.fetch(request)

  /** The signed user of a dashboard request; null in an open swarm; throws JobRefusal unauthorized. */
  private identify (request: Request): Caller {
    const header = request.headers.get(USER_AUTH_HEADER)
    let auth: unknown
    if (header != null) {
      try { auth = AuthSchema.parse(JSON.parse(Buffer.from(header, 'base64url').toString('utf8'))) } catch { auth = { malformed: true } }
    }
    return this.#c.jobs.identify(DASHBOARD_AUTH_PROTOCOL, { ...dashboardRequestBody(request.method, request.url), ...(auth != null ? { auth } : {}) })
  }

  private mustKnow (jobId: string, who: Caller): string {
    if (!this.#c.jobs.maySee(jobId, who)) throw new ApiRefusal(404, `no job ${jobId} in the queue`, { code: ErrorCodes.unknownJob })
    return jobId
  }

  private rows (who: Caller): JobRow[] {
    return this.#c.jobs.jobs(MAX_LIST * 10, who).jobs.map(j => this.rowOf(j))
  }

  /** One job's row, without listing the queue. */
  private row (jobId: string, who: Caller): JobRow | undefined {
    const j = this.#c.jobs.summary(jobId, who)
    return j == null ? undefined : this.rowOf(j)
  }

  private rowOf (j: JobSummary): JobRow {
    const row: JobRow = { ...j, state: j.state as JobStateName, format: this.#c.master.meta(j.id).format }
    // The queue says done at the last tile; for people (and the download) a job is done once stitched.
    if (j.state === 'done' && !this.#c.master.isStitched(j.id)) {
      row.state = 'running'
      row.stitching = true
    }
    if (j.state === 'queued' || j.state === 'running') {
      const e = this.#c.master.progressEvent(j.id)
      if (e?.type === 'progress') {
        if (e.etaMs != null) row.etaMs = e.etaMs
        row.queuePosition = e.queuePosition
      }
    }
    return row
  }

  list (state: string | undefined, q: string | undefined, limit: string | undefined, who: Caller): JobsView {
    const all = this.rows(who)
    const counts = Object.fromEntries(STATES.map(s => [s, 0])) as Record<JobStateName, number>
    for (const j of all) counts[j.state]++
    if (state != null && state !== '' && state !== 'all' && !STATES.includes(state as JobStateName)) throw new ApiRefusal(400, `state is ${JSON.stringify(state)}, expected one of ${STATES.join(', ')}`, { field: 'state' })
    const n = limit == null || limit === '' ? 100 : Number(limit)
    if (!Number.isInteger(n) || n < 1 || n > MAX_LIST) throw new ApiRefusal(400, `limit is ${JSON.stringify(limit)}, expected an integer between 1 and ${MAX_LIST}`, { field: 'limit' })
    const needle = (q ?? '').trim().toLowerCase()
    const jobs = all
      .filter(j => state == null || state === '' || state === 'all' || j.state === state)
      .filter(j => needle === '' || `${j.id} ${j.name} ${j.pipeline}`.toLowerCase().includes(needle))
      .reverse()
      .slice(0, n)
    const epoch = this.#c.master.queue?.state.epoch ?? 0
    return { jobs, counts, master: this.#c.jobs.masterId() ?? '', epoch }
  }

  detail (jobId: string, who: Caller): Response {
    this.mustKnow(jobId, who)
    const row = this.row(jobId, who)
    const state = this.#c.master.queue!.state
    if (row == null) throw new ApiRefusal(404, `no job ${jobId} in the queue`, { code: ErrorCodes.unknownJob })
    const meta = this.#c.master.meta(jobId)
    const cols = Math.ceil(meta.width / meta.tileSize)
    const rows = Math.ceil(meta.height / meta.tileSize)
    const count = cols * rows
    const cells: JobDetail['cells'] = []
    const failures: JobDetail['failures'] = []
    const job = state.jobs.get(jobId)!
    const past = this.history.of(jobId)
    if (count <= MAX_CELLS) {
      for (let i = 0; i < count; i++) {
        const t = tileInfo(state, jobId, i)
        if (t == null) {
          // A finished job keeps no tile records: the history says who did what, when this master saw it.
          const by = past?.get(i)
          cells.push(row.state === 'done' ? { state: 'done', ...(by != null ? { peer: by } : {}) } : { state: 'queued' })
          continue
        }
        const cell = t.state === 'failed' ? 'queued' : t.state
        const peer = t.state === 'done' ? (t.peer ?? past?.get(i)) : t.lease?.peer
        cells.push({ state: cell, ...(peer != null ? { peer } : {}), ...(t.lease != null ? { attempt: t.lease.attempt } : {}) })
        for (const a of t.attempts) failures.push({ phase: job.phase, index: i, peer: a.peer, reason: a.reason, at: a.at })
      }
    }
    for (const a of job.failure?.attempts ?? []) failures.push({ phase: job.failure!.phase, index: job.failure!.index, peer: a.peer, reason: a.reason, at: a.at })
    failures.sort((a, b) => a.at - b.at)
    const detail: JobDetail = {
      ...row, tileSize: meta.tileSize, cols, rows, cells, failures: failures.slice(-MAX_FAILURES_SHOWN), peerNames: this.#c.peerNames()
    }
    return Response.json(detail)
  }

  private events (jobId: string | undefined, who: Caller): Response {
    const master = this.#c.master
    const clock = this.#c.clock
    // With accounts, a user's stream carries their own jobs' events, and the master's log only to admins.
    const mine = (id: string): boolean => who == null || who.admin || this.#c.jobs.maySee(id, who)
    return eventStream((sink) => {
      const onJob = (e: JobEvent): void => { if ((jobId == null || e.jobId === jobId) && mine(e.jobId)) sink.send('job', e) }
      const onTile = (d: { jobId: string, phase: number, index: number, peer: string, attempt: number, speculative: boolean }): void => {
        if ((jobId == null || d.jobId === jobId) && mine(d.jobId)) sink.send('tile', { ...d, at: clock.now() })
      }
      const onLog = (l: { level: 'info' | 'warn', msg: string }): void => { if (jobId == null && (who == null || who.admin)) sink.send('log', { level: l.level, msg: l.msg, at: clock.now() }) }
      // No longer master: the stream ends and the browser reconnects, to the new master through its peer.
      const onInactive = (): void => { sink.end() }
      master.on('job', onJob)
      master.on('dispatched', onTile)
      master.on('log', onLog)
      master.on('inactive', onInactive)
      if (jobId != null) { const e = master.progressEvent(jobId); if (e != null) sink.send('job', e) }
      return () => {
        master.off('job', onJob)
        master.off('dispatched', onTile)
        master.off('log', onLog)
        master.off('inactive', onInactive)
      }
    }, clock)
  }

  private async result (jobId: string, who: Caller): Promise<Response> {
    this.mustKnow(jobId, who)
    const row = this.row(jobId, who)
    if (row?.state !== 'done') throw new ApiRefusal(409, `job ${jobId} is ${row?.state ?? 'unknown'}: a result is there once it is done`, { code: 'not-done' })
    const out = await this.#c.jobs.output(jobId)
    const base = (row.name.replace(/\.[^.]*$/, '').replace(/[^\w.-]+/g, '_') || jobId).slice(0, 100)
    const iterator = out.data.chunks()[Symbol.asyncIterator]()
    const body = new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        const { value, done } = await iterator.next()
        if (done === true) controller.close()
        else controller.enqueue(value)
      },
      cancel: async () => { await iterator.return?.() }
    }, { highWaterMark: 0 })
    return new Response(body, {
      headers: {
        'content-type': `image/${out.format}`,
        'content-length': String(out.data.bytes),
        'content-disposition': `attachment; filename="${base}.${extensionOf(out.format)}"`
      }
    })
  }

  private async preview (jobId: string, who: Caller): Promise<Response> {
    this.mustKnow(jobId, who)
    const state = this.#c.master.queue!.state
    const job = state.jobs.get(jobId)!
    const finished = job.state === 'done' && this.#c.master.isStitched(jobId)
    const done: number[] = []
    // Only the last phase's tiles are pixels of the output (the phases before it gather statistics); while
    // a done job is stitched, the canvas made so far is shown (the queue keeps no tiles of it any more).
    if (job.state === 'done' && !finished) {
      const png = await this.#previews.png(jobId, [], false)
      return png == null ? errorResponse(404, `job ${jobId}'s output is being stitched`, { code: 'no-preview' }) : new Response(new Uint8Array(png), { headers: { 'content-type': 'image/png', 'cache-control': 'no-store' } })
    }
    if (!finished && job.phase === job.phaseCount - 1) {
      for (let i = 0; i < job.tileCount; i++) if (tileInfo(state, jobId, i)?.state === 'done') done.push(i)
    }
    if (!finished && done.length === 0) return errorResponse(404, `no tile of job ${jobId}'s output is done yet`, { code: 'no-preview' })
    const png = await this.#previews.png(jobId, done, finished)
    if (png == null) return errorResponse(404, `no tile of job ${jobId}'s output could be shown yet`, { code: 'no-preview' })
    return new Response(new Uint8Array(png), { headers: { 'content-type': 'image/png', 'cache-control': 'no-store' } })
  }

  private async submit (request: Request, who: Caller): Promise<Response> {
    const opts = this.#c.master.opts
    const upload = await readUpload(request, this.#c.uploadDir, opts.maxInputBytes)
    try {
      const images = upload.files.filter(f => f.field === 'image')
      if (images.length === 0) throw new ApiRefusal(400, 'choose at least one image (the "image" field)', { field: 'image' })
      const pipeline = pipelineOf(upload.fields.pipeline)
      const format = upload.fields.format == null || upload.fields.format === '' ? 'png' : upload.fields.format
      const parsedFormat = OutputFormatSchema.safeParse(format)
      if (!parsedFormat.success) throw new ApiRefusal(400, `format is ${JSON.stringify(format)}, expected one of ${OutputFormatSchema.options.join(', ')}`, { field: 'format' })
      const tileSize = tileSizeOf(upload.fields.tileSize)
      // Every image's header before any job is queued: one bad file in a batch queues nothing.
      for (const f of images) {
        if (f.bytes === 0) throw new ApiRefusal(400, `${f.name}: empty file, not an image`, { field: 'image' })
        try {
          await probeImage(f.path, { maxPixels: opts.maxPixels, name: f.name })
        } catch (err) {
          if (err instanceof ImageInputError) throw new ApiRefusal(400, err.message, { field: 'image' })
          throw err
        }
      }
      // The dashboard that took the upload says which it is (the tunnel passes this header on).
      const via = (request.headers.get(VIA_HEADER) ?? '').slice(0, 64)
      const submitter = via === '' ? 'browser' : `browser via ${via}`
      const reply: SubmitReply = { jobs: [] }
      for (const f of images) {
        const admitted = await this.#c.jobs.admit({ name: f.name, bytes: f.bytes, pipeline, format: parsedFormat.data, ...(tileSize != null ? { tileSize } : {}), watch: false, submitter }, async (sink) => {
          for await (const chunk of createReadStream(f.path, { highWaterMark: 1024 * 1024 })) await sink(chunk as Buffer)
        }, who).catch((err: unknown) => {
          if (err instanceof JobRefusal && err.code === ErrorCodes.badInput) throw new ApiRefusal(400, err.message, { field: 'image', code: err.code })
          if (err instanceof JobRefusal && err.code === ErrorCodes.badPipeline) throw new ApiRefusal(400, err.message, { field: 'pipeline', code: err.code })
          throw err
        })
        await admitted.enqueue()
        const a = admitted.accepted
        reply.jobs.push({ jobId: a.jobId, name: f.name, tiles: a.tiles, phases: a.phases, width: a.width, height: a.height, ...(a.cached === true ? { cached: true } : {}) })
      }
      return Response.json(reply, { status: 202 })
    } finally {
      await upload.discard()
    }
  }
}

/** The form's pipeline, op by op, so a refusal names the op and parameter at fault ("ops.1.sigma"). */
function pipelineOf (text: string | undefined): Pipeline {
  if (text == null || text.trim() === '') throw new ApiRefusal(400, 'the pipeline is empty: add at least one op', { field: 'pipeline' })
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw new ApiRefusal(400, 'the pipeline is not JSON: expected {"ops":[{"name":"grayscale","params":{}}]}', { field: 'pipeline' })
  }
  const ops = (value as { ops?: unknown } | null)?.ops
  if (Array.isArray(ops)) {
    const checked: OpCall[] = []
    ops.forEach((call: unknown, i) => {
      const c = call as { name?: unknown, params?: unknown } | null
      try {
        checked.push(validateOp(c?.name, c?.params))
      } catch (err) {
        if (err instanceof InvalidParameterError) throw new ApiRefusal(400, err.message, { field: `ops.${i}.${err.param}` })
        if (err instanceof OpsError) throw new ApiRefusal(400, `op ${i + 1}: ${err.message}`, { field: `ops.${i}` })
        throw err
      }
    })
  }
  try {
    return validatePipeline(value)
  } catch (err) {
    if (err instanceof OpsError) throw new ApiRefusal(400, err.message, { field: 'pipeline' })
    throw err
  }
}

function tileSizeOf (text: string | undefined): number | undefined {
  if (text == null || text.trim() === '') return undefined
  const n = Number(text)
  if (!Number.isInteger(n) || n < MIN_TILE_SIZE || n > MAX_TILE_SIZE) throw new ApiRefusal(400, `tileSize is ${JSON.stringify(text)}, expected an integer between ${MIN_TILE_SIZE} and ${MAX_TILE_SIZE}`, { field: 'tileSize' })
  return n
}

/** The upload spool inside a data dir. */
export const uploadDirOf = (dataDir: string): string => join(dataDir, 'uploads')
/** Leftovers of a crash mid-upload: removed at start. */
export async function clearUploads (dataDir: string): Promise<void> { await rm(uploadDirOf(dataDir), { recursive: true, force: true }) }
