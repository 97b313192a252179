// `swarm gc`'s action (options: ../commands/gc.ts): the master runs its disk pass and relays the request to
// every live peer; each report says what that peer removed, why, and its disk use after.
import { resolveSwarmKey } from '../../node/swarm-key.ts'
import { requestGc, type GcReply } from '../../transfer/gc-protocol.ts'
import { findMaster } from '../../transfer/job-protocol.ts'
import { connectWithFeedback } from '../connect.ts'
import { formatDisk } from './status.ts'

export interface GcOpts { json: boolean, key?: string, peer?: string[], timeout: number }

export function renderGc (reply: GcReply): string {
  const lines: string[] = []
  let freed = 0
  let removed = 0
  for (const p of reply.peers) {
    const who = `…${p.peerId.slice(-8)}`
    if (p.error != null) { lines.push(`${who}: not cleaned: ${p.error}`); continue }
    freed += p.freedBytes
    removed += p.removed.length
    for (const r of p.removed) lines.push(`${who}: removed the files of job ${r.jobId} (${r.reason}), ${r.bytes} bytes`)
    lines.push(`${who}: freed ${p.freedBytes} bytes; disk ${formatDisk({ diskUsed: p.usedBytes, diskMax: p.maxDiskBytes })}${p.overCap != null ? `; still over the cap: ${p.overCap}` : ''}`)
  }
  lines.push(`${reply.peers.length} peer(s): ${removed} job(s)' files removed, ${freed} bytes freed`)
  return lines.join('\n')
}

export async function gc (opts: GcOpts): Promise<number> {
  const client = await connectWithFeedback({ psk: await resolveSwarmKey(opts.key), peers: opts.peer, timeoutMs: opts.timeout }, { say: (l) => { console.error(l) } })
  try {
    const master = await findMaster(client.node, client.targets, opts.timeout)
    const reply = await requestGc(client.node, master, { all: true })
    if (opts.json) console.log(JSON.stringify(reply))
    else console.log(renderGc(reply))
    return reply.peers.some(p => p.error != null) ? 1 : 0
  } finally {
    await client.close()
  }
}
