// The master's public face: the submit, watch and jobs protocols. Any peer answers them; a peer that is
// not master replies `not-master` with the master's PeerId, so the client goes there instead.
import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import type { Libp2p, Stream } from '@libp2p/interface'
import {
  decodeImage, ImageInputError, outputChannels, phaseCount, pipelineHalo, planTiles, validatePipeline, type Pipeline
} from '../ops/index.ts'
import { FrameStream } from '../transfer/frames.ts'
import {
  ErrorCodes, FRAME_BYTES, JOBS_PROTOCOL, JobsRequestSchema, OutputFormatSchema, SUBMIT_PROTOCOL, SubmitRequestSchema, WATCH_PROTOCOL,
  WatchRequestSchema, type JobEvent, type JobSummary
} from '../transfer/messages.ts'
import { formatPipeline } from '../ops/pipeline.ts'
import { extensionOf, type JobMeta, type MasterRuntime } from './master.ts'
import { getJob, listJobs } from './queue-machine.ts'
import { HANDOVER_PROTOCOL, HandoverRequestSchema } from './handover.ts'

const READ_TIMEOUT_MS = 30_000
const TERMINAL = new Set(['done', 'failed', 'cancelled'])

export class JobService {
  private readonly master: MasterRuntime
  private readonly masterId: () => string | null

  constructor (master: MasterRuntime, masterId: () => string | null) {
    this.master = master
    this.masterId = masterId
  }

  async register (node: Libp2p): Promise<void> {
    const serve = (fn: (fs: FrameStream) => Promise<void>) => async (stream: Stream): Promise<void> => {
      const fs = new FrameStream(stream, { maxFrameBytes: FRAME_BYTES, readTimeoutMs: READ_TIMEOUT_MS })
      try {
        if (!this.master.active) {
          await fs.writeError(ErrorCodes.notMaster, this.masterId() ?? '')
          await fs.close()
          return
        }
        await fn(fs)
      } catch (err) {
        fs.abort(err as Error)
      }
    }
    await node.handle(SUBMIT_PROTOCOL, serve(async fs => { await this.submit(fs) }), { maxInboundStreams: 64 })
    await node.handle(WATCH_PROTOCOL, serve(async fs => { await this.watchRequest(fs) }), { maxInboundStreams: 256 })
    await node.handle(JOBS_PROTOCOL, serve(async fs => { await this.jobs(fs) }), { maxInboundStreams: 16 })
    await node.handle(HANDOVER_PROTOCOL, serve(async fs => { await this.takeOver(fs) }), { maxInboundStreams: 16 })
  }

  /** A job handed over by the loser of a partition: queued here under its own id, unless known. */
  private async takeOver (fs: FrameStream): Promise<void> {
    const req = await fs.readJson(HandoverRequestSchema)
    const queue = this.master.queue
    if (queue != null && getJob(queue.state, req.jobId) != null) {
      await fs.readBinary(req.bytes, () => {})
      await fs.writeJson({ ok: true, known: true })
      await fs.close()
      return
    }
    const meta = req.meta as JobMeta
    const pipeline = validatePipeline(meta?.pipeline)
    const files = this.master.files
    await files.create(req.jobId)
    const sink = await files.openInput(req.jobId)
    try { await fs.readBinary(req.bytes, sink.write) } finally { await sink.close() }
    const raw = await decodeImage(files.inputPath(req.jobId), { maxPixels: this.master.opts.maxPixels, name: String(meta.name) })
    const tileSize = Number(meta.tileSize)
    const halo = pipelineHalo(pipeline)
    const standbys = await this.master.replicateInput(req.jobId, this.master.opts.standbys)
    if (this.master.livePeers().length > 0 && standbys.length === 0) {
      // Same rule as a submit: not taken until a second peer has the input. The giver keeps it and retries.
      await files.remove(req.jobId)
      await fs.writeError(ErrorCodes.busy, `no standby could store the input of ${req.jobId}`)
      await fs.close()
      return
    }
    const fresh: JobMeta = {
      name: String(meta.name), width: raw.width, height: raw.height, channels: raw.channels,
      outChannels: outputChannels(pipeline, raw.channels), tileSize, halo, pipeline, format: OutputFormatSchema.parse(meta.format), standbys
    }
    this.master.remember(req.jobId, raw)
    await this.master.step({ type: 'submit', job: { id: req.jobId, tileCount: planTiles(raw.width, raw.height, tileSize, halo).length, phaseCount: phaseCount(pipeline), meta: fresh }, now: Date.now() })
    await fs.writeJson({ ok: true, known: false })
    await fs.close()
  }

  private async submit (fs: FrameStream): Promise<void> {
    const req = await fs.readJson(SubmitRequestSchema)
    const opts = this.master.opts
    if (req.bytes > opts.maxInputBytes) {
      await this.refuse(fs, ErrorCodes.badInput, `${req.name}: ${req.bytes} bytes, the limit is ${opts.maxInputBytes}`)
      return
    }
    let pipeline: Pipeline
    try {
      pipeline = validatePipeline(req.pipeline)
    } catch (err) {
      await this.refuse(fs, ErrorCodes.badPipeline, (err as Error).message)
      return
    }
    const jobId = `j${Date.now().toString(36)}${randomBytes(4).toString('hex')}`
    const files = this.master.files
    await files.create(jobId)
    try {
      const sink = await files.openInput(jobId)
      try {
        await fs.readBinary(req.bytes, sink.write)
      } finally {
        await sink.close()
      }
      // The whole file is decoded before it is queued: a bad or truncated image never enters the queue.
      let raw
      try {
        raw = await decodeImage(files.inputPath(jobId), { maxPixels: opts.maxPixels, name: req.name })
      } catch (err) {
        const msg = err instanceof ImageInputError ? err.message : `${req.name}: ${(err as Error).message}`
        await files.remove(jobId)
        await this.refuse(fs, ErrorCodes.badInput, msg)
        return
      }
      const tileSize = req.tileSize ?? this.master.tileSizeFor(raw.width, raw.height)
      // The input on a standby before anyone is told "accepted": the job then survives this master.
      const swarmSize = this.master.livePeers().length
      const standbys = swarmSize > 0 ? await this.master.replicateInput(jobId, this.master.opts.standbys) : []
      if (swarmSize > 0 && standbys.length === 0) {
        await files.remove(jobId)
        await this.refuse(fs, ErrorCodes.busy, `${req.name}: no other peer could store a copy of the input; try again`)
        return
      }
      const halo = pipelineHalo(pipeline)
      const meta: JobMeta = {
        name: req.name, width: raw.width, height: raw.height, channels: raw.channels,
        outChannels: outputChannels(pipeline, raw.channels), tileSize, halo, pipeline, format: req.format, standbys
      }
      const tiles = planTiles(raw.width, raw.height, tileSize, halo).length
      this.master.remember(jobId, raw)
      // Watch before the job can progress, so no event is missed; but send nothing before "accepted".
      const accepted = Promise.withResolvers<void>()
      const watching = req.watch ? this.watch(fs, jobId, true, true, accepted.promise) : undefined
      try {
        await this.master.step({ type: 'submit', job: { id: jobId, tileCount: tiles, phaseCount: phaseCount(pipeline), meta }, now: Date.now() })
        await fs.writeJson({ type: 'accepted', jobId, tiles, phases: phaseCount(pipeline), width: raw.width, height: raw.height, copies: 1 + standbys.length } satisfies JobEvent)
      } finally {
        accepted.resolve()
      }
      if (watching != null) await watching
      else await fs.close()
    } catch (err) {
      if (this.master.queue == null || getJob(this.master.queue.state, jobId) == null) await files.remove(jobId).catch(() => {})
      throw err
    }
  }

  private async refuse (fs: FrameStream, code: string, message: string): Promise<void> {
    await fs.writeError(code, message)
    await fs.close()
  }

  private async watchRequest (fs: FrameStream): Promise<void> {
    const req = await fs.readJson(WatchRequestSchema)
    const queue = this.master.queue
    if (queue == null || getJob(queue.state, req.jobId) == null) {
      await this.refuse(fs, ErrorCodes.unknownJob, `no job ${req.jobId} in the queue`)
      return
    }
    await this.watch(fs, req.jobId, req.result, false)
  }

  /**
   * Streams the job's progress, then its result (or failure), then ends. Ends early, without a result,
   * when this peer stops being master: the client then asks the new one.
   */
  private async watch (fs: FrameStream, jobId: string, result: boolean, fresh: boolean, after: Promise<void> = Promise.resolve()): Promise<void> {
    const master = this.master
    let last = 0
    let send: Promise<void> = after
    const queueSend = (e: JobEvent): void => { send = send.then(async () => { await fs.writeJson(e) }) }
    await new Promise<void>((resolve) => {
      const finish = (): void => {
        master.off('job', onJob)
        master.off('inactive', onInactive)
        resolve()
      }
      const onInactive = (): void => { finish() }
      const onJob = (e: JobEvent): void => {
        if (e.jobId !== jobId) return
        if (e.type === 'progress') {
          // At most ten progress events a second per watcher; the last one before the result always goes.
          const now = Date.now()
          if (now - last < 100 && e.done < e.total) return
          last = now
          queueSend({ ...e, queuePosition: this.position(jobId) })
        } else if (e.type === 'failed') {
          queueSend(e)
          finish()
        } else if (e.type === 'result') {
          void this.sendResult(fs, jobId, result, () => send).then(finish, finish)
        }
      }
      master.on('job', onJob)
      master.on('inactive', onInactive)
      fs.stream.addEventListener('close', finish)
      if (!fresh) {
        const job = master.queue == null ? undefined : getJob(master.queue.state, jobId)
        if (job == null) { finish(); return }
        master.progress(jobId)
        if (job.state === 'done') void master.hasOutput(jobId).then(has => { if (has) onJob({ type: 'result', jobId, format: (job.meta as JobMeta).format, bytes: 0, width: 0, height: 0 }) })
        else if (TERMINAL.has(job.state)) onJob({ type: 'failed', jobId, reason: job.failure ?? job.state })
      }
    })
    await send.catch(() => {})
    await fs.close()
  }

  private async sendResult (fs: FrameStream, jobId: string, withData: boolean, pending: () => Promise<void>): Promise<void> {
    await pending()
    const meta = this.master.meta(jobId)
    await this.master.ensureLocal(jobId, meta, `output.${extensionOf(meta.format)}`)
    const data = await readFile(this.master.files.outputPath(jobId, extensionOf(meta.format)))
    await fs.writeJson({ type: 'result', jobId, format: meta.format, bytes: withData ? data.byteLength : 0, width: meta.width, height: meta.height } satisfies JobEvent)
    if (withData) await fs.writeBinary(data, FRAME_BYTES)
  }

  private position (jobId: string): number {
    const queue = this.master.queue
    if (queue == null) return 0
    const waiting = listJobs(queue.state).filter(j => j.state === 'queued' || j.state === 'running')
    return Math.max(0, waiting.findIndex(j => j.id === jobId))
  }

  private async jobs (fs: FrameStream): Promise<void> {
    const req = await fs.readJson(JobsRequestSchema)
    const queue = this.master.queue
    const all = queue == null ? [] : listJobs(queue.state)
    const jobs: JobSummary[] = all.slice(-(req.limit ?? 100)).map(j => {
      const meta = j.meta as JobMeta
      const s: JobSummary = {
        id: j.id, name: meta.name, state: j.state, done: j.done, total: j.total, phase: j.phase, phaseCount: j.phaseCount,
        peers: j.leasedTo, submittedAt: j.submittedAt, width: meta.width, height: meta.height, pipeline: formatPipeline(meta.pipeline)
      }
      if (j.finishedAt != null) s.finishedAt = j.finishedAt
      if (j.failure != null) s.failure = j.failure
      return s
    })
    await fs.writeJson({ jobs, master: this.masterId() ?? '', epoch: this.master.currentEpoch })
    await fs.close()
  }
}
