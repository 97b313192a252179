// `swarm cancel`'s action: end jobs in the queue, queued or running (options: ../commands/cancel.ts).
import { resolveSwarmKey } from '../../node/swarm-key.ts'
import { RemoteError } from '../../transfer/errors.ts'
import { cancelJob, findMaster, isRetryable, type ClientOptions } from '../../transfer/job-protocol.ts'
import type { CancelReply } from '../../transfer/messages.ts'
import { connectWithFeedback } from '../connect.ts'

export interface CancelOpts { key?: string, peer?: string[], timeout: number }

/** A master that changed under the request is asked again, this many times at most (within --timeout). */
const MAX_ATTEMPTS = 5
/** Between attempts: a new master is elected within about two seconds. */
const RETRY_PAUSE_MS = 300

export async function cancel (jobIds: string[], opts: CancelOpts): Promise<number> {
  const client = await connectWithFeedback({ psk: await resolveSwarmKey(opts.key), peers: opts.peer, timeoutMs: opts.timeout }, { say: (line) => { console.error(line) } })
  const deadline = Date.now() + opts.timeout
  let bad = 0
  try {
    for (const jobId of jobIds) {
      const reply = await cancelOne(jobId, async () => await findMaster(client.node, client.targets, Math.max(1000, deadline - Date.now())), client.node, client.signer)
      if (typeof reply === 'string') {
        bad++
        console.error(`swarm: job ${jobId}: ${reply}`)
      } else if (reply.cancelled || reply.state === 'cancelled') {
        console.log(`job ${jobId} cancelled`)
      } else {
        bad++
        console.error(`swarm: job ${jobId} had already ended (${reply.state}): nothing to cancel`)
      }
    }
  } finally {
    await client.close()
  }
  return bad > 0 ? 1 : 0
}

/** The master's answer, or the sentence saying why there is none (an unknown job). */
async function cancelOne (jobId: string, master: () => Promise<Parameters<typeof cancelJob>[1]>, node: Parameters<typeof cancelJob>[0], signer: ClientOptions['signer']): Promise<CancelReply | string> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await cancelJob(node, await master(), jobId, { signer })
    } catch (err) {
      if (err instanceof RemoteError && !isRetryable(err)) return err.message
      if (attempt >= MAX_ATTEMPTS) throw err
      await new Promise(resolve => setTimeout(resolve, RETRY_PAUSE_MS))
    }
  }
}
