// `swarm jobs`'s action: the master's queue with the jobs' progress (options: ../commands/jobs.ts).
import Table from 'cli-table3'
import { connectClient } from '../../node/client.ts'
import { resolveSwarmKey } from '../../node/swarm-key.ts'
import { fetchJobs, findMaster } from '../../transfer/job-protocol.ts'

export interface JobsOpts { key?: string, peer?: string[], json: boolean, limit: number, timeout: number }

export async function jobs (opts: JobsOpts): Promise<void> {
  const client = await connectClient({ psk: await resolveSwarmKey(opts.key), peers: opts.peer, timeoutMs: opts.timeout })
  try {
    const reply = await fetchJobs(client.node, await findMaster(client.node, client.targets, opts.timeout), opts.limit)
    if (opts.json) {
      process.stdout.write(`${JSON.stringify(reply, null, 2)}\n`)
      return
    }
    if (reply.jobs.length === 0) {
      console.log('no jobs yet')
      return
    }
    const table = new Table({ head: ['job', 'image', 'size', 'state', 'progress', 'peers', 'pipeline', 'submitted'] })
    for (const j of reply.jobs) {
      const pct = j.total > 0 ? Math.floor(100 * j.done / j.total) : 0
      const state = j.state === 'failed' ? `failed: ${j.failure ?? ''}`.slice(0, 60) : j.waiting != null ? `${j.state}, waiting: ${j.waiting}`.slice(0, 80) : j.state
      table.push([j.id, j.name, `${j.width}x${j.height}`, state, `${j.done}/${j.total} (${pct}%)`, j.peers.length, j.pipeline.slice(0, 40), ago(j.submittedAt)])
    }
    console.log(table.toString())
  } finally {
    await client.close()
  }
}

function ago (t: number): string {
  const s = Math.max(0, (Date.now() - t) / 1000)
  return s < 60 ? `${Math.round(s)} s ago` : s < 3600 ? `${Math.round(s / 60)} min ago` : `${Math.round(s / 3600)} h ago`
}
