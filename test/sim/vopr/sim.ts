// One VOPR run: a seed picks the swarm (3 to 5 peers, their slots and speed), the network's faults, the
// workload and a fault schedule; the run then heals everything and must converge. Everything random
// comes from the seed, so a seed is its own reproduction. A scenario test can script the faults, the
// network and the workload instead (RunOptions.script): the seed then decides only the rest.
import { Agenda } from './heap.ts'
import { Network, type NetConfig } from './network.ts'
import { newStats, Oracle, type JobSpecSim, type Stats } from './oracle.ts'
import { VPeer } from './peer.ts'
import { fnv, FNV_START, Rng } from './rng.ts'
import { VoprFailure, type SimConfig, type World } from './world.ts'

export const DEFAULT_CONFIG: SimConfig = {
  peers: 0, // 0: the seed chooses 3..5
  heartbeatMs: 500,
  deadAfterMs: 2000,
  forgetAfterMs: 30_000,
  graceMs: 1500,
  tickMs: 100,
  leaseMs: 5000,
  prefetch: 1,
  maxAttempts: 3,
  queueTickMs: 500,
  persistMs: [0, 30],
  computeMs: [100, 2500],
  rpcTimeoutMs: 1000,
  markHoldersDead: false,
  strictHandover: false,
  strictSticky: false,
  masterWorkLimit: 4
}

export interface RunOptions {
  seed: number
  cfg?: Partial<SimConfig>
  /** faults (crashes, cuts, loss) happen before this; then everything heals */
  faultMs?: number
  /** how long after the faults every accepted job must be done, with one master */
  livenessMs?: number
  /** keep the trace lines (for --seed N) */
  keepTrace?: boolean
  /** a scripted scenario in place of the seed's random faults, network faults and workload */
  script?: Script
  /** called after every event (scenario tests watch the peers with it); it must not change the world */
  watch?: (w: World) => void
}

/**
 * A scenario. Whatever it leaves out stays as the seed draws it; the seed's draws are still made, so a
 * script changes what happens and nothing else. Without a script, runs are exactly as before.
 */
export interface Script {
  /** replaces the seed's random crashes and partitions */
  faults?: ScriptedCrash[]
  /** overrides the seed's network (e.g. drop 0 for a healthy one) */
  net?: Partial<NetConfig>
  /** replaces the seed's jobs: each is first offered to the swarm at its time */
  jobs?: Array<JobSpecSim & { at: number }>
}

export interface ScriptedCrash {
  at: number
  /** a peer's index, or whichever peer is master then (nothing happens if none is) */
  crash: number | 'master'
  /** restart it this long after (default: when the faults stop, with every other peer) */
  restartAfterMs?: number
}

/** A crash a script asked for, as it happened. */
export interface CrashRecord { at: number, peer: string, wasMaster: boolean }

export interface RunResult {
  seed: number
  ok: boolean
  error?: string
  traceHash: number
  stats: Stats
  /** simulated time at the end (ms) */
  simMs: number
  events: number
  jobs: number
  /** when the swarm had converged after the faults (ms after they stopped) */
  convergedAfter?: number
  trace?: string[]
  /** the crashes of the script, when it had some */
  crashes: CrashRecord[]
}

export function reproduce (seed: number): string {
  return `reproduce with seed=${seed}: npm run vopr -- --seed ${seed}`
}

export function runSeed (opts: RunOptions): RunResult {
  const seed = opts.seed >>> 0
  const root = new Rng(seed)
  const setup = root.fork()
  const cfg: SimConfig = { ...DEFAULT_CONFIG, ...opts.cfg }
  if (cfg.peers === 0) cfg.peers = setup.int(3, 5)
  // An epoch write on a Pi's SD card can take a good part of a heartbeat: a rival is heard meanwhile.
  if (opts.cfg?.persistMs === undefined && setup.chance(0.5)) cfg.persistMs = [0, 300]
  const faultMs = opts.faultMs ?? 20_000
  const livenessMs = opts.livenessMs ?? 60_000
  // Delays stay under a heartbeat interval minus the drops allowed in a row (fair loss): see NetConfig.
  const maxDelay = setup.int(5, 100)
  const netCfg: NetConfig = {
    drop: setup.pick([0, 0.02, 0.05, 0.1, 0.2]),
    dup: setup.pick([0, 0.01, 0.05]),
    minDelay: 1,
    maxDelay,
    lateChance: setup.pick([0, 0.01, 0.05]),
    lateMs: setup.int(50, 350),
    streamBreak: setup.pick([0, 0.001, 0.01]),
    maxHbDrops: 2,
    ...opts.script?.net
  }

  let now = 0
  let hash = FNV_START
  const lines: string[] | undefined = opts.keepTrace === true ? [] : undefined
  const agenda = new Agenda()
  let quietSince = 0
  const peers: VPeer[] = []
  const world: World = {
    get now () { return now },
    seed,
    cfg,
    rng: root.fork(),
    net: undefined as unknown as Network,
    peers,
    oracle: undefined as unknown as Oracle,
    at: (delay, run) => { agenda.push(now + Math.max(0, Math.round(delay)), run) },
    trace: (line) => {
      hash = fnv(hash, `${now} ${line}\n`)
      lines?.push(`${String(now).padStart(7)} ${line}`)
    },
    disturbed: () => { quietSince = now }
  }
  const net = new Network(peers, netCfg, root.fork(), world)
  ;(world as { net: Network }).net = net
  const oracle = new Oracle(world, cfg.peers)
  ;(world as { oracle: Oracle }).oracle = oracle
  for (let i = 0; i < cfg.peers; i++) peers.push(new VPeer(world, i, setup.int(1, 2), setup.chance(0.2) ? 3 : 1))
  world.trace(`seed ${seed}: ${cfg.peers} peers slots=${peers.map(p => p.slots).join(',')} speed=${peers.map(p => p.speed).join(',')} net=${JSON.stringify(netCfg)}`)

  // ---------------------------------------------------------------- start, workload, faults
  const faults = root.fork()
  for (const p of peers) world.at(faults.int(0, 300), () => { p.start() })

  const jobs: JobSpecSim[] = []
  const nJobs = setup.int(1, 4)
  for (let k = 0; k < nJobs; k++) jobs.push({ id: `j${k}`, tileCount: setup.int(1, 6), phaseCount: setup.chance(0.3) ? 2 : 1 })
  const submitAt = jobs.map(() => setup.int(500, Math.floor(faultMs * 0.8)))
  if (opts.script?.jobs !== undefined) {
    jobs.length = 0
    submitAt.length = 0
    for (const { at, ...spec } of opts.script.jobs) { jobs.push(spec); submitAt.push(at) }
  }
  const pendingSubmits = new Set<string>()
  const client = root.fork()
  const trySubmit = (spec: JobSpecSim): void => {
    const ups = peers.filter(p => p.up)
    const via = ups.length > 0 ? client.pick(ups) : undefined
    // The client asks any peer; a follower names its master, and the client goes there if it can.
    const mId = via?.election.master
    const m = mId == null || via === undefined ? undefined : peers[Number(mId.slice(1))]
    const shell = m?.master
    if (m !== undefined && via !== undefined && shell?.active === true && (m === via || net.reachable(via.index, m.index)) && !shell.q.jobs.has(spec.id)) {
      const standby = shell.standby()
      if (standby !== undefined || m.liveView().length === 0) {
        m.disk.inputs.add(spec.id)
        standby?.disk.inputs.add(spec.id)
        oracle.accept(spec)
        pendingSubmits.delete(spec.id)
        world.trace(`${m.id} accepts ${spec.id} (${spec.tileCount} tiles x ${spec.phaseCount} phases), input also on ${standby?.id ?? 'nobody'}`)
        shell.step({ type: 'submit', job: { id: spec.id, tileCount: spec.tileCount, phaseCount: spec.phaseCount }, now })
        return
      }
    }
    world.at(client.int(200, 600), () => { trySubmit(spec) })
  }
  jobs.forEach((spec, k) => {
    pendingSubmits.add(spec.id)
    world.at(submitAt[k] as number, () => { trySubmit(spec) })
  })

  const crashP = faults.pick([0, 0.2, 0.35, 0.5])
  const cutP = faults.pick([0, 0.15, 0.3])
  let cut = false
  const restartLater = (p: VPeer): void => {
    world.at(faults.int(300, 6000), () => {
      if (p.up) return
      world.disturbed()
      p.start()
    })
  }
  const faultLoop = (): void => {
    if (now >= faultMs) return
    const r = faults.float()
    const ups = peers.filter(p => p.up)
    if (r < crashP && ups.length > 1) {
      const masters = ups.filter(p => p.election.role === 'master')
      const victim = masters.length > 0 && faults.chance(0.5) ? faults.pick(masters) : faults.pick(ups)
      world.disturbed()
      victim.crash()
      restartLater(victim)
    } else if (r < crashP + cutP && !cut) {
      let groups: number[]
      do groups = peers.map(() => faults.int(0, 1)); while (!groups.includes(0) || !groups.includes(1))
      world.trace(`partition ${groups.join('')}`)
      world.disturbed()
      net.partition(groups)
      cut = true
      world.at(faults.int(500, 8000), () => {
        if (!cut) return
        world.trace('heal')
        world.disturbed()
        net.heal()
        cut = false
      })
    }
    world.at(faults.int(300, 2500), faultLoop)
  }
  const firstFault = faults.int(1000, 3000)
  const crashes: CrashRecord[] = []
  if (opts.script?.faults === undefined) world.at(firstFault, faultLoop)
  for (const f of opts.script?.faults ?? []) {
    world.at(f.at, () => {
      const victim = f.crash === 'master' ? peers.find(p => p.up && p.election.role === 'master') : peers[f.crash]
      if (victim === undefined || !victim.up) return
      crashes.push({ at: now, peer: victim.id, wasMaster: victim.election.role === 'master' })
      world.disturbed()
      victim.crash()
      if (f.restartAfterMs !== undefined) {
        world.at(f.restartAfterMs, () => {
          if (victim.up) return
          world.disturbed()
          victim.start()
        })
      }
    })
  }

  // ---------------------------------------------------------------- liveness
  let converged: number | undefined
  let livenessFailure: string | undefined
  world.at(faultMs, () => {
    world.trace('faults stop: heal, restart every peer')
    world.disturbed()
    net.faultsOn = false
    if (cut) { net.heal(); cut = false }
    for (const p of peers) if (!p.up) p.start()
    const check = (): void => {
      const why = notConverged()
      if (why === undefined) { converged = now - faultMs; return }
      if (now - faultMs >= livenessMs) { livenessFailure = `no convergence ${livenessMs} ms after the faults stopped: ${why}`; return }
      world.at(250, check)
    }
    world.at(250, check)
  })
  const notConverged = (): string | undefined => {
    if (pendingSubmits.size > 0) return `jobs never accepted: ${[...pendingSubmits].join(',')}`
    const masters = peers.filter(p => p.up && p.election.role === 'master')
    if (masters.length !== 1) return `${masters.length} masters (${masters.map(p => p.id).join(',')})`
    const m = masters[0] as VPeer
    const shell = m.master
    if (shell === undefined || !shell.active) return `${m.id} is master without a queue`
    for (const p of peers) if (p !== m && p.election.master !== m.id) return `${p.id} follows ${p.election.master ?? 'nobody'}, not ${m.id}`
    for (const id of oracle.accepted.keys()) {
      const job = shell.q.jobs.get(id)
      if (job === undefined) return `master ${m.id} does not know ${id}`
      if (job.state === 'failed') return `job ${id} failed: ${job.failure?.reason ?? ''}`
      if (job.state !== 'done') return `job ${id} is ${job.state} (${job.doneBefore + (job.tiles?.done ?? 0)}/${job.tileCount * job.phaseCount} tiles)`
      if (!oracle.finished.has(id)) return `job ${id} is done in the queue but was never stitched`
    }
    return undefined
  }

  // ---------------------------------------------------------------- run
  let events = 0
  let error: string | undefined
  try {
    for (;;) {
      const ev = agenda.pop()
      if (ev === undefined) break
      now = ev.at
      ev.run()
      events++
      oracle.checkAll(quietSince)
      opts.watch?.(world)
      if (converged !== undefined) break
      if (livenessFailure !== undefined) throw new VoprFailure(`t=${now} ms: ${livenessFailure}`)
    }
  } catch (err) {
    if (!(err instanceof VoprFailure)) error = `t=${now} ms: unexpected ${(err as Error).stack ?? String(err)}`
    else error = err.message
  }
  world.trace(`end ok=${error === undefined} stats=${JSON.stringify(oracle.stats)}`)
  for (const p of peers) hash = fnv(hash, `${p.id}:${p.disk.epoch}:${p.storedPos}:${p.disk.records.size};`)
  const result: RunResult = { seed, ok: error === undefined, traceHash: hash, stats: oracle.stats, simMs: now, events, jobs: oracle.accepted.size, convergedAfter: converged, trace: lines, crashes }
  if (error !== undefined) result.error = `${error}\n${reproduce(seed)}`
  return result
}

export { newStats }
