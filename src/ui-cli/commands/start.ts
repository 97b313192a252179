// `swarm start`: run a peer until Ctrl-C, with a live log of the swarm.
import { Option, type Command } from 'commander'
import { DEFAULT_MASTER_WORK_LIMIT, SwarmNode } from '../swarm-node.ts'
import { DEFAULT_DEAD_AFTER_MS, DEFAULT_HEARTBEAT_MS } from '../../node/peer-options.ts'
import { resolveSwarmKey } from '../../node/swarm-key.ts'
import { createLogger } from '../logger.ts'
import { defaultDataDir, fraction, hostPort, intInRange, keyOption, memorySize, nonNegativeInt, peerOption, positiveInt, type HostPort } from '../shared-options.ts'
import { DEFAULT_DASHBOARD_HOST, DEFAULT_DASHBOARD_PORT, type DashboardServer } from '../../ui-web/server.ts'
import { loadToken, tokenPath } from '../../ui-web/auth.ts'
import { SwarmMetrics } from '../../ui-web/metrics.ts'
import { Registry } from 'prom-client'
import { DEFAULT_FREE_SHARE, mib, MIN_MEMORY_BYTES } from '../../ops/memory-budget.ts'
import { MAX_TILE_SIZE, MIN_TILE_SIZE } from '../../ops/tiling.ts'
import { DEFAULT_VERIFY } from '../../scheduler/master-planner.ts'

const short = (id: string | null): string => id == null ? '-' : `…${id.slice(-8)}`

interface StartOpts {
  dataDir: string
  port: number
  listen?: string[]
  key?: string
  peer?: string[]
  master: boolean
  mdns: boolean
  name?: string
  slots?: number
  maxMemory?: number
  tileSize?: number
  masterWorkLimit: number
  verify: number
  heartbeatMs: number
  deadAfterMs: number
  logJson: boolean
  /** undefined: the default address; false: --no-dashboard. */
  dashboard?: HostPort | false
}

export function registerStartCommand (program: Command): void {
  program.command('start')
    .description('run a peer: find the others on the LAN, elect a master, take work (until Ctrl-C)')
    .option('--data-dir <dir>', 'identity, queue and replicas (default: $SWARM_DATA_DIR or the user data dir)', defaultDataDir())
    .option('--port <n>', 'TCP port to listen on (0 = any free port)', intInRange('--port', 0, 65_535), 0)
    .addOption(new Option('--listen <multiaddr>', 'listen address(es) instead of --port (repeatable)').argParser((v: string, p: string[] = []) => [...p, v]))
    .addOption(keyOption())
    .addOption(peerOption())
    .option('--no-master', 'never become master (e.g. a slow device); still takes work')
    .option('--no-mdns', 'do not use multicast discovery (use --peer)')
    .option('--name <name>', 'the name shown in `swarm status` (default: the host name)')
    .option('--slots <n>', 'tiles this peer works on at once (default: its number of cores)', positiveInt('--slots'))
    .option('--max-memory <size>', `the memory (resident set) this peer may grow to, e.g. 512M or 2G; tiles it has no room for go to other peers (default: ${DEFAULT_FREE_SHARE * 100}% of the memory free at start, at least ${mib(MIN_MEMORY_BYTES)})`, memorySize('--max-memory'))
    .option('--tile-size <px>', 'tile edge for jobs that do not choose one, when this peer is master (default: about 8 tiles per slot of the swarm, 512 to 2048)', intInRange('--tile-size', MIN_TILE_SIZE, MAX_TILE_SIZE))
    .option('--master-work-limit <n>', 'as master, work tiles too only while fewer than n other peers take tiles (0 = never)', nonNegativeInt('--master-work-limit'), DEFAULT_MASTER_WORK_LIMIT)
    .option('--verify <fraction>', 'as master, the share of tiles a second peer computes again; a peer whose result is outvoted gets no more tiles (1 = every tile, 0 = none)', fraction('--verify'), DEFAULT_VERIFY)
    .option('--heartbeat-ms <ms>', 'heartbeat interval', positiveInt('--heartbeat-ms'), DEFAULT_HEARTBEAT_MS)
    .option('--dead-after-ms <ms>', 'a peer silent this long is dead', positiveInt('--dead-after-ms'), DEFAULT_DEAD_AFTER_MS)
    .option('--dashboard <host:port>', `serve the web dashboard there (default ${DEFAULT_DASHBOARD_HOST}:${DEFAULT_DASHBOARD_PORT}, this device only; 0.0.0.0:${DEFAULT_DASHBOARD_PORT} serves the LAN, with a token)`, hostPort('--dashboard', DEFAULT_DASHBOARD_HOST))
    .option('--no-dashboard', 'serve no web dashboard')
    .option('--log-json', 'log JSON lines instead of text', false)
    .addHelpText('after', `
Examples:
  swarm start                                  join (or form) the swarm on this LAN
  swarm key generate > swarm.key               make a key, copy it to every device, then:
  swarm start --key swarm.key                  only devices with the key can connect
  swarm start --no-master --slots 1            a Raspberry Pi that works but never leads
  swarm start --max-memory 600M                a device that must keep memory for other things
  swarm start --dashboard 0.0.0.0:7070         the dashboard for every device on the LAN (asks for the token)
  swarm start --verify 1                       every tile computed twice (a swarm you do not fully trust)
  swarm start --peer /ip4/10.0.0.5/tcp/4001/p2p/12D3Koo...   no multicast on this network`)
    .action(async (opts: StartOpts) => { await start(opts) })
}

async function start (opts: StartOpts): Promise<void> {
  const log = createLogger(opts.logJson)
  const psk = await resolveSwarmKey(opts.key)
  if (psk == null) {
    log.warn({ event: 'open-swarm' }, 'NO SWARM KEY: this swarm is OPEN. Any device on the LAN can join, read the images and inject work. Make a key with `swarm key generate > swarm.key` and start every peer with --key swarm.key.')
  }
  // One registry for the swarm's metrics, Node's and libp2p's: /metrics on the dashboard serves it.
  const registry = opts.dashboard === false ? undefined : new Registry()
  const node = new SwarmNode({
    metricsRegistry: registry,
    dataDir: opts.dataDir,
    listen: opts.listen ?? [`/ip4/0.0.0.0/tcp/${opts.port}`],
    psk,
    mdns: opts.mdns,
    bootstrap: opts.peer,
    eligible: opts.master,
    name: opts.name,
    slots: opts.slots,
    maxMemory: opts.maxMemory,
    heartbeatMs: opts.heartbeatMs,
    deadAfterMs: opts.deadAfterMs,
    tileSize: opts.tileSize,
    masterWorkLimit: opts.masterWorkLimit,
    verify: opts.verify
  })
  const peer = node.peer
  node.master.on('log', (l) => { log[l.level]({ event: 'queue', ...l.fields }, l.msg) })
  // Per tile: only with SWARM_LOG_LEVEL=debug.
  node.master.on('dispatched', (d) => { log.debug({ event: 'dispatched', ...d }, `tile ${d.jobId}/${d.phase}/${d.index} -> ${short(d.peer)}${d.attempt > 1 ? ` (attempt ${d.attempt})` : ''}`) })
  peer.on('started', (e) => {
    log.info({ event: 'started', peerId: e.peerId, addrs: e.addrs, epoch: e.epoch, dataDir: opts.dataDir, private: psk != null, maxMemory: node.memory.limit, pid: process.pid }, `peer ${e.peerId} started (data in ${opts.dataDir}, memory budget ${mib(node.memory.limit)})`)
    for (const a of e.addrs) log.info({ event: 'listening', addr: a }, `listening on ${a}`)
  })
  peer.on('peer:joined', (e) => { log.info({ event: 'peer-joined', peerId: e.peerId, peerName: e.hb.name, arch: e.hb.arch, cores: e.hb.load.cores }, `+ ${e.hb.name} (${short(e.peerId)}) joined: ${e.hb.arch}, ${e.hb.load.cores} cores, ${e.hb.role}`) })
  peer.on('peer:left', (e) => { log.info({ event: 'peer-left', peerId: e.peerId, reason: e.reason }, `- ${short(e.peerId)} left (${e.reason === 'timeout' ? 'no heartbeat' : 'said goodbye'})`) })
  peer.on('master', (e) => {
    const fields = { event: 'master', master: e.master, epoch: e.epoch, self: e.self, previous: e.previous }
    if (e.master == null) log.warn(fields, `master ${short(e.previous)} lost: electing a new one`)
    else if (e.self) log.info(fields, `this peer is now MASTER at epoch ${e.epoch}`)
    else log.info(fields, `master is ${short(e.master)} at epoch ${e.epoch}`)
  })
  peer.on('warning', (e) => { log.warn({ event: 'warning' }, e.message) })
  await node.start()
  const metrics = registry == null ? undefined : new SwarmMetrics({ master: node.master, peer: node.peer, worker: node.worker }, { registry })
  metrics?.start()
  let dashboard: DashboardServer | undefined
  try {
    dashboard = opts.dashboard === false ? undefined : await serveDashboard(node, opts.dashboard, opts.dataDir, log, metrics)
  } catch (err) {
    // Said goodbye first: the others see a peer leave, not a crash to wait out.
    await node.stop().catch(() => {})
    throw err
  }

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
async function serveDashboard (node: SwarmNode, asked: HostPort | undefined, dataDir: string, log: ReturnType<typeof createLogger>, metrics?: SwarmMetrics): Promise<DashboardServer> {
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
  return server
}
