// `swarm start`: run a peer until Ctrl-C, with a live log of the swarm.
// Registration only: the action (libp2p, libvips, LevelDB, the dashboard) is loaded when the command runs.
import { Option, type Command } from 'commander'
import { DEFAULT_MASTER_WORK_LIMIT, DEFAULT_RETAIN_MS } from '../defaults.ts'
import { DEFAULT_DEAD_AFTER_MS, DEFAULT_HEARTBEAT_MS } from '../../node/defaults.ts'
import { defaultDataDir, diskSize, fraction, hostPort, intInRange, keyOption, memorySize, multiaddrList, nonNegativeInt, peerOption, positiveInt, retention } from '../shared-options.ts'
import { DEFAULT_DASHBOARD_HOST, DEFAULT_DASHBOARD_PORT } from '../../ui-web/defaults.ts'
import { DEFAULT_FREE_SHARE, mib, MIN_MEMORY_BYTES, MAX_TILE_SIZE, MIN_TILE_SIZE } from '../../ops/limits.ts'
import { DEFAULT_VERIFY } from '../../scheduler/defaults.ts'
import type { StartOpts } from '../actions/start.ts'

export function registerStartCommand (program: Command): void {
  program.command('start')
    .description('run a peer: find the others on the LAN, elect a master, take work (until Ctrl-C)')
    // Each default said once: commander adds "(default: x)" to a description itself.
    .addOption(new Option('--data-dir <dir>', 'identity, queue and replicas').default(defaultDataDir(), process.env.SWARM_DATA_DIR != null ? `$SWARM_DATA_DIR, ${defaultDataDir()}` : `${defaultDataDir()}, or $SWARM_DATA_DIR when set`))
    .addOption(new Option('--port <n>', 'TCP port to listen on').argParser(intInRange('--port', 0, 65_535)).default(0, '0, any free port'))
    .addOption(new Option('--listen <multiaddr>', 'listen address(es) instead of --port, e.g. /ip4/0.0.0.0/tcp/4001 (repeatable)').argParser(multiaddrList('--listen')))
    .addOption(keyOption())
    .addOption(peerOption())
    .option('--master', 'may become master even on an arm device or one with under 2 GiB of memory (which by default only take tiles)')
    .option('--no-master', 'never become master (e.g. a slow device); still takes work')
    .option('--yield-to-load', 'take fewer tiles while other work loads this device (default on arm devices and ones under 2 GiB)')
    .option('--no-yield-to-load', 'never take fewer tiles for other work on this device (still for heat)')
    .option('--no-mdns', 'do not use multicast discovery (use --peer)')
    .option('--name <name>', 'the name shown in `swarm status` (default: the host name)')
    .option('--slots <n>', 'tiles this peer works on at once (default: its number of cores)', positiveInt('--slots'))
    .option('--max-memory <size>', `the memory (resident set) this peer may grow to, e.g. 512M or 2G; tiles it has no room for go to other peers (default: ${DEFAULT_FREE_SHARE * 100}% of the memory free at start, at least ${mib(MIN_MEMORY_BYTES)})`, memorySize('--max-memory'))
    .option('--retain <age>', 'keep a finished job\'s files (input, output) this long after its last use: 30m, 12h, 7d; 0 = remove once it is safe; forever = keep (the job\'s record stays either way)', retention('--retain'), DEFAULT_RETAIN_MS)
    .option('--max-disk <size>', 'cap this peer\'s job files at this size, e.g. 500MB or 2GiB: past it, finished jobs\' files go least recently used first (default: no cap)', diskSize('--max-disk'))
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
  swarm start --max-disk 2GiB --retain 1d      a small disk: results kept a day, 2 GiB at most
  (a running job, or a done one whose output is not yet on the master and a standby, is never removed;
   swarm gc runs the clean-up now)
  swarm start --dashboard 0.0.0.0:7070         the dashboard for every device on the LAN (asks for the token)
  swarm start --verify 1                       every tile computed twice (a swarm you do not fully trust)
  swarm start --peer /ip4/10.0.0.5/tcp/4001/p2p/12D3Koo...   no multicast on this network`)
    .action(async (opts: StartOpts) => { const { start } = await import('../actions/start.ts'); await start(opts) })
}
