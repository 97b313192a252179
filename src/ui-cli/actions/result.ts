// `swarm result`'s action: wait for a job (with a progress bar) and write its output (options: ../commands/result.ts).
import { mkdir, writeFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { Presets, SingleBar } from 'cli-progress'
import { connectClient } from '../../node/client.ts'
import { resolveSwarmKey } from '../../node/swarm-key.ts'
import { extensionOf } from '../../scheduler/master.ts'
import { runWatch } from '../job-session.ts'

export interface ResultOpts { output?: string, key?: string, peer?: string[], timeout: number }

export async function result (jobId: string, opts: ResultOpts): Promise<number> {
  const client = await connectClient({ psk: await resolveSwarmKey(opts.key), peers: opts.peer, timeoutMs: opts.timeout })
  const bar = new SingleBar({ format: ` ${jobId} |{bar}| {value}/{total} tiles | {peers} peer(s)`, stream: process.stderr }, Presets.shades_classic)
  let started = false
  try {
    const outcome = await runWatch(jobId, true, {
      node: client.node,
      targets: client.targets,
      masterTimeoutMs: opts.timeout,
      onEvent: (e) => {
        if (e.type !== 'progress' || !process.stderr.isTTY || e.done === e.total) return
        if (!started) { bar.start(e.total, e.done, { peers: e.peers.length }); started = true }
        bar.update(e.done, { peers: e.peers.length })
      }
    })
    if (started) bar.stop()
    if (outcome.failure != null || outcome.data == null || outcome.result == null) {
      console.error(`swarm: job ${jobId} failed: ${outcome.failure ?? 'no result'}`)
      return 1
    }
    const out = resolve(opts.output ?? `${jobId}.${extensionOf(outcome.result.format)}`)
    await mkdir(resolve(out, '..'), { recursive: true })
    await writeFile(out, outcome.data)
    console.error(`wrote ${out} (${outcome.result.width}x${outcome.result.height})`)
    return 0
  } finally {
    if (started) bar.stop()
    await client.close()
  }
}
