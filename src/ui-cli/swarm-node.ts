// A whole swarm peer: membership and election (SwarmPeer), the worker every peer is, and the master
// runtime that wakes up when this peer is elected. `swarm start` and the test harness both use this.
// It wires the protocol services to what decides for them (the worker, the master, the job service):
// each starts once the libp2p node is up and stops, unregistering its handler, when the peer stops.
import { AccountService } from '../scheduler/account-service.ts'
import { PeerPressure } from '../node/peer-pressure.ts'
import { yieldsToLoad } from '../node/device-profile.ts'
import { askUsers, UsersProtocolService } from '../transfer/users-protocol.ts'
import { DeviceKey } from '../transfer/request-auth.ts'
import { availableParallelism, freemem, totalmem } from 'node:os'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import type { ConnectionGater } from '@libp2p/interface'
import { DEFAULT_MAX_PIXELS } from '../ops/index.ts'
import { defaultMemoryLimit, MemoryBudget } from '../ops/memory-budget.ts'
import { JobService } from '../scheduler/job-service.ts'
import { tileName } from '../scheduler/job-files.ts'
import { MasterRuntime, type MasterOptions } from '../scheduler/master.ts'
import { DEFAULT_VERIFY } from '../scheduler/master-planner.ts'
import { blockedPeers, getJob, listJobs, queuePosition } from '../scheduler/queue-machine.ts'
import { QueueStore } from '../scheduler/queue-store.ts'
import { WorkerRuntime, type WorkerOptions } from '../scheduler/worker.ts'
import { DiskKeeper, type GcReport, type JobOnDisk } from '../scheduler/disk-keeper.ts'
import type { DiskJobState } from '../scheduler/disk-policy.ts'
import { extensionOf } from '../scheduler/master.ts'
import type { Timer } from '../transfer/clock.ts'
import { SwarmPeer, type PeerOptions } from '../node/peer.ts'
import { peerIdFromString } from '@libp2p/peer-id'
import { BlobService } from '../transfer/blob.ts'
import { systemClock, type Clock } from '../transfer/clock.ts'
import { JobProtocolService } from '../transfer/job-protocol.ts'
import { TileDoneService, type TileNotice } from '../transfer/tile-done.ts'
import { TileService } from '../transfer/tile-protocol.ts'
import { handOver, HandoverService } from '../transfer/handover-protocol.ts'
import { QueueReplica } from '../scheduler/replica.ts'
import { ReplicationSink } from '../scheduler/replication.ts'
import type { JobMeta } from '../scheduler/master.ts'
import { HttpTunnelService } from '../transfer/http-tunnel.ts'
import { GcService } from '../transfer/gc-protocol.ts'
import { clearUploads, MasterApi, uploadDirOf } from '../ui-web/master-api.ts'
import { DashboardServer, type DashboardComponents, type DashboardInit } from '../ui-web/server.ts'
import { DEFAULT_MASTER_WORK_LIMIT, DEFAULT_RETAIN_MS } from './defaults.ts'

export interface SwarmNodeOptions extends PeerOptions {
  /** Tile edge in pixels, for jobs that do not choose one (default: fitted to the image and the swarm). */
  tileSize?: number
  leaseMs?: number
  maxLeaseMs?: number
  maxAttempts?: number
  prefetch?: number
  maxInputBytes?: number
  maxPixels?: number
  /** Peers that keep a copy of each job's input and results (default 1). */
  standbys?: number
  /** As master, work tiles only while fewer than this many other peers offer slots (default 4). */
  masterWorkLimit?: number
  /** As master, the share of tiles a second peer computes again to check the first (default DEFAULT_VERIFY). */
  verify?: number
  /** The resident memory this peer may grow to, in bytes (default: defaultMemoryLimit of the free memory at start). */
  maxMemory?: number
  /** Tests: outputs up to this many bytes are stitched in memory, larger ones on disk. */
  stitchInMemoryMaxBytes?: number
  /** Tests only: a worker that corrupts its results. */
  tamper?: WorkerOptions['tamper']
  /** The worker's and the protocol services' clock (default: the system's). */
  clock?: Clock
  /** A finished job's files are removed this long after their last use (default DEFAULT_RETAIN_MS; undefined with retainForever). */
  retainMs?: number
  /** Keep finished jobs' files for ever (retention off; --max-disk still applies). */
  retainForever?: boolean
  /** The cap on this peer's job files, in bytes (default: none). */
  maxDiskBytes?: number
  /** Between the disk keeper's passes (default DISK_PASS_MS); a pass also follows every job's end. */
  diskPassMs?: number
  /** Where the device's thermal zones are (default $SWARM_THERMAL_DIR, else /sys/class/thermal): a hot peer takes no new tiles. */
  thermalDir?: string
  /** Offer fewer slots while other work loads the device (default: on arm devices and ones under 2 GiB). */
  yieldToLoad?: boolean
}

/**
 * Between disk passes: retention is counted in hours and days, and the cap is also enforced after every
 * job's end, so a minute's walk of the data dir is enough and costs nothing.
 */
export const DISK_PASS_MS = 60_000

// In defaults.ts, which imports nothing: `swarm start --help` prints it.
export { DEFAULT_MASTER_WORK_LIMIT, DEFAULT_RETAIN_MS } from './defaults.ts'
/**
 * V8's full collection, for the memory budget (see BudgetProbe.collect): node's --expose-gc, switched on
 * here rather than on every peer's command line; undefined if this V8 does not allow it.
 */
function fullCollection (): (() => void) | undefined {
  try {
    setFlagsFromString('--expose-gc')
    const gc = runInNewContext('gc') as unknown
    return typeof gc === 'function' ? gc as () => void : undefined
  } catch {
    return undefined
  }
}

/** Job ids knowsJob remembers: far more than a swarm runs at once; past it the memory starts again. */
const MAX_KNOWN_JOBS = 10_000

/** The protocol services a peer runs besides SwarmPeer's own (status, gossip) and replication. */
interface Services {
  tiles: TileService
  tileDone: TileDoneService
  jobs: JobProtocolService
  handover: HandoverService
  blobs: BlobService
  /** The dashboard API's master part, for dashboards on the other peers. */
  tunnel: HttpTunnelService
  /** Accounts: swarm user, swarm login, the dashboard's login. */
  users: UsersProtocolService
  /** swarm gc: this peer's disk pass now, and the other peers' when asked for all. */
  gc: GcService
}

export class SwarmNode {
  readonly peer: SwarmPeer
  readonly worker: WorkerRuntime
  readonly master: MasterRuntime
  readonly memory: MemoryBudget
  private readonly clock: Clock
  private sink?: ReplicationSink
  private replica?: QueueReplica
  private readonly knownJobs = new Set<string>()
  private services?: Services
  private accounts?: AccountService
  private masterApi?: MasterApi
  private readonly dataDir: string
  /** Drops asked for jobs not yet done in this peer's replica. */
  private readonly pendingDrops = new Set<string>()
  /** Role changes run one at a time: the replica and the queue share one sublevel. */
  private roleChain: Promise<void> = Promise.resolve()
  readonly disk: DiskKeeper
  /** Jobs a master told this peer to drop (their output is stored on it and a standby): their files may go. */
  private readonly released = new Set<string>()
  private diskTimer?: Timer
  private diskPending = false
  private diskChain: Promise<unknown> = Promise.resolve()
  private readonly diskPassMs: number

  constructor (opts: SwarmNodeOptions) {
    const slots = opts.slots ?? availableParallelism()
    this.clock = opts.clock ?? systemClock
    this.dataDir = opts.dataDir
    this.peer = new SwarmPeer({ ...opts, slots })
    this.memory = new MemoryBudget(opts.maxMemory ?? defaultMemoryLimit(freemem()), { rss: () => process.memoryUsage.rss(), collect: fullCollection(), now: () => this.clock.now() })
    this.worker = new WorkerRuntime({
      slots,
      memory: this.memory,
      clock: this.clock,
      epoch: () => this.peer.epoch,
      tamper: opts.tamper,
      keep: async (req, result) => {
        // Not kept for a job this peer does not know (one a keyed peer made up): its files would stay.
        await this.mustKnow(req.jobId)
        if ('stats' in result) await this.master.files.writeStats(req.jobId, req.phase, req.index, result.stats)
        else await this.master.files.writeTile(req.jobId, req.index, result.image)
      },
      fetchInput: async (req) => {
        // Refused as input-unavailable (a real master retries; this peer's replica may be a moment behind).
        await this.mustKnow(req.jobId)
        return await this.master.fetchInput(req.jobId, req.source?.holders ?? [], req.source?.sha256 ?? '')
      },
      maxPixels: opts.maxPixels ?? DEFAULT_MAX_PIXELS,
      copy: async (req, peers) => await this.master.copyKept(req.jobId, peers, tileName(req.index), req.epoch),
      master: () => this.peer.master,
      notify: async (notice) => await this.notifyMaster(notice)
    })
    const masterOpts: MasterOptions = {
      dataDir: opts.dataDir,
      tileSize: opts.tileSize,
      leaseMs: opts.leaseMs ?? 10_000,
      maxLeaseMs: opts.maxLeaseMs,
      maxAttempts: opts.maxAttempts ?? 3,
      prefetch: opts.prefetch ?? 1,
      maxInputBytes: opts.maxInputBytes ?? 2 * 1024 ** 3,
      maxPixels: opts.maxPixels ?? DEFAULT_MAX_PIXELS,
      standbys: opts.standbys ?? 1,
      masterWorkLimit: opts.masterWorkLimit ?? DEFAULT_MASTER_WORK_LIMIT,
      verify: opts.verify ?? DEFAULT_VERIFY,
      stitchInMemoryMaxBytes: opts.stitchInMemoryMaxBytes,
      memory: this.memory
    }
    this.master = new MasterRuntime(this.peer, this.worker, masterOpts)
    this.diskPassMs = opts.diskPassMs ?? DISK_PASS_MS
    this.disk = new DiskKeeper({
      files: this.master.files,
      retainMs: opts.retainForever === true ? undefined : (opts.retainMs ?? DEFAULT_RETAIN_MS),
      maxDiskBytes: opts.maxDiskBytes,
      now: () => this.clock.now(),
      jobs: async () => await this.jobsOnDisk(),
      evictable: async (jobId, job) => await this.evictable(jobId, job),
      release: async (jobId, job) => await this.release(jobId, job),
      log: (level, msg) => { this.master.emit('log', { level, msg }) }
    })
    // A job's end is when its files grow last: the cap is checked then, not only on the timer.
    this.master.on('job', (e) => { if (e.type === 'result' || e.type === 'failed') this.kickDisk() })
    const cores = availableParallelism()
    this.peer.distrustedProvider = () => {
      const q = this.master.queue
      return this.master.active && q != null ? blockedPeers(q.state) : []
    }
    // A hot device, or one busy with other work, offers fewer slots (device-profile.ts); said once per change.
    const pressure = new PeerPressure({ cores, thermalDir: opts.thermalDir ?? process.env.SWARM_THERMAL_DIR, yieldToLoad: yieldsToLoad(opts.yieldToLoad, { arch: process.arch, totalMem: totalmem() }) })
    let heldBack: string | undefined
    const offer = (): number => {
      const o = pressure.offer(Math.max(0, slots - this.worker.busy), this.worker.busy)
      if (o.reason !== heldBack) this.master.emit('log', { level: o.reason != null ? 'warn' : 'info', msg: o.reason != null ? `taking fewer tiles: ${o.reason}` : 'taking tiles again at full slots' })
      heldBack = o.reason
      return o.freeSlots
    }
    this.peer.loadProvider = () => ({
      cores,
      freeSlots: offer(),
      ...(pressure.tempC != null ? { tempC: Math.round(pressure.tempC * 10) / 10 } : {}),
      ...(heldBack != null ? { backoff: heldBack } : {}),
      busyTiles: this.worker.busy,
      // What work may still take here: the budget's room, or the device's free memory if that is less.
      freeMem: Math.min(freemem(), this.memory.headroom()),
      memoryLimit: this.memory.limit,
      tileSpeed: this.worker.tileSpeed(),
      diskUsed: this.disk.usedBytes,
      ...(this.disk.opts.maxDiskBytes != null ? { diskMax: this.disk.opts.maxDiskBytes } : {})
    })
    this.peer.on('master', (e) => {
      this.roleChain = this.roleChain.then(async () => {
        if (e.self) {
          await this.sink?.stop()
          await this.master.activate(e.epoch)
          return
        }
        if (this.master.active) await this.master.deactivate()
        if (e.master == null) await this.sink?.stop()
        else await this.sink?.follow(peerIdFromString(e.master))
      }).then(() => {
        // A new master (this peer included) learns which of the old master's leases this worker holds.
        if (e.master != null) void this.worker.reportHolding()
      }).catch((err: Error) => { this.master.emit('log', { level: 'warn', msg: `role change failed: ${err.message}` }) })
    })
    this.peer.on('peer:left', (e) => { void this.master.peerDead(e.peerId) })
    this.peer.on('peer:joined', () => { void this.master.refreshPeers() })
  }

  get peerId (): string { return this.peer.peerId }

  /** Rejects for a job neither this peer's queue nor its replica holds: nothing is stored for it here. */
  private async mustKnow (jobId: string): Promise<void> {
    if (!await this.knowsJob(jobId)) throw new Error(`job ${jobId} is not in this peer's queue`)
  }

  /**
   * Whether this peer's queue (as master) or its replica of the master's holds the job. A job once found
   * is remembered (the replica is read by a scan of its job records, and every tile of a job asks).
   */
  private async knowsJob (jobId: string): Promise<boolean> {
    if (this.knownJobs.has(jobId)) return true
    const q = this.master.active ? this.master.queue : undefined
    const known = q != null ? getJob(q.state, jobId) != null : (await this.replica?.job(jobId)) != null
    if (known) {
      if (this.knownJobs.size >= MAX_KNOWN_JOBS) this.knownJobs.clear()
      this.knownJobs.add(jobId)
    }
    return known
  }

  async start (gater?: ConnectionGater): Promise<void> {
    await this.peer.start(gater)
    // How much of the queue this peer holds decides who takes over: a restarted master with the
    // queue on its disk is preferred to a peer with none.
    const stored = await QueueStore.open({ db: this.peer.store, sublevel: 'queue' })
    let storedPos = queuePosition(stored.state)
    await stored.close()
    this.peer.replicaPosProvider = () => {
      const q = this.master.queue
      if (q != null) storedPos = queuePosition(q.state)
      return storedPos
    }
    const libp2p = this.peer.libp2p
    const clock = this.clock
    const replica = new QueueReplica(this.peer.store)
    this.replica = replica
    const jobs = new JobService({ master: this.master, masterId: () => this.peer.master, selfId: () => this.peer.peerId, clock, used: (jobId) => { this.disk.touch(jobId) } })
    await clearUploads(this.dataDir)
    const masterApi = this.masterApi = new MasterApi({ master: this.master, jobs, peerNames: () => this.peerNames(), clock, uploadDir: uploadDirOf(this.dataDir) })
    masterApi.start()
    const accounts = this.accounts = new AccountService({
      queue: () => this.master.queue?.state,
      step: async (event) => await this.master.step(event),
      replicated: async () => await this.master.queueOnStandby(this.master.livePeers()),
      identify: (protocol, request) => jobs.identify(protocol, request),
      clock
    })
    this.services = {
      tiles: new TileService({ libp2p }, { handler: this.worker, clock }),
      tileDone: new TileDoneService({ libp2p }, { onNotice: async (n, from) => await this.master.onTileNotice(n, from), clock }),
      jobs: new JobProtocolService({ libp2p }, { handler: jobs, clock }),
      handover: new HandoverService({ libp2p }, { handler: jobs, clock }),
      blobs: new BlobService({ libp2p }, { files: this.master.files, epoch: () => this.peer.epoch, onDrop: async (jobId) => { await this.onDrop(jobId, replica) }, master: () => this.peer.master, knows: async (jobId) => await this.knowsJob(jobId), onRefused: (message) => { this.master.emit('log', { level: 'warn', msg: message }) }, clock }),
      tunnel: new HttpTunnelService({ libp2p }, { fetch: masterApi.fetch, clock }),
      users: new UsersProtocolService({ libp2p }, { handler: { serving: () => jobs.serving(), masterId: () => this.peer.master, handle: async (req) => await accounts.handle(req) }, clock }),
      gc: new GcService({ libp2p }, {
        clock,
        handler: {
          self: this.peer.peerId,
          gc: async () => await this.gc(),
          others: () => this.peer.liveView().map(hb => hb.peerId).filter(p => p !== this.peer.peerId).map(p => peerIdFromString(p))
        }
      })
    }
    for (const service of Object.values(this.services)) await service.start()
    await this.master.replication.start({ libp2p })
    this.sink = new ReplicationSink(this.peer.libp2p, replica, () => this.peer.epoch, {
      position: (pos) => { storedPos = pos },
      handover: async (missing, master) => await this.handOver(missing, master),
      finished: (jobId) => {
        if (this.pendingDrops.delete(jobId)) void this.master.files.dropTiles(jobId).catch(() => {})
        this.kickDisk()
      },
      retired: () => { this.kickDisk() },
      forgotten: (jobId) => {
        this.pendingDrops.delete(jobId)
        this.released.delete(jobId)
        this.knownJobs.delete(jobId)
        this.worker.forget(jobId)
        void this.master.files.remove(jobId).catch(() => {})
      },
      log: (msg) => { this.master.emit('log', { level: 'warn', msg }) }
    }, clock)
    this.diskTimer = clock.every(this.diskPassMs, () => { this.kickDisk() })
    this.kickDisk()
  }

  /** A disk pass soon: one at a time, and one asked for during a pass runs after it (it may have measured too early). */
  private kickDisk (): void {
    if (this.diskPending) return
    this.diskPending = true
    this.diskChain = this.diskChain.then(async () => {
      this.diskPending = false
      await this.disk.run()
    }).catch((err: Error) => { this.master.emit('log', { level: 'warn', msg: `disk pass failed: ${err.message}` }) })
  }

  /** `swarm gc` on this peer: a pass now, after any that is running; its report. */
  async gc (): Promise<GcReport> {
    await this.diskChain
    return await this.disk.run()
  }

  /** The jobs as this peer knows them: its queue as master, else its replica of the master's. */
  private async jobsOnDisk (): Promise<Map<string, JobOnDisk & { meta?: unknown }>> {
    const out = new Map<string, JobOnDisk & { meta?: unknown }>()
    const q = this.master.active ? this.master.queue : undefined
    const rows: Array<{ id: string, state?: string, finishedAt?: number, removedAt?: number, meta?: unknown }> = q != null ? listJobs(q.state) : await this.replica?.jobs() ?? []
    for (const j of rows) {
      if (j.state == null) continue
      out.set(j.id, { state: j.state as DiskJobState, finishedAt: j.finishedAt, removedAt: j.removedAt, meta: j.meta })
    }
    return out
  }

  /**
   * Whether a finished job's files may leave this peer. Failed and cancelled: yes (nothing to deliver). Done:
   * once its output is stored on the master and a standby, as this peer can know it: as master, it saw the
   * copy made (isSecured); as a follower, it holds the output itself (only a master writes outputs, and it
   * stores its own first), or the master told it to drop the job (sent only once a second copy exists), or
   * the master has given the job up (removedAt). Never a queued or running job.
   */
  private async evictable (jobId: string, job: JobOnDisk & { meta?: unknown }): Promise<boolean> {
    if (job.state === 'failed' || job.state === 'cancelled') return true
    if (job.state !== 'done') return false
    if (job.removedAt != null) return true
    if (this.master.active) return this.master.isSecured(jobId)
    if (this.released.has(jobId)) return true
    const format = (job.meta as JobMeta | undefined)?.format
    return format != null && await this.master.files.has(jobId, `output.${extensionOf(format)}`)
  }

  /** Before a job's files go: the master records a done job's retirement first, so no peer waits for them. */
  private async release (jobId: string, job: JobOnDisk): Promise<boolean> {
    this.released.delete(jobId)
    this.knownJobs.delete(jobId)
    if (job.state === 'done' && job.removedAt == null && this.master.active) return await this.master.retire(jobId)
    this.worker.forget(jobId)
    return true
  }

  /** Names of the peers this peer knows, by PeerId (for the dashboard). */
  private peerNames (): Record<string, string> {
    return Object.fromEntries(this.peer.snapshot().peers.map(p => [p.peerId, p.name]))
  }

  /** This peer's web dashboard, not yet listening (start() it); after start(). */
  dashboard (init: DashboardInit, metrics?: DashboardComponents['metrics']): DashboardServer {
    const api = this.masterApi
    if (api == null) throw new Error('the peer is not started')
    return new DashboardServer({ peer: this.peer, libp2p: () => this.peer.libp2p, masterFetch: api.fetch, metrics, clock: this.clock, login: async (name, password) => await this.login(name, password) }, init)
  }

  /** A dashboard login: the master checks the password and adds a key made here for the session. */
  private async login (name: string, password: string): Promise<DeviceKey> {
    const master = this.peer.master
    if (master == null) throw new Error('the swarm has no master right now (electing one); try again in a few seconds')
    const key = DeviceKey.generate(name)
    const req = { op: 'login' as const, name, password, key: key.publicKey }
    if (master === this.peer.peerId) await this.accounts!.handle(req)
    else await askUsers(this.peer.libp2p, peerIdFromString(master), req, { clock: this.clock })
    return key
  }

  /**
   * A master says a job's output is stored, so copies of its input and tiles may go. Only when this
   * peer's own queue says the job is done: two masters may briefly coexist (a partition), and the
   * loser's word must not delete what the winner still needs. Otherwise the drop waits for the
   * replicated log to say done.
   */
  private async onDrop (jobId: string, replica: QueueReplica): Promise<void> {
    this.worker.forget(jobId)
    this.released.add(jobId)
    if (this.master.active) return // a master drops its own copies when it has stored the output
    const job = await replica.job(jobId)
    if (job?.state === 'done') await this.master.files.dropTiles(jobId)
    else this.pendingDrops.add(jobId)
  }

  /** Jobs this peer knows and the new master does not (a healed partition): give them over. */
  private async handOver (missing: Array<[string, unknown]>, master: ReturnType<typeof peerIdFromString>): Promise<{ failed: number, taken: string[] }> {
    let failed = 0
    const taken: string[] = []
    for (const [, value] of missing) {
      const job = value as { id: string, state: string, meta?: JobMeta }
      if (job.meta == null || job.state === 'failed' || job.state === 'cancelled') continue
      if (!await this.master.files.has(job.id, 'input')) continue // a peer that has the input hands it over
      try {
        const input = await this.master.files.readBlob(job.id, 'input')
        if (await handOver(this.peer.libp2p, master, job.id, job.meta, input, this.clock)) this.master.emit('log', { level: 'info', msg: `handed job ${job.id} over to the new master` })
        taken.push(job.id)
      } catch (err) {
        failed++
        this.master.emit('log', { level: 'warn', msg: `cannot hand job ${job.id} over yet: ${(err as Error).message}` })
      }
    }
    return { failed, taken }
  }

  /** A notice for the master this peer follows; its own master runtime when that is this peer. */
  private async notifyMaster (notice: TileNotice): Promise<boolean> {
    const master = this.peer.master
    if (master == null) throw new Error('no master to tell')
    if (master === this.peer.peerId) return await this.master.onTileNotice(notice, this.peer.peerId)
    if (this.services == null) throw new Error('not started')
    return await this.services.tileDone.send(peerIdFromString(master), notice)
  }

  /** Graceful: says goodbye, finishes nothing new. */
  async stop (): Promise<void> {
    // Out of the election first: the rest of the shutdown must not be interrupted by becoming master.
    this.peer.beginLeave()
    this.diskTimer?.cancel()
    await this.diskChain.catch(() => {})
    // No new tiles, notices or jobs first; copies are served until the node goes (a new master may want them).
    const s = this.services
    for (const service of s == null ? [] : [s.tiles, s.tileDone, s.jobs, s.handover, s.tunnel, s.gc]) await service.stop().catch(() => {})
    this.masterApi?.stop()
    await this.sink?.stop()
    await this.master.deactivate()
    await this.master.replication.stop().catch(() => {})
    await s?.blobs.stop().catch(() => {})
    await this.peer.stop()
    await this.worker.close()
  }

  /** As if the process died: no goodbye, nothing finished. */
  async kill (): Promise<void> {
    this.diskTimer?.cancel()
    await this.diskChain.catch(() => {})
    this.masterApi?.stop()
    await this.sink?.stop()
    await this.master.deactivate()
    await this.peer.kill()
    await this.worker.close()
  }
}
