// What the master decides for the job protocols (src/transfer/job-protocol.ts, which does the wire):
// whether a submitted job is admitted (size, pipeline, a decodable image, a copy on a standby), its queue
// entry, its events and its output; and for the handover protocol (src/transfer/handover-protocol.ts),
// whether a job given over by the loser of a partition is taken.
import { randomBytes, randomInt } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { z } from 'zod'
import {
  checkImage, decodeToFile, ImageInputError, outputChannels, probeImage, type Channels, phaseCount, pipelineHalo, planTiles, validatePipeline, type Pipeline
} from '../ops/index.ts'
import { formatPipeline } from '../ops/pipeline.ts'
import { largestReservation, mib, tileWorkingBytes } from '../ops/memory-budget.ts'
import { systemClock, type Clock } from '../transfer/clock.ts'
import {
  JobRefusal, type AcceptedEvent, type AdmittedJob, type JobFollower, type JobHandler, type JobOutput, type Upload
} from '../transfer/job-protocol.ts'
import {
  ErrorCodes, FRAME_BYTES, MAX_PRUNED, removedReason, OutputFormatSchema, SubmitRequestSchema, type ResubmitRequest, type CancelReply, type PruneReply, type PruneRequest, type JobEvent, type JobsFilter, type JobsReply, type JobSummary, type SubmitRequest
} from '../transfer/messages.ts'
import { extensionOf, type JobMeta, type MasterRuntime } from './master.ts'
import { getJob, listJobs, type JobView } from './queue-machine.ts'
import { checkedTiles, WHOLE_INPUT_MAX_BYTES } from './master-planner.ts'
import { decodedPathOf } from './worker.ts'
import { cachedJob, cacheKey } from './result-cache.ts'
import { inHistory } from './job-history.ts'
import type { HandoverHandler, HandoverInput, HandoverRequest } from '../transfer/handover-protocol.ts'
import type { Caller } from '../transfer/request-auth.ts'
import { identify, maySee, ReplayGuard } from './accounts.ts'

const TERMINAL = new Set(['done', 'failed', 'cancelled'])
/**
 * Memory an upload holds while it is received and checked: its frames, and libvips' strips and threads'
 * buffers while it is decoded (the decode alone measured +23 MiB of peak RSS for 64 MP). Reserved per
 * upload, so three bombs at once are checked one after another on a small budget, not side by side.
 */
const ADMISSION_BYTES = 64 * 1024 * 1024

/**
 * decodeImage's refusals without holding the pixels: checkImage for an input a worker keeps decoded in
 * memory, decodeToFile (beside the input, where this peer's worker looks first) for a larger one, so the
 * master's check is also its own tiles' decode.
 */
async function checkInput (path: string, opts: { maxPixels: number, name: string }): Promise<{ width: number, height: number, channels: Channels }> {
  const info = await probeImage(path, opts)
  if (info.channels === 2 || info.width * info.height * info.channels <= WHOLE_INPUT_MAX_BYTES) return await checkImage(path, opts)
  return await decodeToFile(path, decodedPathOf(path), opts)
}

/** What a handed-over job's meta must hold (the rest is recomputed here from its input). */
const HandoverMetaSchema = z.object({
  name: z.string().min(1).max(256),
  tileSize: SubmitRequestSchema.shape.tileSize.unwrap(),
  format: OutputFormatSchema,
  pipeline: z.unknown()
}).passthrough()

export interface JobServiceOptions {
  master: MasterRuntime
  /** The master this peer follows. */
  masterId: () => string | null
  /** Job ids and queue events are dated on this clock (default: the system's). */
  clock?: Clock
  /** This peer's id: the master a signed request must name. */
  selfId?: () => string
  /** A job's output was read for a client (a download, a cache hit): the disk cap keeps it longest. */
  used?: (jobId: string) => void
}

export class JobService implements JobHandler, HandoverHandler {
  private readonly master: MasterRuntime
  readonly masterId: () => string | null
  private readonly clock: Clock
  private readonly selfId: () => string
  private readonly replays = new ReplayGuard()
  private readonly used: (jobId: string) => void

  constructor (opts: JobServiceOptions) {
    this.used = opts.used ?? (() => {})
    this.master = opts.master
    this.masterId = opts.masterId
    this.selfId = opts.selfId ?? (() => '')
    this.clock = opts.clock ?? systemClock
  }

  serving (): boolean { return this.master.active }

  /** Whether the swarm has accounts (the queue this master holds has at least one). */
  hasAccounts (): boolean {
    return (this.master.queue?.state.users.size ?? 0) > 0
  }

  identify (protocol: string, request: Record<string, unknown>): Caller {
    const users = this.master.queue?.state.users ?? new Map()
    return identify({ users, protocol, self: this.selfId(), request, now: this.clock.now(), guard: this.replays })
  }

  maySee (jobId: string, who: Caller): boolean {
    const job = this.master.queue?.state.jobs.get(jobId)
    return job != null && maySee(who, (job.meta as JobMeta | undefined)?.owner)
  }

  /** Throws unknown-job for a job `who` may not see, as for one that does not exist. */
  private mustSee (jobId: string, who: Caller): void {
    if (!this.knows(jobId) || !this.maySee(jobId, who)) throw new JobRefusal(ErrorCodes.unknownJob, `no job ${jobId} in the queue`)
  }

  /**
   * A job handed over by the loser of a partition: queued here under its own id, unless known. Checked as a
   * submit is (any keyed peer can call this): its meta, its size against maxInputBytes, and an input that
   * decodes; a refused one leaves nothing behind.
   */
  async take (req: HandoverRequest, input: HandoverInput): Promise<'known' | 'taken'> {
    const queue = this.master.queue
    if (queue != null && getJob(queue.state, req.jobId) != null) return 'known'
    const parsed = HandoverMetaSchema.safeParse(req.meta)
    if (!parsed.success) throw new JobRefusal(ErrorCodes.badInput, `the meta of handed-over job ${req.jobId} is not valid: ${parsed.error.issues.map(i => `${i.path.join('.') || 'meta'}: ${i.message}`).join('; ')}`)
    const meta = parsed.data
    let pipeline: Pipeline
    try {
      pipeline = validatePipeline(meta.pipeline)
    } catch (err) {
      throw new JobRefusal(ErrorCodes.badPipeline, (err as Error).message)
    }
    if (req.bytes > this.master.opts.maxInputBytes) throw new JobRefusal(ErrorCodes.badInput, `handed-over job ${req.jobId}: ${req.bytes} bytes, the limit is ${this.master.opts.maxInputBytes}`)
    const files = this.master.files
    await files.create(req.jobId)
    let raw: { width: number, height: number, channels: Channels }
    try {
      const sink = await files.openInput(req.jobId)
      try { await input.read(sink.write) } finally { await sink.close() }
      raw = await checkInput(files.inputPath(req.jobId), { maxPixels: this.master.opts.maxPixels, name: meta.name })
    } catch (err) {
      await files.remove(req.jobId).catch(() => {})
      if (err instanceof ImageInputError) throw new JobRefusal(ErrorCodes.badInput, err.message)
      throw err
    }
    const tileSize = meta.tileSize
    const halo = pipelineHalo(pipeline)
    const standbys = await this.master.replicateInput(req.jobId, this.master.opts.standbys)
    if (this.master.livePeers().length > 0 && standbys.length === 0) {
      // Same rule as a submit: not taken until a second peer has the input. The giver keeps it and retries.
      await files.remove(req.jobId)
      throw new JobRefusal(ErrorCodes.busy, `no standby could store the input of ${req.jobId}`)
    }
    const fresh: JobMeta = {
      name: String(meta.name), width: raw.width, height: raw.height, channels: raw.channels,
      outChannels: outputChannels(pipeline, raw.channels), tileSize, halo, pipeline, format: meta.format, standbys,
      inputSha256: await files.sha256(req.jobId, 'input'),
      inputBytes: req.bytes,
      // Its owner as the losing side's master checked it: that side had the same accounts when it split.
      ...(typeof meta.owner === 'string' && meta.owner !== '' ? { owner: meta.owner } : {})
    }
    const tileCount = planTiles(raw.width, raw.height, tileSize, halo).length
    await this.master.step({ type: 'submit', job: { id: req.jobId, tileCount, phaseCount: phaseCount(pipeline), meta: fresh, verify: this.checked(tileCount) }, now: this.clock.now() })
    return 'taken'
  }

  /** The tiles of a new job whose results a second peer checks: drawn here, where no worker sees the draw. */
  private checked (tileCount: number): number[] {
    return checkedTiles(tileCount, this.master.opts.verify, () => randomInt(0, 2 ** 32) / 2 ** 32)
  }

  async admit (req: SubmitRequest, upload: Upload, who: Caller): Promise<AdmittedJob> {
    const opts = this.master.opts
    if (req.bytes > opts.maxInputBytes) throw new JobRefusal(ErrorCodes.badInput, `${req.name}: ${req.bytes} bytes, the limit is ${opts.maxInputBytes}`)
    let pipeline: Pipeline
    try {
      pipeline = validatePipeline(req.pipeline)
    } catch (err) {
      throw new JobRefusal(ErrorCodes.badPipeline, (err as Error).message)
    }
    // Room for the upload's buffers and the check's decode strips, or the client is told to come back.
    const memory = opts.memory?.tryReserve(ADMISSION_BYTES)
    if (opts.memory != null && memory == null) throw new JobRefusal(ErrorCodes.busy, `${req.name}: ${opts.memory.describe(ADMISSION_BYTES, 'checking another upload')}; try again`)
    try {
      return await this.admitWithin(req, upload, pipeline, who)
    } finally {
      memory?.release()
    }
  }

  private async admitWithin (req: SubmitRequest, upload: Upload, pipeline: Pipeline, who: Caller): Promise<AdmittedJob> {
    const opts = this.master.opts
    const jobId = `j${this.clock.now().toString(36)}${randomBytes(4).toString('hex')}`
    const files = this.master.files
    await files.create(jobId)
    try {
      const sink = await files.openInput(jobId)
      try {
        await upload(sink.write)
      } finally {
        await sink.close()
      }
      const inputSha256 = await files.sha256(jobId, 'input')
      const key = cacheKey(inputSha256, pipeline, req.format)
      const cached = req.noCache === true ? undefined : await this.cached(key, who)
      if (cached != null) {
        // Computed before: that job's output is the answer, and this upload is not kept.
        await this.discard(jobId)
        return { accepted: cached, enqueue: async () => {} }
      }
      // The whole file is decoded before it is queued (a bad or truncated image never enters the queue), in
      // strips that are not kept in memory: a large one into the decoded file this peer's worker cuts its
      // own tiles from, a small one only checked (its worker keeps it decoded whole).
      let raw
      try {
        raw = await checkInput(files.inputPath(jobId), { maxPixels: opts.maxPixels, name: req.name })
      } catch (err) {
        throw new JobRefusal(ErrorCodes.badInput, err instanceof ImageInputError ? err.message : `${req.name}: ${(err as Error).message}`)
      }
      const tileSize = req.tileSize ?? this.master.tileSizeFor(raw.width, raw.height)
      const halo = pipelineHalo(pipeline)
      const planned = planTiles(raw.width, raw.height, tileSize, halo)
      // A tile no peer's memory budget can ever hold would wait in the queue for good: refused now.
      // (A loop, not Math.max(...): a gigapixel image in 16 px tiles has millions of them.)
      let tileNeed = 0
      for (const t of planned) tileNeed = Math.max(tileNeed, tileWorkingBytes(t.halo.width, t.halo.height))
      const largest = this.master.largestMemoryLimit()
      if (largest != null && tileNeed > largestReservation(largest)) {
        throw new JobRefusal(ErrorCodes.badInput, `${req.name}: a tile of ${tileSize}x${tileSize} pixels needs ${mib(tileNeed)} of memory while it is worked, more than the largest peer memory budget in the swarm (${mib(largest)}) can hold; submit with a smaller --tile-size`)
      }
      // The input on a standby before anyone is told "accepted": the job then survives this master.
      const swarmSize = this.master.livePeers().length
      const standbys = swarmSize > 0 ? await this.master.replicateInput(jobId, this.master.opts.standbys) : []
      if (swarmSize > 0 && standbys.length === 0) throw new JobRefusal(ErrorCodes.busy, `${req.name}: no other peer could store a copy of the input; try again`)
      const meta: JobMeta = {
        name: req.name, width: raw.width, height: raw.height, channels: raw.channels,
        outChannels: outputChannels(pipeline, raw.channels), tileSize, halo, pipeline, format: req.format, standbys,
        inputSha256,
        inputBytes: req.bytes,
        cacheKey: key,
        ...(req.submitter != null && req.submitter !== '' ? { submitter: req.submitter } : {}),
        ...(who != null ? { owner: who.name } : {})
      }
      const tiles = planned.length
      return {
        accepted: { type: 'accepted', jobId, tiles, phases: phaseCount(pipeline), width: raw.width, height: raw.height, copies: 1 + standbys.length },
        enqueue: async () => {
          try {
            await this.master.step({ type: 'submit', job: { id: jobId, tileCount: tiles, phaseCount: phaseCount(pipeline), meta, verify: this.checked(tiles) }, now: this.clock.now() })
            // This peer stopped being master during the upload (its queue closed): the step wrote nothing,
            // and "accepted" would name a job no queue holds (CI, chaos seed 7027). The client asks again.
            if (!this.knows(jobId)) throw this.notMaster()
            // The queue record on a standby too, before "accepted" (the input alone there leaves the next
            // master a file and no job). A standby that does not answer in ACK_TIMEOUT_MS is dying; the job
            // is then acknowledged on the input copy and the other followers' replicas, as before, unless
            // this peer has meanwhile stepped down: then no queue may hold it, and the client asks again
            // (a job queued twice is better than one lost).
            if (standbys.length > 0 && !await this.master.queueOnStandby(standbys) && !this.master.active) throw this.notMaster()
          } catch (err) {
            await this.discard(jobId)
            throw err
          }
        }
      }
    } catch (err) {
      await this.discard(jobId)
      throw err
    }
  }

  /**
   * A recorded job run again (swarm resubmit): its kept input, fetched here from a standby if this master has
   * no copy (checked against its SHA-256), goes through admit as an upload would, with the job's pipeline and
   * its format unless the request names another; so the result cache and every check apply as to a submit.
   */
  async resubmit (req: ResubmitRequest, who: Caller): Promise<AdmittedJob> {
    const queue = this.master.queue
    const found = queue == null ? undefined : getJob(queue.state, req.from)
    // Another user's job is no job at all to this one (admins may run anyone's again, as their own).
    const old = found != null && maySee(who, (found.meta as JobMeta).owner) ? found : undefined
    if (old == null) throw new JobRefusal(ErrorCodes.unknownJob, `no job ${req.from} in the queue (pruned, or never submitted)`)
    const meta = old.meta as JobMeta
    const path = this.master.files.inputPath(req.from)
    try {
      if (meta.inputSha256 != null) await this.master.fetchInput(req.from, meta.standbys, meta.inputSha256)
      else await this.master.ensureLocal(req.from, meta, 'input')
    } catch {
      throw new JobRefusal(ErrorCodes.inputUnavailable, `the input of job ${req.from} (${meta.name}) is no longer kept on any live peer, so it cannot run again: submit the image again`)
    }
    const { size } = await stat(path)
    const again: SubmitRequest = {
      name: meta.name, bytes: size, pipeline: meta.pipeline, format: req.format ?? meta.format, watch: req.watch,
      ...(req.submitter != null ? { submitter: req.submitter } : {}),
      ...(req.noCache === true ? { noCache: true } : {})
    }
    return await this.admit(again, async (sink) => {
      for await (const chunk of createReadStream(path, { highWaterMark: FRAME_BYTES })) await sink(chunk as Buffer)
    }, who)
  }

  /** A finished job with this cache key whose output is stored, as the "accepted" of a cached submit. */
  private async cached (key: string, who: Caller): Promise<AcceptedEvent | undefined> {
    const queue = this.master.queue
    const id = queue == null ? undefined : cachedJob(queue.state, key, meta => who == null || meta.owner === who.name)
    if (id == null || queue == null) return undefined
    // Done in the queue is not yet stitched; a new master may not have checked its stored output yet; and
    // a stitched one's output may have been removed since (retention, the disk cap): only one here serves.
    if (getJob(queue.state, id)?.removedAt != null || !await this.master.hasOutput(id)) return undefined
    this.used(id)
    const job = queue.state.jobs.get(id)!
    const meta = job.meta as JobMeta
    return { type: 'accepted', jobId: id, tiles: job.tileCount, phases: job.phaseCount, width: meta.width, height: meta.height, copies: 1 + meta.standbys.length, cached: true }
  }

  /** The refusal of a peer that is not (or no longer) master: it names the master to ask, if it knows one. */
  private notMaster (): JobRefusal {
    return new JobRefusal(ErrorCodes.notMaster, this.masterId() ?? '')
  }

  /** Removes the files of a job that did not make it into the queue. */
  private async discard (jobId: string): Promise<void> {
    if (this.master.queue == null || getJob(this.master.queue.state, jobId) == null) await this.master.files.remove(jobId).catch(() => {})
  }

  knows (jobId: string): boolean {
    const queue = this.master.queue
    return queue != null && getJob(queue.state, jobId) != null
  }

  follow (jobId: string, follower: JobFollower, replay: boolean): () => void {
    const master = this.master
    const onJob = (e: JobEvent): void => { if (e.jobId === jobId) follower.event(e) }
    const onInactive = (): void => { follower.end() }
    master.on('job', onJob)
    master.on('inactive', onInactive)
    const unfollow = (): void => {
      master.off('job', onJob)
      master.off('inactive', onInactive)
    }
    if (replay) {
      const job = master.queue == null ? undefined : getJob(master.queue.state, jobId)
      if (job == null) {
        follower.end()
      } else {
        master.progress(jobId)
        if (job.state === 'done' && job.removedAt != null) follower.event({ type: 'failed', jobId, reason: removedReason(jobId, job.removedAt) })
        else if (job.state === 'done') void master.hasOutput(jobId).then(has => { if (has) follower.event({ type: 'result', jobId, format: (job.meta as JobMeta).format, bytes: 0, width: 0, height: 0 }) })
        else if (TERMINAL.has(job.state)) follower.event({ type: 'failed', jobId, reason: job.failure ?? job.state })
      }
    }
    return unfollow
  }

  async output (jobId: string): Promise<JobOutput> {
    const removedAt = this.master.queue == null ? undefined : getJob(this.master.queue.state, jobId)?.removedAt
    if (removedAt != null) throw new JobRefusal(ErrorCodes.unknownJob, removedReason(jobId, removedAt))
    this.used(jobId)
    const meta = this.master.meta(jobId)
    const name = `output.${extensionOf(meta.format)}`
    await this.master.ensureLocal(jobId, meta, name)
    const data = await this.master.files.openBlob(jobId, name)
    return { format: meta.format, width: meta.width, height: meta.height, data }
  }

  state (jobId: string): Extract<JobEvent, { type: 'progress' }> | undefined {
    const e = this.master.progressEvent(jobId)
    return e?.type === 'progress' ? e : undefined
  }

  queuePosition (jobId: string): number {
    const queue = this.master.queue
    if (queue == null) return 0
    const waiting = listJobs(queue.state).filter(j => j.state === 'queued' || j.state === 'running')
    return Math.max(0, waiting.findIndex(j => j.id === jobId))
  }

  async cancel (jobId: string, who: Caller): Promise<CancelReply> {
    if (!this.master.active) throw this.notMaster()
    this.mustSee(jobId, who)
    const { cancelled, state } = await this.master.cancel(jobId)
    return { jobId, state, cancelled }
  }

  async prune (req: PruneRequest, who: Caller): Promise<PruneReply> {
    if (!this.master.active) throw this.notMaster()
    const queue = this.master.queue
    const before = this.clock.now() - req.olderThanMs
    const states = new Set<string>(req.states)
    const matched = queue == null ? [] : listJobs(queue.state).filter(j => states.has(j.state) && j.finishedAt != null && j.finishedAt <= before && maySee(who, (j.meta as JobMeta).owner))
    const jobs: PruneReply['jobs'] = []
    for (const j of matched.slice(0, MAX_PRUNED)) {
      // A job that ended is never started again, so only a master that stepped down meanwhile says no.
      if (!req.dryRun && !await this.master.forget(j.id)) continue
      jobs.push({ id: j.id, name: (j.meta as JobMeta).name, state: j.state, finishedAt: j.finishedAt! })
    }
    return { jobs, more: matched.length > MAX_PRUNED, dryRun: req.dryRun }
  }

  jobs (limit: number, who: Caller, filter: JobsFilter = {}): JobsReply {
    const queue = this.master.queue
    const all = queue == null ? [] : listJobs(queue.state).filter(j => maySee(who, (j.meta as JobMeta).owner) && inHistory(j, filter))
    return { jobs: all.slice(-limit).map(j => this.summaryOf(j)), master: this.masterId() ?? '', epoch: this.master.currentEpoch }
  }

  /** One job's summary, without listing the queue (a dashboard's job page asks for it every second). */
  summary (jobId: string, who: Caller): JobSummary | undefined {
    const queue = this.master.queue
    const job = queue == null ? undefined : getJob(queue.state, jobId)
    return job == null || !maySee(who, (job.meta as JobMeta).owner) ? undefined : this.summaryOf(job)
  }

  private summaryOf (j: JobView): JobSummary {
    const meta = j.meta as JobMeta
    const s: JobSummary = {
      id: j.id, name: meta.name, state: j.state, done: j.done, total: j.total, phase: j.phase, phaseCount: j.phaseCount,
      peers: j.leasedTo, submittedAt: j.submittedAt, width: meta.width, height: meta.height, pipeline: formatPipeline(meta.pipeline)
    }
    if (j.finishedAt != null) s.finishedAt = j.finishedAt
    if (j.failure != null) s.failure = j.failure
    if (meta.submitter != null) s.submitter = meta.submitter
    if (meta.owner != null) s.owner = meta.owner
    if (j.startedAt != null) s.startedAt = j.startedAt
    if (j.workers.length > 0) s.workers = j.workers
    s.format = meta.format
    if (meta.inputBytes != null) s.inputBytes = meta.inputBytes
    if (meta.inputSha256 != null) s.inputSha256 = meta.inputSha256
    const waiting = this.master.waitingReason(j.id)
    if (waiting != null) s.waiting = waiting
    return s
  }
}
