// `swarm top`'s action: a live view of the swarm, refreshed every --interval ms until q or Ctrl-C
// (options: ../commands/top.ts). Without a terminal, or with --once, one frame and exit 0.
import Table from 'cli-table3'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Libp2p, PeerId } from '@libp2p/interface'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { resolveSwarmKey } from '../../node/swarm-key.ts'
import { fetchJobs, type ClientOptions } from '../../transfer/job-protocol.ts'
import type { JobsReply, JobSummary } from '../../transfer/messages.ts'
import { queryStatus, type StatusSnapshot } from '../../transfer/status.ts'
import { connectWithFeedback } from '../connect.ts'
import { formatDuration, formatMps, jobFigures, tableStyle } from './jobs.ts'
import { formatTileSpeed, lastSeen, localFirst, roleOf } from './status.ts'

export interface TopOpts { key?: string, peer?: string[], interval: number, once: boolean, timeout: number }

/** One look at the swarm: the peer table as one peer sees it, and the master's queue (when there is a master). */
export interface Sample {
  at: number
  snap: StatusSnapshot
  jobs?: JobsReply
  /** Why the queue could not be read (no master yet, the master did not answer). */
  jobsError?: string
}

export interface Rate { tilesPerSecond: number, megapixelsPerSecond: number }

const ESC = '\u001b['
const RUNNING = new Set(['running', 'queued'])

export async function top (opts: TopOpts): Promise<number> {
  const live = opts.once !== true && process.stdout.isTTY === true
  const client = await connectWithFeedback({ psk: await resolveSwarmKey(opts.key), peers: opts.peer, timeoutMs: opts.timeout }, { say: (line) => { console.error(line) } })
  const targets = await localFirst(client.node, client.targets)
  const stop = new AbortController()
  const restore = live ? takeKeys(() => { stop.abort() }) : () => {}
  const onSignal = (): void => { stop.abort() }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  try {
    if (!live) {
      const s = await sample(client.node, targets, opts.timeout, client.signer)
      process.stdout.write(renderTop(s, undefined, { interval: opts.interval, live: false }))
      return 0
    }
    let previous: Sample | undefined
    while (!stop.signal.aborted) {
      let frame: string
      try {
        const s = await sample(client.node, targets, Math.min(opts.timeout, Math.max(1000, opts.interval * 3)), client.signer)
        frame = renderTop(s, previous, { interval: opts.interval, live: true })
        previous = s
      } catch (err) {
        frame = `swarm top: ${(err as Error).message} (trying again)\n`
      }
      // Home, the frame, then clear what the last (longer) frame left below it.
      process.stdout.write(`${ESC}H${frame.replaceAll('\n', `${ESC}K\n`)}${ESC}J`)
      await pause(opts.interval, stop.signal)
    }
    return 0
  } finally {
    process.removeListener('SIGINT', onSignal)
    process.removeListener('SIGTERM', onSignal)
    restore()
    await client.close()
  }
}

/**
 * Raw keys on a terminal: q (or Ctrl-C, which raw mode turns into a byte) quits. The screen is cleared
 * once; what undoes both is returned, and also runs when the process exits some other way.
 */
function takeKeys (quit: () => void): () => void {
  const stdin = process.stdin
  const raw = stdin.isTTY === true
  const onData = (b: Buffer): void => { if (b.includes(0x71) || b.includes(0x51) || b.includes(0x03)) quit() }
  if (raw) {
    stdin.setRawMode(true)
    stdin.on('data', onData)
    stdin.resume()
  }
  process.stdout.write(`${ESC}?25l${ESC}2J${ESC}H`)
  let done = false
  const restore = (): void => {
    if (done) return
    done = true
    if (raw) {
      stdin.removeListener('data', onData)
      stdin.setRawMode(false)
      stdin.pause()
    }
    process.stdout.write(`${ESC}?25h`)
  }
  process.once('exit', restore)
  return restore
}

async function pause (ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return
  await new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms)
    function done (): void { clearTimeout(timer); signal.removeEventListener('abort', done); resolve() }
    signal.addEventListener('abort', done)
  })
}

/** The peer table from the first target that answers (this device's first), and the queue from its master. */
export async function sample (node: Libp2p, targets: Array<PeerId | Multiaddr>, timeoutMs: number, signer?: ClientOptions['signer']): Promise<Sample> {
  const errors: string[] = []
  for (const target of targets) {
    let snap: StatusSnapshot
    try {
      snap = await queryStatus(node, target, timeoutMs)
    } catch (err) {
      errors.push(`${target.toString()}: ${(err as Error).message}`)
      continue
    }
    const at = Date.now()
    if (snap.master == null) return { at, snap, jobsError: 'no master yet (electing one)' }
    try {
      const row = snap.peers.find(p => p.peerId === snap.master)
      const master = peerIdFromString(snap.master)
      if (row != null) await node.peerStore.merge(master, { multiaddrs: row.addrs.map(a => multiaddr(a)) })
      return { at, snap, jobs: await fetchJobs(node, master, 50, { signer }) }
    } catch (err) {
      return { at, snap, jobsError: `the master did not list its queue: ${(err as Error).message}` }
    }
  }
  throw new Error(`no peer answered the status request:\n  ${errors.join('\n  ')}`)
}

/**
 * The swarm's rate between two samples: tiles finished per second, and megapixels per second (each tile
 * its job's width x height x phases / tiles), from the jobs' `done` counts (a job new since: from 0). undefined on the
 * first sample, or when the master changed (another queue's counts).
 */
export function rateBetween (previous: Sample | undefined, current: Sample): Rate | undefined {
  if (previous?.jobs == null || current.jobs == null || previous.jobs.master !== current.jobs.master) return undefined
  const seconds = (current.at - previous.at) / 1000
  if (seconds <= 0) return undefined
  const before = new Map(previous.jobs.jobs.map(j => [j.id, j]))
  let tiles = 0
  let megapixels = 0
  for (const j of current.jobs.jobs) {
    const then = before.get(j.id)
    const delta = j.done - (then?.done ?? 0)
    if (delta <= 0 || j.total <= 0) continue
    tiles += delta
    megapixels += delta * j.width * j.height * j.phaseCount / j.total / 1e6
  }
  return { tilesPerSecond: tiles / seconds, megapixelsPerSecond: megapixels / seconds }
}

export function renderTop (s: Sample, previous: Sample | undefined, opts: { interval: number, live: boolean }): string {
  const { snap } = s
  const alive = snap.peers.filter(p => p.alive)
  const master = snap.peers.find(p => p.peerId === snap.master)
  const inFlight = alive.reduce((n, p) => n + p.load.busyTiles, 0)
  const slots = alive.reduce((n, p) => n + p.load.busyTiles + p.load.freeSlots, 0)
  const rate = rateBetween(previous, s)
  const lines: string[] = []
  lines.push(`swarm top  ${new Date(s.at).toLocaleTimeString()}  ${opts.live ? `every ${formatDuration(opts.interval)}, q to quit` : 'one frame'}`)
  lines.push(`${alive.length} peer(s) alive; master: ${master != null ? `${master.name} (${master.peerId})` : 'none yet'}, epoch ${snap.epoch}`)
  lines.push(`tiles in flight: ${inFlight} of ${slots} slots; throughput: ${rate == null ? (opts.live ? 'measuring (next refresh)' : '- (measured between refreshes: run on a terminal)') : `${rate.tilesPerSecond.toFixed(1)} tiles/s, ${formatMps(rate.megapixelsPerSecond)}`}`)
  const peers = new Table({ head: ['peer', 'role', 'busy/slots', 'tile speed (last min)', 'free memory', 'last seen'], ...tableStyle() })
  const rows = [...snap.peers].sort((a, b) => Number(b.alive) - Number(a.alive) || a.name.localeCompare(b.name))
  for (const p of rows) {
    peers.push([`${p.name}${p.self ? ' *' : ''} (…${p.peerId.slice(-6)})`, roleOf(p, snap), `${p.load.busyTiles}/${p.load.busyTiles + p.load.freeSlots}`, formatTileSpeed(p.load.tileSpeed), formatBytes(p.load.freeMem), lastSeen(p)])
  }
  lines.push(peers.toString())
  if (s.jobs == null) {
    lines.push(`jobs: ${s.jobsError ?? 'unknown'}`)
  } else {
    const active = s.jobs.jobs.filter(j => RUNNING.has(j.state))
    if (active.length === 0) {
      const last = s.jobs.jobs.at(-1)
      lines.push(`no job running${last != null ? `; last: ${last.id} ${last.name} ${last.state}` : ''}`)
    } else {
      const jobs = new Table({ head: ['job', 'image', 'state', 'progress', 'peers', 'elapsed', 'throughput'], ...tableStyle() })
      for (const j of active) jobs.push(jobRow(j, s.at))
      lines.push(jobs.toString())
    }
  }
  lines.push('* = the peer that answered')
  return `${lines.join('\n')}\n`
}

function jobRow (j: JobSummary, now: number): Array<string | number> {
  const f = jobFigures(j, now)
  const pct = j.total > 0 ? Math.floor(100 * j.done / j.total) : 0
  return [j.id, j.name, j.waiting != null ? `${j.state}, waiting: ${j.waiting}`.slice(0, 50) : j.state, `${bar(pct)} ${j.done}/${j.total} (${pct}%)`, f.peerCount, formatDuration(f.durationMs), formatMps(f.megapixelsPerSecond)]
}

function bar (pct: number, width = 10): string {
  const full = Math.round(pct / 100 * width)
  return `[${'#'.repeat(full)}${'.'.repeat(width - full)}]`
}

function formatBytes (n: number): string {
  return n >= 1024 ** 3 ? `${(n / 1024 ** 3).toFixed(1)} GiB` : `${Math.round(n / 1024 ** 2)} MiB`
}
