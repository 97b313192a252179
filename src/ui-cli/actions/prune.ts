// `swarm prune`'s action (options: ../commands/prune.ts): the master lists what matches, the person
// confirms (or passed --yes), the master removes it and its files; followers remove their copies as the
// deletion reaches their replica.
import { createInterface } from 'node:readline/promises'
import { resolveSwarmKey } from '../../node/swarm-key.ts'
import { findMaster, pruneJobs } from '../../transfer/job-protocol.ts'
import type { PruneReply } from '../../transfer/messages.ts'
import { connectWithFeedback } from '../connect.ts'

export interface PruneOpts { olderThan: number, state: string[], dryRun: boolean, yes: boolean, key?: string, peer?: string[], timeout: number }

function list (reply: PruneReply): void {
  for (const j of reply.jobs) console.log(`${j.id}  ${j.state.padEnd(9)}  ended ${new Date(j.finishedAt).toISOString()}  ${j.name}`)
}

export async function prune (opts: PruneOpts): Promise<number> {
  if (!opts.dryRun && !opts.yes && !process.stdin.isTTY) {
    console.error('swarm: prune removes jobs for good: pass --yes to do it without a terminal (or --dry-run to list them)')
    return 1
  }
  const client = await connectWithFeedback({ psk: await resolveSwarmKey(opts.key), peers: opts.peer, timeoutMs: opts.timeout }, { say: (l) => { console.error(l) } })
  try {
    const master = await findMaster(client.node, client.targets, opts.timeout)
    const req = { olderThanMs: opts.olderThan, states: opts.state as Array<'done' | 'failed' | 'cancelled'>, dryRun: true }
    const found = await pruneJobs(client.node, master, req, { signer: client.signer })
    if (found.jobs.length === 0) {
      console.error('nothing to prune')
      return 0
    }
    if (opts.dryRun) {
      list(found)
      console.error(`${found.jobs.length}${found.more ? '+' : ''} job(s) would be removed (dry run: nothing removed)`)
      return 0
    }
    if (!opts.yes) {
      list(found)
      const rl = createInterface({ input: process.stdin, output: process.stderr })
      const answer = await rl.question(`Remove these ${found.jobs.length}${found.more ? '+' : ''} job(s) and their files from every peer? [y/N] `).finally(() => { rl.close() })
      if (!/^y(es)?$/i.test(answer.trim())) {
        console.error('nothing removed')
        return 1
      }
    }
    const done = await pruneJobs(client.node, master, { ...req, dryRun: false }, { signer: client.signer })
    if (opts.yes) list(done)
    console.error(`removed ${done.jobs.length} job(s)${done.more ? '; more match: run swarm prune again' : ''}`)
    return 0
  } finally {
    await client.close()
  }
}
