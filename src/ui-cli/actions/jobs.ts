// `swarm jobs`'s action: the master's queue with the jobs' progress (options: ../commands/jobs.ts).
import Table from 'cli-table3'
import { resolveSwarmKey } from '../../node/swarm-key.ts'
import { fetchJobs, findMaster } from '../../transfer/job-protocol.ts'
import type { JobsReply, JobSummary } from '../../transfer/messages.ts'
import { connectWithFeedback } from '../connect.ts'

export interface JobsOpts { key?: string, peer?: string[], json: boolean, limit: number, timeout: number }

export async function jobs (opts: JobsOpts): Promise<void> {
  const say = opts.json ? undefined : (line: string): void => { console.error(line) }
  const client = await connectWithFeedback({ psk: await resolveSwarmKey(opts.key), peers: opts.peer, timeoutMs: opts.timeout }, { say })
  try {
    const reply = await fetchJobs(client.node, await findMaster(client.node, client.targets, opts.timeout), opts.limit, { signer: client.signer })
    process.stdout.write(opts.json ? `${JSON.stringify(jobsJson(reply), null, 2)}\n` : renderJobs(reply))
  } finally {
    await client.close()
  }
}

/** What --json prints: the master's reply, each job with the figures the table shows besides its own fields. */
export function jobsJson (reply: JobsReply, now = Date.now()): JobsReply & { jobs: Array<JobSummary & JobFigures> } {
  return { ...reply, jobs: reply.jobs.map(j => ({ ...j, ...jobFigures(j, now) })) }
}

export interface JobFigures {
  /** Peers on it: those that did its tiles once it ended, those holding its tiles while it runs. */
  peerCount: number
  /** From its first tile handed out (or its submission) to its end, or to now while it runs; absent while queued. */
  durationMs?: number
  /** Megapixels computed per second over durationMs: width x height x phases x the share of tiles done. */
  megapixelsPerSecond?: number
}

const ENDED = new Set(['done', 'failed', 'cancelled'])

export function jobFigures (j: JobSummary, now = Date.now()): JobFigures {
  const ended = ENDED.has(j.state) || j.finishedAt != null
  const peerCount = ended ? (j.workers ?? []).length : j.state === 'running' ? j.peers.length : 0
  if (!ended && j.state !== 'running') return { peerCount }
  const from = j.startedAt ?? j.submittedAt
  const durationMs = Math.max(0, (ended ? (j.finishedAt ?? now) : now) - from)
  const megapixels = j.total > 0 ? j.width * j.height * j.phaseCount * (j.done / j.total) / 1e6 : 0
  return durationMs > 0 ? { peerCount, durationMs, megapixelsPerSecond: megapixels / (durationMs / 1000) } : { peerCount, durationMs }
}

/** "3.2 MP/s", "0.04 MP/s", "-". */
export function formatMps (mps: number | undefined): string {
  if (mps == null || !Number.isFinite(mps)) return '-'
  return `${mps >= 10 ? mps.toFixed(0) : mps >= 1 ? mps.toFixed(1) : mps.toFixed(2)} MP/s`
}

/** "850 ms", "12.3 s", "4 min 05 s", "2 h 07 min". */
export function formatDuration (ms: number | undefined): string {
  if (ms == null) return '-'
  if (ms < 1000) return `${Math.round(ms)} ms`
  const s = ms / 1000
  if (s < 60) return `${s.toFixed(1)} s`
  const whole = Math.round(s)
  if (whole < 3600) return `${Math.floor(whole / 60)} min ${String(whole % 60).padStart(2, '0')} s`
  return `${Math.floor(whole / 3600)} h ${String(Math.floor(whole % 3600 / 60)).padStart(2, '0')} min`
}

/** cli-table3 colours its header and border: not in a pipe, nor with NO_COLOR set. */
export function tableStyle (stream: { isTTY?: boolean } = process.stdout, env: NodeJS.ProcessEnv = process.env): { style?: { head: string[], border: string[] } } {
  return stream.isTTY === true && (env.NO_COLOR ?? '') === '' ? {} : { style: { head: [], border: [] } }
}

export function renderJobs (reply: JobsReply, now = Date.now()): string {
  if (reply.jobs.length === 0) return 'no jobs yet\n'
  const table = new Table({ head: ['job', 'image', 'size', 'state', 'progress', 'peers', 'duration', 'throughput', 'pipeline', 'submitted'], ...tableStyle() })
  for (const j of reply.jobs) {
    const pct = j.total > 0 ? Math.floor(100 * j.done / j.total) : 0
    const state = j.state === 'failed' ? `failed: ${j.failure ?? ''}`.slice(0, 60) : j.waiting != null ? `${j.state}, waiting: ${j.waiting}`.slice(0, 80) : j.state
    const f = jobFigures(j, now)
    table.push([j.id, j.name, `${j.width}x${j.height}`, state, `${j.done}/${j.total} (${pct}%)`, f.peerCount, formatDuration(f.durationMs), formatMps(f.megapixelsPerSecond), j.pipeline.slice(0, 40), ago(j.submittedAt, now)])
  }
  return `${table.toString()}\n`
}

function ago (t: number, now: number): string {
  const s = Math.max(0, (now - t) / 1000)
  return s < 60 ? `${Math.round(s)} s ago` : s < 3600 ? `${Math.round(s / 60)} min ago` : `${Math.round(s / 3600)} h ago`
}
