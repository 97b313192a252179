// The simulated swarm: N real SwarmPeers in one process on 127.0.0.1. Discovery is in-process (no real
// multicast leaves the machine); faults are injected from outside: an abrupt kill, a restart on the
// same data dir, a partition into groups enforced by each peer's connection gater, and a heal.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { peerIdFromString } from '@libp2p/peer-id'
import type { ConnectionGater, PeerId } from '@libp2p/interface'
import type { SwarmPeer } from '../../src/node/peer.ts'
import { SwarmNode, type SwarmNodeOptions } from '../../src/ui-cli/swarm-node.ts'

export interface SimPeer {
  index: number
  dataDir: string
  peer: SwarmPeer | null
  /** The whole node (peer + worker + master runtime); null while down. */
  node: SwarmNode | null
  /** Stays the same across restarts (the identity is in the data dir). */
  peerId: string
  group: number
  /** The TCP port of its first start, reused by restarts (as `swarm start --port` does). */
  port: number
}

export type SimOptions = Omit<SwarmNodeOptions, 'dataDir'>

export class SimSwarm {
  readonly peers: SimPeer[] = []
  private root = ''
  readonly log: string[] = []
  private readonly t0 = performance.now()
  /** Pairs of masters at one epoch that hear each other, and since when. */
  private readonly twins = new Map<string, number>()

  private readonly options: SimOptions

  constructor (options: SimOptions = {}) {
    this.options = options
  }

  async init (): Promise<void> {
    this.root = await mkdtemp(join(tmpdir(), 'swarm-sim-'))
  }

  note (line: string): void {
    this.log.push(`${String(Math.round(performance.now() - this.t0)).padStart(6)}ms ${line}`)
  }

  /** Starts n more peers at once and introduces them to everyone running. */
  async add (n: number, overrides: Partial<SimOptions> = {}): Promise<SimPeer[]> {
    const added: SimPeer[] = []
    for (let i = 0; i < n; i++) {
      const index = this.peers.length
      const sp: SimPeer = { index, dataDir: join(this.root, `peer-${index}`), peer: null, node: null, peerId: '', group: 0, port: 0 }
      this.peers.push(sp)
      added.push(sp)
    }
    await Promise.all(added.map(async sp => { await this.boot(sp, overrides) }))
    this.introduce(added)
    return added
  }

  private async boot (sp: SimPeer, overrides: Partial<SimOptions>): Promise<void> {
    const node = new SwarmNode({ listen: [`/ip4/127.0.0.1/tcp/${sp.port}`], mdns: false, slots: 2, ...this.options, ...overrides, dataDir: sp.dataDir })
    const peer = node.peer
    peer.on('master', (e) => { if (e.self) this.note(`peer ${sp.index} is master at epoch ${e.epoch} (connected to ${peer.connectedPeers().length}, hears ${peer.liveView().length})`) })
    node.master.on('log', (l) => { this.note(`peer ${sp.index} master: ${l.msg}`) })
    await node.start(this.gater(sp))
    sp.node = node
    sp.peer = peer
    sp.port = Number(/\/tcp\/(\d+)/.exec(peer.addrs()[0].toString())?.[1] ?? 0)
    sp.peerId = peer.peerId
    this.note(`peer ${sp.index} up (${sp.peerId.slice(-6)})`)
  }

  private introduce (fresh: SimPeer[]): void {
    for (const a of fresh) {
      for (const b of this.running()) {
        if (a === b || a.peer == null || b.peer == null) continue
        a.peer.addKnownPeer(b.peerId, b.peer.addrs())
        b.peer.addKnownPeer(a.peerId, a.peer.addrs())
      }
    }
  }

  /** Each peer refuses connections to and from peers outside its group. */
  private gater (sp: SimPeer): ConnectionGater {
    const blocked = (remote: PeerId): boolean => {
      const other = this.peers.find(p => p.peerId === remote.toString())
      return other != null && other.group !== sp.group
    }
    return {
      denyDialPeer: blocked,
      denyInboundEncryptedConnection: blocked,
      denyOutboundEncryptedConnection: blocked
    }
  }

  running (): SimPeer[] {
    return this.peers.filter(p => p.peer != null)
  }

  /** As if the process were killed: no goodbye heartbeat. */
  async kill (index: number): Promise<void> {
    const sp = this.peers[index]
    const node = sp.node
    sp.peer = null
    sp.node = null
    await node?.kill()
    this.note(`peer ${index} killed`)
  }

  async restart (index: number): Promise<void> {
    const sp = this.peers[index]
    if (sp.peer != null) await this.kill(index)
    await this.boot(sp, {})
    this.introduce([sp])
    this.note(`peer ${index} restarted`)
  }

  /** groups: lists of peer indexes; peers not listed stay in group 0. */
  async partition (groups: number[][]): Promise<void> {
    for (const p of this.peers) p.group = 0
    groups.forEach((g, gi) => { for (const i of g) this.peers[i].group = gi })
    for (const a of this.running()) {
      for (const b of this.running()) {
        if (a.group !== b.group) await a.peer!.libp2p.hangUp(peerIdFromString(b.peerId)).catch(() => {})
      }
    }
    this.note(`partition ${JSON.stringify(groups)}`)
  }

  heal (): void {
    for (const p of this.peers) p.group = 0
    this.note('healed')
  }

  masters (): SimPeer[] {
    return this.running().filter(p => p.peer!.isMaster)
  }

  /**
   * Safety, as the design states it: at most one master per epoch in a connected swarm. Peers cut off
   * from each other (a partition, or not yet connected) may each run a master at the same epoch; once
   * they hear each other the election must settle it within the convergence bound (two heartbeats).
   */
  checkSafety (): string | null {
    const now = performance.now()
    const hb = this.options.heartbeatMs ?? 500
    const bound = 2 * hb + 300
    const masters = this.masters()
    const current = new Set<string>()
    for (const a of masters) {
      for (const b of masters) {
        if (a.index >= b.index || a.peer!.epoch !== b.peer!.epoch) continue
        const hears = (x: SimPeer, y: SimPeer): boolean => x.peer!.liveView().some(h => h.peerId === y.peerId)
        if (!hears(a, b) || !hears(b, a)) continue
        const key = `${a.index}-${b.index}@${a.peer!.epoch}`
        current.add(key)
        const since = this.twins.get(key) ?? now
        this.twins.set(key, since)
        if (now - since > bound) return `peers ${a.index} and ${b.index} are both master at epoch ${a.peer!.epoch} and have heard each other for ${now - since} ms (bound ${bound} ms)`
      }
    }
    for (const key of this.twins.keys()) if (!current.has(key)) this.twins.delete(key)
    return null
  }

  /** One master, followed by every running peer (of the given ones). */
  agreedMaster (among: SimPeer[] = this.running()): SimPeer | null {
    if (among.length === 0) return null
    const masters = among.filter(p => p.peer!.isMaster)
    if (masters.length !== 1) return null
    const m = masters[0]
    return among.every(p => p.peer!.master === m.peerId && p.peer!.epoch === m.peer!.epoch) ? m : null
  }

  /**
   * Polls cond every 20 ms (bounded by timeoutMs), checking safety at every step. Times are monotonic
   * (performance.now): a wall clock that jumps (a VM's, adjusted) once failed a wait at 768 ms of 4000.
   */
  async waitFor<T> (what: string, cond: () => T | null | undefined | false, timeoutMs: number): Promise<{ value: T, ms: number }> {
    const start = performance.now()
    for (let i = 0; i < Math.ceil(timeoutMs / 20) + 1; i++) {
      const bad = this.checkSafety()
      if (bad != null) throw new Error(`safety violated while waiting for ${what}: ${bad}\n${this.trace()}`)
      const v = cond()
      if (v != null && v !== false) return { value: v, ms: performance.now() - start }
      if (performance.now() - start > timeoutMs) break
      await new Promise(resolve => setTimeout(resolve, 20))
    }
    throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${this.trace()}`)
  }

  trace (): string {
    const state = this.peers.map(p => p.peer == null
      ? `  peer ${p.index}: down`
      : `  peer ${p.index} (${p.peerId.slice(-6)}) group ${p.group} role ${p.peer.role} epoch ${p.peer.epoch} follows ${p.peer.master?.slice(-6) ?? '-'} connected to ${p.peer.connectedPeers().length}`)
    return ['trace:', ...this.log.map(l => `  ${l}`), 'state:', ...state].join('\n')
  }

  async close (): Promise<void> {
    await Promise.all(this.running().map(async p => { await p.node!.kill() }))
    for (const p of this.peers) { p.peer = null; p.node = null }
    // A killed peer's work goes on in this process for a moment (a blob arriving into a temporary file, a
    // tile result written): the walk may meet a directory that just got a file (CI: ENOTEMPTY), so rm
    // retries, as it does for exactly that.
    if (this.root !== '') await rm(this.root, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 })
  }
}
