// The simulated network: datagrams (gossip heartbeats, tile notices, assigns, revokes) that are dropped,
// delayed, duplicated and reordered, and ordered streams (replication, hand-over) that break instead of
// losing a message, as a TCP stream does. Partitions and crashes cut both.
import type { Rng } from './rng.ts'

export interface NetConfig {
  drop: number
  dup: number
  minDelay: number
  maxDelay: number
  /** chance that a datagram is held back much longer (it then overtakes nothing: later ones overtake it) */
  lateChance: number
  lateMs: number
  /** a stream message is lost with this chance: the stream breaks */
  streamBreak: number
  /**
   * Fair loss: at most this many heartbeats in a row are dropped on a link. Without a bound a lossy
   * link is a partition in disguise, and the "one master per epoch in a connected swarm" check would
   * have nothing to hold on to.
   */
  maxHbDrops: number
}

export interface Endpoint { index: number, up: boolean, incarnation: number }

export interface Clock { readonly now: number, at: (delay: number, run: () => void) => void }

export class Network {
  readonly cfg: NetConfig
  private readonly rng: Rng
  private readonly clock: Clock
  private readonly hosts: Endpoint[]
  /** partition group of each peer; one group: connected */
  readonly group: number[]
  /** per pair (i*n+j): last time they could not reach each other (cut or a crash) */
  private readonly lastCut: number[]
  private readonly hbDrops: number[]
  faultsOn = true
  private nextStream = 1

  constructor (hosts: Endpoint[], cfg: NetConfig, rng: Rng, clock: Clock) {
    this.hosts = hosts
    this.cfg = cfg
    this.rng = rng
    this.clock = clock
    this.group = hosts.map(() => 0)
    this.lastCut = new Array(hosts.length * hosts.length).fill(0)
    this.hbDrops = new Array(hosts.length * hosts.length).fill(0)
  }

  reachable (a: number, b: number): boolean {
    const x = this.hosts[a] as Endpoint
    const y = this.hosts[b] as Endpoint
    return x.up && y.up && this.group[a] === this.group[b]
  }

  /** Time since a and b last could not reach each other (0 if cut now). */
  connectedFor (a: number, b: number): number {
    if (!this.reachable(a, b)) return 0
    return this.clock.now - (this.lastCut[a * this.hosts.length + b] as number)
  }

  lastCutOf (a: number, b: number): number {
    return this.reachable(a, b) ? this.lastCut[a * this.hosts.length + b] as number : this.clock.now
  }

  /** Call before any change of groups or of a peer's up state: remembers which pairs are cut now. */
  noteCuts (): void {
    const n = this.hosts.length
    for (let a = 0; a < n; a++) for (let b = 0; b < n; b++) if (a !== b && !this.reachable(a, b)) this.lastCut[a * n + b] = this.clock.now
  }

  partition (groups: number[]): void {
    this.noteCuts()
    for (let i = 0; i < groups.length; i++) this.group[i] = groups[i] as number
    this.noteCuts()
  }

  heal (): void { this.partition(this.group.map(() => 0)) }

  private delay (): number {
    const c = this.cfg
    let d = this.rng.int(c.minDelay, c.maxDelay)
    if (this.faultsOn && this.rng.chance(c.lateChance)) d += this.rng.int(1, c.lateMs)
    return d
  }

  /** A datagram: delivered (perhaps twice, perhaps late) only if both ends are up and can reach each
   * other when it is sent and when it arrives, to the same incarnation it was sent to. `lost` stands for
   * the sender's stream breaking or timing out (it is called when the first copy does not arrive). */
  datagram (from: number, to: number, deliver: () => void, heartbeat = false, lost?: () => void): boolean {
    if (!this.reachable(from, to)) { lost?.(); return false }
    const n = this.hosts.length
    if (this.faultsOn && this.rng.chance(this.cfg.drop)) {
      const k = from * n + to
      if (!heartbeat || (this.hbDrops[k] as number) < this.cfg.maxHbDrops) {
        if (heartbeat) this.hbDrops[k] = (this.hbDrops[k] as number) + 1
        lost?.()
        return false
      }
    }
    if (heartbeat) this.hbDrops[from * n + to] = 0
    const target = this.hosts[to] as Endpoint
    const inc = target.incarnation
    const copies = this.faultsOn && this.rng.chance(this.cfg.dup) ? 2 : 1
    for (let i = 0; i < copies; i++) {
      this.clock.at(this.delay(), () => {
        // a packet from a sender that crashed since is still a real (late) packet: only the receiver's
        // run and the cut decide
        if (target.incarnation !== inc || !this.reachable(from, to)) { if (i === 0) lost?.(); return }
        deliver()
      })
    }
    return true
  }

  openStream (a: number, b: number): Stream {
    return new Stream(this.nextStream++, this, this.hosts[a] as Endpoint, this.hosts[b] as Endpoint)
  }

  /** @internal */
  streamDelay (): number { return this.rng.int(this.cfg.minDelay, this.cfg.maxDelay) }
  /** @internal */
  streamLost (): boolean { return this.faultsOn && this.rng.chance(this.cfg.streamBreak) }
  /** @internal */
  get clk (): Clock { return this.clock }
}

/** An ordered, reliable pipe between two incarnations; any loss or cut breaks it for good. */
export class Stream {
  readonly id: number
  private readonly net: Network
  readonly a: Endpoint
  readonly b: Endpoint
  private readonly incA: number
  private readonly incB: number
  open = true
  /** set by each end; called once when the stream breaks */
  onBreakA?: () => void
  onBreakB?: () => void
  private last = [0, 0]

  constructor (id: number, net: Network, a: Endpoint, b: Endpoint) {
    this.id = id
    this.net = net
    this.a = a
    this.b = b
    this.incA = a.incarnation
    this.incB = b.incarnation
  }

  private alive (): boolean {
    return this.open && this.a.incarnation === this.incA && this.b.incarnation === this.incB && this.net.reachable(this.a.index, this.b.index)
  }

  /** dir 0: a -> b, 1: b -> a */
  send (dir: 0 | 1, deliver: () => void): void {
    if (!this.alive() || this.net.streamLost()) { this.break(); return }
    const now = this.net.clk.now
    const at = Math.max(now + this.net.streamDelay(), this.last[dir] as number)
    this.last[dir] = at
    this.net.clk.at(at - now, () => {
      if (!this.alive()) { this.break(); return }
      deliver()
    })
  }

  /** Both ends hear of it a little later (a reset or a timeout), each only if still the same run. */
  break (): void {
    if (!this.open) return
    this.open = false
    const clk = this.net.clk
    const { a, b, incA, incB } = this
    const fa = this.onBreakA
    const fb = this.onBreakB
    clk.at(this.net.streamDelay(), () => { if (a.up && a.incarnation === incA) fa?.() })
    clk.at(this.net.streamDelay(), () => { if (b.up && b.incarnation === incB) fb?.() })
  }
}
