// `swarm start`'s action: run a peer until Ctrl-C, with a live log of the swarm (options: ../commands/start.ts).
import { totalmem } from 'node:os'
import { masterEligibility } from '../../node/device-profile.ts'
import { SwarmNode } from '../swarm-node.ts'
import { resolveSwarmKey } from '../../node/swarm-key.ts'
import { createLogger } from '../logger.ts'
import type { HostPort } from '../shared-options.ts'
import { DEFAULT_DASHBOARD_HOST, DEFAULT_DASHBOARD_PORT, type DashboardServer } from '../../ui-web/server.ts'
import { loadToken, tokenPath } from '../../ui-web/auth.ts'
import { SwarmMetrics } from '../../ui-web/metrics.ts'
import { Registry } from 'prom-client'
import { mib } from '../../ops/memory-budget.ts'
import { multiaddr } from '@multiformats/multiaddr'
import { multiaddrRefusal } from '../shared-options.ts'

const short = (id: string | null): string => id == null ? '-' : `…${id.slice(-8)}`

/** Each address of a multiaddr option parsed, or the option named in the refusal. */
function checkMultiaddrs (flag: string, values: string[] | undefined): void {
  for (const v of values ?? []) {
    try {
      multiaddr(v)
    } catch (err) {
      throw new Error(multiaddrRefusal(flag, v, (err as Error).message))
    }
  }
}

export interface StartOpts {
  dataDir: string
  port: number
  listen?: string[]
  key?: string
  peer?: string[]
  /** --master / --no-master; undefined: decided from the device (device-profile.ts) */
  master?: boolean
  /** --yield-to-load / --no-yield-to-load; undefined: decided from the device */
  yieldToLoad?: boolean
  mdns: boolean
  name?: string
  slots?: number
  maxMemory?: number
  /** --retain: ms after a finished job's last use, or 'forever'. */
  retain: number | 'forever'
  maxDisk?: number
  tileSize?: number
  masterWorkLimit: number
  verify: number
  heartbeatMs: number
  deadAfterMs: number
  logJson: boolean
  /** undefined: the default address; false: --no-dashboard. */
  dashboard?: HostPort | false
}

export async function start (opts: StartOpts): Promise<void> {
  // Addresses checked before anything else (the data dir is not created for a typo): commander checked
  // their shape (commands/start.ts), this is the full parse, naming the option.
  checkMultiaddrs('--listen', opts.listen)
  checkMultiaddrs('--peer', opts.peer)
  const log = createLogger(opts.logJson)
  const psk = await resolveSwarmKey(opts.key)
  if (psk == null) {
    log.warn({ event: 'open-swarm', private: false }, 'NO SWARM KEY: this swarm is OPEN. Any device on the LAN can join, read the images and inject work. Make a key with `swarm key generate > swarm.key` and start every peer with --key swarm.key.')
  } else {
    log.info({ event: 'private-swarm', private: true }, 'private swarm: only devices with this key can join (every device needs the same --key file)')
  }
  // A Raspberry Pi or a device with little memory works tiles but is not elected master, unless asked.
  const eligibility = masterEligibility(opts.master, { arch: process.arch, totalMem: totalmem() })
  if (!eligibility.eligible) log.info({ event: 'no-master', why: eligibility.why }, `this peer will not be master: ${eligibility.why}`)
  // One registry for the swarm's metrics, Node's and libp2p's: /metrics on the dashboard serves it.
  const registry = opts.dashboard === false ? undefined : new Registry()
  const node = new SwarmNode({
    metricsRegistry: registry,
    dataDir: opts.dataDir,
    listen: opts.listen ?? [`/ip4/0.0.0.0/tcp/${opts.port}`],
    psk,
    mdns: opts.mdns,
    bootstrap: opts.peer,
    eligible: eligibility.eligible,
    yieldToLoad: opts.yieldToLoad,
    name: opts.name,
    slots: opts.slots,
    maxMemory: opts.maxMemory,
    ...(opts.retain === 'forever' ? { retainForever: true } : { retainMs: opts.retain }),
    maxDiskBytes: opts.maxDisk,
    heartbeatMs: opts.heartbeatMs,
    deadAfterMs: opts.deadAfterMs,
    tileSize: opts.tileSize,
    masterWorkLimit: opts.masterWorkLimit,
    verify: opts.verify
  })
  const peer = node.peer
  const myName = peer.opts.name
  // Names of the peers heard, for the lines that only have a PeerId (a peer leaving, the master).
  const names = new Map<string, string>()
  const who = (id: string | null): string => id == null ? '-' : names.has(id) ? `${names.get(id)} (${short(id)})` : short(id)
  // "ready" is said once, when a master is known and the dashboard (if any) listens.
  let masterKnown: string | null = null
  let dashboardUrl: string | false | undefined = opts.dashboard === false ? false : undefined
  let readySaid = false
  const sayReady = (): void => {
    if (readySaid || masterKnown == null || dashboardUrl === undefined) return
    readySaid = true
    log.info({ event: 'ready', master: masterKnown, dashboard: dashboardUrl === false ? null : dashboardUrl }, `ready: submit from any device with \`swarm submit photo.jpg --op grayscale\`${dashboardUrl === false ? '; watch with `swarm top`' : `; dashboard on ${dashboardUrl}`}`)
  }
  node.master.on('log', (l) => {
    log[l.level]({ event: 'queue', ...l.fields }, l.msg)
  })
  // Per tile: only with SWARM_LOG_LEVEL=debug.
  node.master.on('dispatched', (d) => { log.debug({ event: 'dispatched', ...d }, `tile ${d.jobId}/${d.phase}/${d.index} -> ${who(d.peer)}${d.attempt > 1 ? ` (attempt ${d.attempt})` : ''}`) })
  peer.on('started', (e) => {
    names.set(e.peerId, myName)
    log.info({ event: 'started', peerId: e.peerId, name: myName, addrs: e.addrs, epoch: e.epoch, dataDir: opts.dataDir, private: psk != null, maxMemory: node.memory.limit, pid: process.pid }, `this peer is ${myName} (PeerId ${e.peerId}), data in ${opts.dataDir}, memory budget ${mib(node.memory.limit)}; looking for the others${opts.mdns ? ' on the LAN (mDNS)' : ''}${opts.peer != null && opts.peer.length > 0 ? ` at ${opts.peer.join(', ')}` : ''}`)
    for (const a of e.addrs) log.info({ event: 'listening', addr: a }, `listening on ${a}`)
  })
  peer.on('peer:joined', (e) => {
    names.set(e.peerId, e.hb.name)
    log.info({ event: 'peer-joined', peerId: e.peerId, peerName: e.hb.name, arch: e.hb.arch, cores: e.hb.load.cores, role: e.hb.role }, `+ ${e.hb.name} (${short(e.peerId)}) joined: ${e.hb.arch}, ${e.hb.load.cores} cores, ${e.hb.role}`)
  })
  peer.on('peer:left', (e) => { log.info({ event: 'peer-left', peerId: e.peerId, peerName: names.get(e.peerId), reason: e.reason }, `- ${who(e.peerId)} left (${e.reason === 'timeout' ? 'no heartbeat' : 'said goodbye'})`) })
  peer.on('master', (e) => {
    const fields = { event: 'master', master: e.master, masterName: e.master == null ? undefined : names.get(e.master), epoch: e.epoch, self: e.self, previous: e.previous }
    if (e.master == null) log.warn(fields, `master ${who(e.previous)} lost: electing a new one`)
    else if (e.self) log.info(fields, `this peer is now MASTER at epoch ${e.epoch}: it hands out the tiles`)
    else log.info(fields, `master is ${who(e.master)} at epoch ${e.epoch}`)
    masterKnown = e.master
    sayReady()
  })
  peer.on('warning', (e) => { log.warn({ event: 'warning' }, e.message) })
  await node.start()
  const metrics = registry == null ? undefined : new SwarmMetrics({ master: node.master, peer: node.peer, worker: node.worker }, { registry })
  metrics?.start()
  let dashboard: DashboardServer | undefined
  try {
    const served = opts.dashboard === false ? undefined : await serveDashboard(node, opts.dashboard, opts.dataDir, log, metrics)
    dashboard = served?.server
    if (served != null) dashboardUrl = served.shown
  } catch (err) {
    // Said goodbye first: the others see a peer leave, not a crash to wait out.
    await node.stop().catch(() => {})
    throw err
  }
  sayReady()

  let stopping = false
  const shutdown = (signal: string): void => {
    if (stopping) return
    stopping = true
    log.info({ event: 'stopping', signal }, `${signal}: leaving the swarm`)
    void (dashboard?.stop() ?? Promise.resolve()).then(async () => { await node.stop() }).then(() => process.exit(0), () => process.exit(1))
  }
  process.on('SIGINT', () => { shutdown('SIGINT') })
  process.on('SIGTERM', () => { shutdown('SIGTERM') })
}

/**
 * Serves the dashboard. The default port taken (a second peer on this device) falls back to a free one;
 * an address asked for and taken is an error. The token is shown on a terminal only, never logged.
 */
async function serveDashboard (node: SwarmNode, asked: HostPort | undefined, dataDir: string, log: ReturnType<typeof createLogger>, metrics?: SwarmMetrics): Promise<{ server: DashboardServer, shown: string }> {
  const want = asked ?? { host: DEFAULT_DASHBOARD_HOST, port: DEFAULT_DASHBOARD_PORT }
  const token = await loadToken(dataDir)
  let server = node.dashboard({ ...want, token }, metrics)
  let at
  try {
    at = await server.start()
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (asked != null || code !== 'EADDRINUSE') throw new Error(`cannot serve the dashboard on ${want.host}:${want.port}: ${(err as Error).message}${code === 'EADDRINUSE' ? ' (another program has that port: pick another with --dashboard HOST:PORT)' : ''}`)
    server = node.dashboard({ ...want, port: 0, token }, metrics)
    at = await server.start()
    log.warn({ event: 'dashboard-port' }, `port ${want.port} is taken (another peer on this device?): the dashboard is on port ${at.port} instead`)
  }
  const shown = want.host === '0.0.0.0' || want.host === '::' ? at.url.replace(/\/\/[^/]+/, `//<this device's address>:${at.port}`) : at.url
  log.info({ event: 'dashboard', url: at.url, token: server.auth.required }, `dashboard on ${shown}${server.auth.required ? ` (log in with the token in ${tokenPath(dataDir)})` : ''}`)
  if (server.auth.required && process.stderr.isTTY) process.stderr.write(`dashboard token: ${token}\n`)
  return { server, shown }
}
