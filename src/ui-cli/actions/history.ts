// `swarm history`'s action: the master's job records that match, newest first (options: ../commands/history.ts).
import Table from 'cli-table3'
import { resolveSwarmKey } from '../../node/swarm-key.ts'
import { fetchHistory, findMaster } from '../../transfer/job-protocol.ts'
import type { JobsReply, JobsRequest, JobSummary } from '../../transfer/messages.ts'
import { connectWithFeedback } from '../connect.ts'
import { resolveMoment, type Moment } from '../time-options.ts'
import { formatDuration, jobFigures, tableStyle } from './jobs.ts'

export interface HistoryOpts {
  state?: JobsRequest['states']
  since?: Moment
  until?: Moment
  limit: number
  json: boolean
  key?: string
  peer?: string[]
  timeout: number
}

/** The request for these options at `now`; throws the one sentence for a window that holds no time. */
export function historyRequest (opts: Pick<HistoryOpts, 'state' | 'since' | 'until' | 'limit'>, now: number): JobsRequest {
  const req: JobsRequest = { limit: opts.limit }
  if (opts.state != null) req.states = opts.state
  if (opts.since != null) req.since = resolveMoment(opts.since, now)
  if (opts.until != null) req.until = resolveMoment(opts.until, now)
  if (req.since != null && req.until != null && req.since >= req.until) {
    throw new Error(`--since (${localTime(req.since)}) must be before --until (${localTime(req.until)})`)
  }
  return req
}

export async function history (opts: HistoryOpts, now = Date.now()): Promise<void> {
  const req = historyRequest(opts, now)
  const say = opts.json ? undefined : (line: string): void => { console.error(line) }
  const client = await connectWithFeedback({ psk: await resolveSwarmKey(opts.key), peers: opts.peer, timeoutMs: opts.timeout }, { say })
  try {
    const reply = await fetchHistory(client.node, await findMaster(client.node, client.targets, opts.timeout), req, { signer: client.signer })
    process.stdout.write(opts.json ? `${JSON.stringify(historyJson(reply, now), null, 2)}\n` : renderHistory(reply, now, req))
  } finally {
    await client.close()
  }
}

/** What --json prints: the records newest first, each with its duration as the table shows it. */
export function historyJson (reply: JobsReply, now: number): { master: string, epoch: number, jobs: Array<JobSummary & { durationMs?: number }> } {
  return {
    master: reply.master,
    epoch: reply.epoch,
    jobs: [...reply.jobs].reverse().map(j => {
      const { durationMs } = jobFigures(j, now)
      return durationMs != null ? { ...j, durationMs } : { ...j }
    })
  }
}

export function renderHistory (reply: JobsReply, now: number, req: JobsRequest = {}): string {
  if (reply.jobs.length === 0) return req.states != null || req.since != null || req.until != null ? 'no jobs match\n' : 'no jobs yet\n'
  // The owner column once the swarm has accounts (an admin sees everyone's jobs; a user, their own).
  const owners = reply.jobs.some(j => j.owner != null)
  const table = new Table({ head: ['job', ...(owners ? ['owner'] : []), 'image', 'input', 'state', 'submitted', 'duration', 'pipeline', 'format', 'workers'], ...tableStyle() })
  for (const j of [...reply.jobs].reverse()) {
    const input = `${j.inputBytes != null ? `${formatBytes(j.inputBytes)}, ` : ''}${j.width}x${j.height}`
    table.push([j.id, ...(owners ? [j.owner ?? '-'] : []), j.name, input, outcome(j), localTime(j.submittedAt), formatDuration(jobFigures(j, now).durationMs), j.pipeline.slice(0, 40), j.format ?? '-', (j.workers ?? []).length])
  }
  return `${table.toString()}\n`
}

/** done, failed with its reason, cancelled, or how far a job that has not ended is. */
function outcome (j: JobSummary): string {
  if (j.state === 'failed') return `failed: ${j.failure ?? ''}`.slice(0, 60)
  if (j.state === 'running') return `running ${j.done}/${j.total}`
  return j.state
}

/** "850 B", "12.3 KiB", "4.5 MiB", "1.2 GiB". */
export function formatBytes (n: number): string {
  if (n < 1024) return `${n} B`
  const units = ['KiB', 'MiB', 'GiB', 'TiB']
  let v = n / 1024
  let u = 0
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u++ }
  return `${v >= 100 ? v.toFixed(0) : v.toFixed(1)} ${units[u]}`
}

/** "2024-05-01 14:30:05", local time. */
export function localTime (t: number): string {
  const d = new Date(t)
  const p = (n: number): string => String(n).padStart(2, '0')
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`
}
