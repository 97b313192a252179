// `swarm result <job>`: wait for a job (with a progress bar) and write its output.
import { mkdir, writeFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { Presets, SingleBar } from 'cli-progress'
import type { Command } from 'commander'
import { connectClient } from '../../node/client.ts'
import { resolveSwarmKey } from '../../node/swarm-key.ts'
import { extensionOf } from '../../scheduler/master.ts'
import { runWatch } from '../job-session.ts'
import { keyOption, peerOption, positiveInt } from '../shared-options.ts'

interface ResultOpts { output?: string, key?: string, peer?: string[], timeout: number }

export function registerResultCommand (program: Command): void {
  program.command('result')
    .description('wait for a job submitted with --detach and write its output')
    .argument('<job>', 'the job id printed by `swarm submit --detach`')
    .option('-o, --output <file>', 'where to write it (default: <job>.<format> here)')
    .addOption(keyOption())
    .addOption(peerOption())
    .option('--timeout <ms>', 'how long to look for the swarm and its master', positiveInt('--timeout'), 15_000)
    .action(async (job: string, opts: ResultOpts) => { process.exitCode = await result(job, opts) })
}

async function result (jobId: string, opts: ResultOpts): Promise<number> {
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
