// `swarm status`'s action: the peer table, as one peer of the swarm sees it (options: ../commands/status.ts).
import { networkInterfaces } from 'node:os'
import Table from 'cli-table3'
import type { Libp2p, PeerId } from '@libp2p/interface'
import { isMultiaddr, multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { queryStatus, type PeerRow, type StatusSnapshot } from '../../transfer/status.ts'
import { resolveSwarmKey } from '../../node/swarm-key.ts'
import { connectWithFeedback } from '../connect.ts'
import { tableStyle } from './jobs.ts'

export interface StatusOpts { key?: string, peer?: string[], json: boolean, timeout: number }

export async function status (opts: StatusOpts): Promise<void> {
  const psk = await resolveSwarmKey(opts.key)
  const say = opts.json ? undefined : (line: string): void => { console.error(line) }
  const client = await connectWithFeedback({ psk, peers: opts.peer, timeoutMs: opts.timeout }, { say })
  try {
    let snap: StatusSnapshot | undefined
    const errors: string[] = []
    // A peer on this device first: its view is the one the person at this device expects (the peer
    // found first by mDNS is any peer of the LAN).
    for (const target of await localFirst(client.node, client.targets)) {
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
    process.stdout.write(opts.json ? `${JSON.stringify(snap, null, 2)}\n` : renderStatus(snap))
  } finally {
    await client.close()
  }
}

/** This device's addresses: loopback and every interface's (os.networkInterfaces). */
export function localAddresses (interfaces: ReturnType<typeof networkInterfaces> = networkInterfaces()): Set<string> {
  const out = new Set(['127.0.0.1', '::1'])
  for (const list of Object.values(interfaces)) for (const i of list ?? []) out.add(i.address.toLowerCase())
  return out
}

/** true when one of `addrs` (multiaddrs, as strings) is on this device. */
export function onThisDevice (addrs: string[], local: Set<string> = localAddresses()): boolean {
  return addrs.some(a => {
    const m = /^\/ip[46]\/([^/]+)/.exec(a)
    return m != null && (local.has(m[1].toLowerCase()) || m[1].startsWith('127.'))
  })
}

/**
 * The targets with those on this device first, the others in the order found. A --peer target is its
 * own address; a peer found by mDNS has the addresses it announced in the client's peer store.
 */
export async function localFirst<T extends PeerId | Multiaddr> (node: Pick<Libp2p, 'peerStore'>, targets: T[], local: Set<string> = localAddresses()): Promise<T[]> {
  const here = await Promise.all(targets.map(async (t) => {
    const addrs = isMultiaddr(t) ? [t.toString()] : await node.peerStore.get(t).then(p => p.addresses.map(a => a.multiaddr.toString()), () => [])
    return onThisDevice(addrs, local)
  }))
  return [...targets.filter((_, i) => here[i]), ...targets.filter((_, i) => !here[i])]
}

/** The peer's tile speed: tiles per second, averaged over its last minute (Worker.tileSpeed). */
export function formatTileSpeed (tilesPerSecond: number): string {
  return `${tilesPerSecond >= 10 ? tilesPerSecond.toFixed(0) : tilesPerSecond.toFixed(2)} tiles/s`
}

export function renderStatus (snap: StatusSnapshot): string {
  // The temperature column where some peer reports one (Raspberry Pis do; most PCs in a VM do not).
  const temps = snap.peers.some(p => p.load.tempC != null)
  const table = new Table({ head: ['name', 'PeerId', 'role', 'address', 'arch', 'cores', ...(temps ? ['temp'] : []), 'load', 'tile speed (last min)', 'disk (used / cap)', 'last seen'], ...tableStyle() })
  const rows = [...snap.peers].sort((a, b) => Number(b.alive) - Number(a.alive) || a.name.localeCompare(b.name))
  for (const p of rows) {
    const distrusted = snap.distrusted?.some(d => d.peer === p.peerId) === true
    table.push([p.name + (p.self ? ' *' : ''), p.peerId, roleOf(p, snap) + (distrusted ? ' DISTRUSTED' : ''), addressOf(p), p.arch, p.load.cores, ...(temps ? [p.load.tempC != null ? `${p.load.tempC.toFixed(0)} °C` : '-'] : []), `${p.load.busyTiles} busy / ${p.load.freeSlots} free${p.load.backoff != null ? ` (${p.load.backoff})` : ''}`, formatTileSpeed(p.load.tileSpeed), formatDisk(p.load), lastSeen(p)])
  }
  const alive = snap.peers.filter(p => p.alive).length
  const master = snap.peers.find(p => p.peerId === snap.master)
  const head = `${alive} peer(s) alive; master: ${master != null ? `${master.name} (${master.peerId})` : 'none yet'}, epoch ${snap.epoch}; * = the peer that answered\n`
  const distrusted = (snap.distrusted ?? []).map(d => `DISTRUSTED (gets no tiles): ${d.peer}: ${d.reason}\n`).join('')
  return `${head}${table.toString()}\n${distrusted}`
}

/** A peer's job files against its --max-disk cap, e.g. "12.0 MiB / 2.0 GiB"; "-" from a peer that does not say. */
export function formatDisk (load: { diskUsed?: number, diskMax?: number }): string {
  if (load.diskUsed == null) return '-'
  return `${diskBytes(load.diskUsed)} / ${load.diskMax == null ? 'no cap' : diskBytes(load.diskMax)}`
}

function diskBytes (n: number): string {
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} KiB`
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`
  return `${(n / 1024 ** 3).toFixed(1)} GiB`
}

export function roleOf (p: PeerRow, snap: StatusSnapshot): string {
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

export function lastSeen (p: PeerRow): string {
  if (p.self) return 'now'
  const s = p.lastSeenMsAgo / 1000
  return s < 60 ? `${s.toFixed(1)} s ago` : `${Math.round(s / 60)} min ago`
}
