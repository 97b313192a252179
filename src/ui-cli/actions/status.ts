// `swarm status`'s action: the peer table, as one peer of the swarm sees it (options: ../commands/status.ts).
import Table from 'cli-table3'
import { multiaddr } from '@multiformats/multiaddr'
import { connectClient } from '../../node/client.ts'
import { queryStatus, type PeerRow, type StatusSnapshot } from '../../transfer/status.ts'
import { resolveSwarmKey } from '../../node/swarm-key.ts'

export interface StatusOpts { key?: string, peer?: string[], json: boolean, timeout: number }

export async function status (opts: StatusOpts): Promise<void> {
  const psk = await resolveSwarmKey(opts.key)
  const client = await connectClient({ psk, peers: opts.peer, timeoutMs: opts.timeout })
  try {
    let snap: StatusSnapshot | undefined
    const errors: string[] = []
    for (const target of client.targets) {
      try {
        snap = await queryStatus(client.node, target, opts.timeout)
        break
      } catch (err) {
        errors.push(`${target.toString()}: ${(err as Error).message}`)
      }
    }
    if (snap == null) throw new Error(`no peer answered the status request${psk == null ? ' (if the swarm uses a key, pass --key)' : ''}:\n  ${errors.join('\n  ')}`)
    // Only the master knows whom it distrusts: asked too when another peer answered (best effort).
    const master = snap.peers.find(p => p.peerId === snap?.master && p.alive && !p.self)
    if (master != null && snap.distrusted == null) {
      for (const addr of master.addrs) {
        const fromMaster = await queryStatus(client.node, multiaddr(`${addr}${addr.includes('/p2p/') ? '' : `/p2p/${master.peerId}`}`), opts.timeout).catch(() => undefined)
        if (fromMaster == null) continue
        if (fromMaster.distrusted != null) snap.distrusted = fromMaster.distrusted
        break
      }
    }
    process.stdout.write(opts.json ? `${JSON.stringify(snap, null, 2)}\n` : render(snap))
  } finally {
    await client.close()
  }
}

function render (snap: StatusSnapshot): string {
  const table = new Table({ head: ['name', 'PeerId', 'role', 'address', 'arch', 'cores', 'load', 'last seen'] })
  const rows = [...snap.peers].sort((a, b) => Number(b.alive) - Number(a.alive) || a.name.localeCompare(b.name))
  for (const p of rows) {
    const distrusted = snap.distrusted?.some(d => d.peer === p.peerId) === true
    table.push([p.name + (p.self ? ' *' : ''), p.peerId, roleOf(p, snap) + (distrusted ? ' DISTRUSTED' : ''), addressOf(p), p.arch, p.load.cores, `${p.load.busyTiles} busy / ${p.load.freeSlots} free`, lastSeen(p)])
  }
  const alive = snap.peers.filter(p => p.alive).length
  const master = snap.peers.find(p => p.peerId === snap.master)
  const head = `${alive} peer(s) alive; master: ${master != null ? `${master.name} (${master.peerId})` : 'none yet'}, epoch ${snap.epoch}; * = the peer that answered\n`
  const distrusted = (snap.distrusted ?? []).map(d => `DISTRUSTED (gets no tiles): ${d.peer}: ${d.reason}\n`).join('')
  return `${head}${table.toString()}\n${distrusted}`
}

function roleOf (p: PeerRow, snap: StatusSnapshot): string {
  if (!p.alive) return 'dead'
  const role = p.peerId === snap.master ? 'master' : p.role
  return p.eligible ? role : `${role} (no-master)`
}

function addressOf (p: PeerRow): string {
  // The first non-loopback TCP address is the one other devices use.
  const addr = p.addrs.find(a => !a.includes('/127.0.0.1/') && !a.includes('/::1/')) ?? p.addrs[0] ?? '-'
  const m = /\/ip[46]\/([^/]+)\/tcp\/(\d+)/.exec(addr)
  return m != null ? `${m[1]}:${m[2]}` : addr
}

function lastSeen (p: PeerRow): string {
  if (p.self) return 'now'
  const s = p.lastSeenMsAgo / 1000
  return s < 60 ? `${s.toFixed(1)} s ago` : `${Math.round(s / 60)} min ago`
}
