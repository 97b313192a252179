// SwarmPeer: the thin shell around the membership and election state machines. It owns the timers,
// libp2p, the LevelDB store and the heartbeat streams; every decision is taken by the pure machines
// (who hears a heartbeat: heartbeat-routing.ts).
import { EventEmitter } from 'node:events'
import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto'
import { arch, availableParallelism, freemem, platform } from 'node:os'
import { peerIdFromString } from '@libp2p/peer-id'
import { isMultiaddr, multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import type { ConnectionGater, PeerId, PrivateKey } from '@libp2p/interface'
import { keyMismatchMessage, looksLikeKeyMismatch, probeSwarmKey } from './swarm-key.ts'
import { candidateFromHeartbeat, type PeerEvents, type PeerOptions, resolvePeerOptions, type ResolvedPeerOptions } from './peer-options.ts'
import { claimedPeer, heartbeatText, materialKey, MAX_LINKS, MAX_RELAYED, parseHeartbeat, type Heartbeat, type HeartbeatFrame, type Load, type SignedHeartbeat } from './heartbeat.ts'
import { HeartbeatService } from './heartbeat-protocol.ts'
import { lateAfterMs, routeHeartbeat, type RoutePeer } from './heartbeat-routing.ts'
import { initMembership, liveMembers, stepMembership, type MembershipEffect, type MembershipState } from './membership.ts'
import { initElection, stepElection, type ElectionEffect, type ElectionEvent, type ElectionState } from './election.ts'
import { loadOrCreateIdentity } from './identity.ts'
import { openStore, readEpoch, writeEpoch, type SwarmDb } from './store.ts'
import { createSwarmLibp2p, type SwarmLibp2p } from './libp2p.ts'
import { STATUS_PROTOCOL, StatusService, type PeerRow, type StatusSnapshot } from '../transfer/status.ts'
import { version } from './version.ts'

export type { PeerOptions } from './peer-options.ts'

export class SwarmPeer extends EventEmitter<PeerEvents> {
  readonly opts: ResolvedPeerOptions
  private node?: SwarmLibp2p
  private db?: SwarmDb
  private membership: MembershipState
  private election?: ElectionState
  private readonly incarnation: number
  private seq = 0
  private timers: NodeJS.Timeout[] = []
  private persistChain: Promise<void> = Promise.resolve()
  /** Peers to keep connected, with when we last had news of them. */
  private readonly known = new Map<string, { id: PeerId, since: number }>()
  private readonly dialing = new Set<string>()
  /** Targets already reported as using another swarm key (bounded by the peers known). */
  private readonly keyWarned = new Set<string>()
  /** When each stalled dial target was last probed for a swarm key. */
  private readonly probedAt = new Map<string, number>()
  /** The newest signed heartbeat of each member, as heard: what this peer relays when it is master. */
  private readonly signed = new Map<string, SignedHeartbeat & { incarnation: number, seq: number, material?: string }>()
  /**
   * As master: what each follower was last sent of each member (materialKey), and frames since its last full
   * digest. A member whose heartbeat is unchanged in substance is only vouched for (`seen`): in an idle swarm
   * of 8 a follower checked 7 signatures and parsed 7 heartbeats every interval (with the signing below, a
   * third of its idle CPU).
   */
  private readonly relayedTo = new Map<string, { keys: Map<string, string>, frames: number }>()
  /** Relayed heartbeats taken and members vouched for, as received (what the delta digest saves shows here). */
  readonly heard = { relayed: 0, seen: 0 }
  /** Parsed PeerIds, by string. */
  private readonly peerIds = new Map<string, PeerId>()
  /**
   * Each member's public key as a node KeyObject, to check relayed heartbeats. @libp2p/crypto imports the key
   * anew on every verify, which was most of a follower's idle CPU; a cached key verifies about 5x faster.
   */
  private readonly keys = new Map<string, KeyObject | null>()
  private privateKey?: PrivateKey
  /** The same key as a node KeyObject: @libp2p/crypto imports it from JWK on every signature, a fifth of an idle peer's main thread. */
  private signingKey?: KeyObject
  private heartbeats?: HeartbeatService
  /** This peer's heartbeats went to its master alone at the last send: the master is the relay of everyone else's. */
  private inStar = false
  /** What identify said of each connected peer: a swarm member, or a client. */
  private readonly identified = new Map<string, 'member' | 'client'>()
  private running = false
  /** Leaving (beginLeave): the election is frozen and heartbeats say so, until stop(). */
  private leaving = false
  /** Answers the status protocol (what `swarm status` and other peers ask) while running. */
  private status?: StatusService
  /** Set by the job layer as work starts and ends; the heartbeat reports it. */
  loadProvider: () => Load
  /** As master: the peers its queue distrusts, for `swarm status`. */
  distrustedProvider?: () => Array<{ peer: string, reason: string }>
  /** Set by the replication layer; the election prefers the most complete replica. */
  replicaPosProvider: () => number = () => 0
  private advertisedPos = 0
  /** How late this peer's own ticks ran lately: its heartbeats tell the others to be patient. */
  private readonly lag = new RecentMax(LAG_WINDOW_MS)
  private lastTickAt?: number

  constructor (options: PeerOptions) {
    super()
    this.opts = resolvePeerOptions(options)
    this.incarnation = this.opts.now()
    this.membership = initMembership({ self: '', deadAfterMs: this.opts.deadAfterMs, forgetAfterMs: this.opts.forgetAfterMs })
    const cores = availableParallelism()
    this.loadProvider = () => ({ cores, freeSlots: this.opts.slots, busyTiles: 0, freeMem: freemem(), tileSpeed: 0 })
  }

  get peerId (): string {
    if (this.node == null) throw new Error('peer not started')
    return this.node.peerId.toString()
  }

  get libp2p (): SwarmLibp2p {
    if (this.node == null) throw new Error('peer not started')
    return this.node
  }

  get store (): SwarmDb {
    if (this.db == null) throw new Error('peer not started')
    return this.db
  }

  get role (): ElectionState['role'] { return this.election?.role ?? 'joining' }
  get master (): string | null { return this.election?.master ?? null }
  get epoch (): number { return this.election?.masterEpoch ?? 0 }
  get isMaster (): boolean { return this.election?.role === 'master' }

  addrs (): Multiaddr[] { return this.node?.getMultiaddrs() ?? [] }

  /** The members this peer has a connection to (not passing clients): the dashboard's picture of the swarm. */
  private links (): string[] {
    const members = this.membership.members
    const ids = new Set<string>()
    for (const c of this.node?.getConnections() ?? []) {
      const id = c.remotePeer.toString()
      if (members.has(id)) ids.add(id)
    }
    return [...ids].sort().slice(0, MAX_LINKS)
  }

  async start (gater?: ConnectionGater): Promise<void> {
    const o = this.opts
    const privateKey = this.privateKey = await loadOrCreateIdentity(o.dataDir)
    // An Ed25519 private key's raw form is its 32-byte seed and then its public key; PKCS#8 wraps the seed.
    if (privateKey.type === 'Ed25519') this.signingKey = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, privateKey.raw.subarray(0, 32)]), format: 'der', type: 'pkcs8' })
    this.db = await openStore(o.dataDir)
    try {
      const epoch = await readEpoch(this.db)
      this.node = await createSwarmLibp2p({ privateKey, listen: o.listen, psk: o.psk, mdns: o.mdns, mdnsServiceTag: o.mdnsServiceTag, connectionGater: gater, metricsRegistry: o.metricsRegistry })
      const self = this.node.peerId.toString()
      this.membership = initMembership({ self, deadAfterMs: o.deadAfterMs, forgetAfterMs: o.forgetAfterMs, tickMs: o.tickMs })
      this.election = initElection({ self, eligible: o.eligible, graceMs: o.graceMs }, epoch, o.now())

      this.heartbeats = new HeartbeatService({ libp2p: this.node }, {
        onFrame: (frame, from) => { this.onFrame(frame, from) },
        onError: (message, from) => { this.emit('warning', { message: `heartbeat from ${from} refused: ${message}` }) }
      })
      await this.heartbeats.start()
      this.node.addEventListener('peer:identify', (evt) => {
        const key = evt.detail.peerId.toString()
        const kind = evt.detail.protocols.includes(STATUS_PROTOCOL) ? 'member' : 'client'
        const first = this.identified.get(key) == null
        this.identified.set(key, kind)
        // A new member hears from us at once, not an interval later: its election waits until it has heard
        // every peer it is connected to.
        if (kind === 'member' && first) this.publish(this.role, key)
      })
      this.node.addEventListener('peer:disconnect', (evt) => {
        this.identified.delete(evt.detail.toString())
        this.relayedTo.delete(evt.detail.toString())
        this.heartbeats?.drop(evt.detail.toString())
      })
      this.node.addEventListener('peer:discovery', (evt) => {
        this.remember(evt.detail.id)
        void this.dial(evt.detail.id)
      })
      this.status = new StatusService({ libp2p: this.node }, { snapshot: () => this.snapshot() })
      await this.status.start()
      this.running = true
      this.leaving = false
      this.timers.push(setInterval(() => { this.publish() }, o.heartbeatMs))
      this.timers.push(setInterval(() => { this.tick() }, o.tickMs))
      this.timers.push(setInterval(() => { this.redial() }, o.redialMs))
      for (const ma of o.bootstrap) void this.dial(ma)
      this.publish()
      this.emit('started', { peerId: self, addrs: this.node.getMultiaddrs().map(String), epoch })
    } catch (err) {
      await this.halt(false)
      throw err
    }
  }

  /**
   * The first step of a graceful stop, taken before what sits on top of the peer (its master runtime, its
   * services) is wound down: the others hear it is leaving, and it takes no role any more. Without it, a
   * peer whose neighbours left first was elected master in the middle of its own shutdown, and opened a
   * queue on a store that was closing ("cannot act as master: Iterator is not open").
   */
  beginLeave (): void {
    if (!this.running || this.leaving) return
    this.leaving = true
    this.publish('leaving')
  }

  /** Graceful stop: tells the others it is leaving, so they do not wait for the failure detector. */
  async stop (): Promise<void> {
    if (this.running) {
      this.publish('leaving')
      await new Promise(resolve => setTimeout(resolve, 50))
    }
    await this.halt(true)
  }

  /** Abrupt stop, as if the process had been killed: no goodbye. */
  async kill (): Promise<void> {
    await this.halt(false)
  }

  private async halt (graceful: boolean): Promise<void> {
    this.running = false
    for (const t of this.timers) clearInterval(t)
    this.timers = []
    await this.heartbeats?.stop().catch(() => {})
    this.heartbeats = undefined
    await this.status?.stop().catch(() => {})
    this.status = undefined
    await Promise.resolve(this.node?.stop()).catch(() => {})
    await this.persistChain.catch(() => {})
    await this.db?.close().catch(() => {})
    if (graceful) this.emit('stopped', {})
  }

  /** In-process discovery (the test harness) or a peer learnt any other way. */
  addKnownPeer (peerId: string, addrs: Multiaddr[]): void {
    this.connectTo(peerId, addrs.map(String))
  }

  private connectTo (peerId: string, addrs: string[]): void {
    if (this.node == null || peerId === this.peerId) return
    const id = peerIdFromString(peerId)
    const multiaddrs = addrs.flatMap(a => { try { return [multiaddr(a)] } catch { return [] } })
    this.remember(id)
    void this.node.peerStore.merge(id, { multiaddrs }).then(async () => { await this.dial(id) }).catch(() => {})
  }

  /** Connected peers, counted once however many connections each has. */
  connectedPeers (): string[] {
    return [...new Set((this.node?.getConnections() ?? []).map(c => c.remotePeer.toString()))]
  }

  liveView (): Heartbeat[] { return liveMembers(this.membership) }

  /** How this peer last heard a member: from the member itself, or through the master's relay (the star). */
  heardVia (peer: string): 'direct' | 'relay' | undefined {
    const m = this.membership.members.get(peer)
    return m?.alive !== true ? undefined : m.relayed ? 'relay' : 'direct'
  }

  snapshot (): StatusSnapshot {
    const now = this.opts.now()
    const rows: PeerRow[] = [this.rowOf(this.heartbeat(this.role), true, 0, true)]
    for (const m of this.membership.members.values()) rows.push(this.rowOf(m.hb, m.alive, now - m.lastSeen, false))
    const distrusted = this.distrustedProvider?.() ?? []
    return { respondent: this.peerId, master: this.master, epoch: this.epoch, peers: rows, ...(distrusted.length > 0 ? { distrusted } : {}) }
  }

  private rowOf (hb: Heartbeat, alive: boolean, ago: number, self: boolean): PeerRow {
    return { peerId: hb.peerId, name: hb.name, role: hb.role, epoch: hb.epoch, master: hb.master, eligible: hb.eligible, alive, self, addrs: hb.addrs, arch: hb.arch, platform: hb.platform, version: hb.version, load: hb.load, lastSeenMsAgo: ago, ...(hb.links != null ? { links: hb.links } : {}) }
  }

  private heartbeat (role: Heartbeat['role']): Heartbeat {
    const e = this.election
    return {
      v: 1,
      peerId: this.peerId,
      name: this.opts.name,
      incarnation: this.incarnation,
      seq: ++this.seq,
      role,
      epoch: e?.role === 'master' ? e.masterEpoch : (e?.epoch ?? 0),
      master: e?.master ?? null,
      eligible: this.opts.eligible,
      replicaPos: this.advertisedPos = this.replicaPosProvider(),
      load: this.loadProvider(),
      arch: arch(),
      platform: platform(),
      version,
      addrs: this.addrs().slice(0, 32).map(String),
      links: this.links(),
      lagMs: this.lag.max()
    }
  }

  /**
   * Sends this interval's heartbeat where routeHeartbeat says (or to `only`, a peer just identified), with the
   * heartbeats it relays: every live member's for a master, the master's for a peer outside the star.
   */
  private publish (role: Heartbeat['role'] = this.leaving ? 'leaving' : this.role, only?: string): void {
    const node = this.node
    const service = this.heartbeats
    const key = this.privateKey
    if (node == null || service == null || key == null || !this.running) return
    const now = this.opts.now()
    const master = this.master
    const members: RoutePeer[] = []
    // Connected peers not yet identified count as members: a slow identify must not delay the heartbeats
    // an election waits for. Clients (no status protocol) are left out.
    const seen = new Set<string>()
    for (const conn of node.getConnections()) {
      const peer = conn.remotePeer.toString()
      if (seen.has(peer) || this.identified.get(peer) === 'client' || (only != null && peer !== only)) continue
      seen.add(peer)
      const m = this.membership.members.get(peer)
      members.push({ peer, follows: m?.alive === true ? m.hb.master : undefined })
    }
    const mm = master == null ? undefined : this.membership.members.get(master)
    const route = routeHeartbeat({
      isMaster: this.isMaster,
      master,
      masterSilentMs: mm == null ? undefined : now - mm.lastSeen,
      lateAfterMs: lateAfterMs(this.opts.heartbeatMs),
      leaving: role === 'leaving'
    }, members)
    if (only == null) this.inStar = route.star
    const hb = this.heartbeat(role)
    const text = heartbeatText(this.opts.forgeHeartbeat?.(hb) ?? hb)
    const data = new TextEncoder().encode(text)
    const signature = this.signingKey != null ? sign(null, data, this.signingKey) : key.sign(data)
    if (route.relay !== 'all' && this.relayedTo.size > 0) this.relayedTo.clear() // not master: what followers have may change meanwhile
    const send = (sig: Uint8Array): void => {
      const own: HeartbeatFrame = { v: 1, hb: text, sig: Buffer.from(sig).toString('base64') }
      const relayTo = new Set(route.relayTo)
      if (route.relay === 'all') {
        for (const peer of route.to) {
          if (!relayTo.has(peer)) { void service.send(this.peerIdOf(peer), own); continue }
          const d = this.digestFor(peer, now)
          const frame: HeartbeatFrame = { ...own, ...(d.relayed.length > 0 ? { relayed: d.relayed } : {}), ...(d.seen.length > 0 ? { seen: d.seen } : {}) }
          void service.send(this.peerIdOf(peer), frame).then(sent => { if (sent) d.commit() })
        }
        return
      }
      const relayed = route.relay === 'master' && master != null ? this.relayEntry(master, now) : undefined
      const withRelay: HeartbeatFrame = relayed == null ? own : { ...own, relayed: [relayed] }
      for (const peer of route.to) void service.send(this.peerIdOf(peer), relayTo.has(peer) ? withRelay : own)
    }
    if (signature instanceof Uint8Array) send(signature)
    else void signature.then(send, (err: Error) => { this.emit('warning', { message: `heartbeat not signed: ${err.message}` }) })
  }

  /**
   * A master's digest for follower `to`: the signed heartbeat of every live member that changed in substance
   * since `to` was last sent it, the others vouched for by age; every FULL_DIGEST_EVERY frames (and to a peer
   * of another version, which may not read `seen`) all of them signed. `commit` once the frame was written.
   */
  private digestFor (to: string, now: number): { relayed: NonNullable<HeartbeatFrame['relayed']>, seen: NonNullable<HeartbeatFrame['seen']>, commit: () => void } {
    const prev = this.relayedTo.get(to)
    const full = prev == null || prev.frames + 1 >= FULL_DIGEST_EVERY || this.membership.members.get(to)?.hb.version !== version
    const relayed: NonNullable<HeartbeatFrame['relayed']> = []
    const seen: NonNullable<HeartbeatFrame['seen']> = []
    const keys = new Map<string, string>()
    for (const peer of this.membership.members.keys()) {
      if (peer === to) continue
      const sh = this.currentSigned(peer)
      if (sh == null) continue
      const ageMs = this.ageOf(peer, now)
      if (!full && sh.material != null && prev.keys.get(peer) === sh.material) seen.push({ peer, ageMs })
      else relayed.push({ hb: sh.text, sig: sh.sig, ageMs })
      if (sh.material != null) keys.set(peer, sh.material)
      if (relayed.length >= MAX_RELAYED || seen.length >= MAX_RELAYED) break
    }
    return { relayed, seen, commit: () => { this.relayedTo.set(to, { keys, frames: full ? 0 : prev.frames + 1 }) } }
  }

  /** The signed heartbeat of a live member as last heard, when the membership holds that same one; else undefined. */
  private currentSigned (peer: string): (SignedHeartbeat & { material?: string }) | undefined {
    const m = this.membership.members.get(peer)
    const sh = this.signed.get(peer)
    if (m == null || !m.alive || sh == null || sh.seq !== m.hb.seq || sh.incarnation !== m.hb.incarnation) return undefined
    return sh
  }

  /** How long ago a member was last heard, in the bounds a frame carries. */
  private ageOf (peer: string, now: number): number {
    const m = this.membership.members.get(peer)
    return Math.min(600_000, Math.max(0, Math.round(now - (m?.lastSeen ?? now))))
  }

  /** One member's signed heartbeat with its age (the master's, for a peer outside the star); undefined when not current. */
  private relayEntry (peer: string, now: number): NonNullable<HeartbeatFrame['relayed']>[number] | undefined {
    const sh = this.currentSigned(peer)
    return sh == null ? undefined : { hb: sh.text, sig: sh.sig, ageMs: this.ageOf(peer, now) }
  }

  private peerIdOf (peer: string): PeerId {
    let id = this.peerIds.get(peer)
    if (id == null) {
      id = peerIdFromString(peer)
      this.peerIds.set(peer, id)
    }
    return id
  }

  /** The Ed25519 key a PeerId embeds (swarm identities are Ed25519); null for any other kind, whose relays are not taken. */
  private keyOf (peer: string): KeyObject | null {
    let key = this.keys.get(peer)
    if (key === undefined) {
      const pk = this.peerIdOf(peer).publicKey
      key = pk?.type === 'Ed25519' ? createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, pk.raw]), format: 'der', type: 'spki' }) : null
      if (this.keys.size >= MAX_CACHED_KEYS) this.keys.clear()
      this.keys.set(peer, key)
    }
    return key
  }

  /** Newer than what the membership holds of that peer (so worth checking and stepping). */
  private isNewer (peer: string, incarnation: number, seq: number): boolean {
    const prev = this.membership.members.get(peer)?.hb
    return prev == null || incarnation > prev.incarnation || (incarnation === prev.incarnation && seq > prev.seq)
  }

  /**
   * A frame from peer `from`: its own heartbeat (the connection proves who sent it), then what it relays. A
   * relayed heartbeat counts only with a valid signature of the peer it speaks for, so no peer can make another
   * look alive, dead or master; it is taken as heard `ageMs` before now.
   */
  private onFrame (frame: HeartbeatFrame, from: string): void {
    if (!this.running) return
    const now = this.opts.now()
    let react = false
    const take = (hb: Heartbeat, sh: SignedHeartbeat, heardAt: number, relayed: boolean): void => {
      const r = stepMembership(this.membership, { type: 'heartbeat', hb, now: heardAt, relayed })
      if (r.state === this.membership) return
      this.membership = r.state
      this.signed.set(hb.peerId, { ...sh, incarnation: hb.incarnation, seq: hb.seq, ...(this.isMaster ? { material: materialKey(hb) } : {}) })
      if (relayed) this.heard.relayed++
      this.onMembershipEffects(r.effects)
      // React at once to a master's claim or departure instead of waiting for the next tick.
      if (hb.role !== 'follower' || hb.master !== this.master) react = true
    }
    try {
      take(parseHeartbeat(frame.hb, from), { text: frame.hb, sig: frame.sig }, now, false)
    } catch (err) {
      this.emit('warning', { message: (err as Error).message })
      return
    }
    for (const r of frame.relayed ?? []) {
      const claim = claimedPeer(r.hb)
      if (claim == null || claim.peerId === from || claim.peerId === this.peerId || !this.isNewer(claim.peerId, claim.incarnation, claim.seq)) continue
      try {
        const key = this.keyOf(claim.peerId)
        if (key == null || !verify(null, Buffer.from(r.hb), key, Buffer.from(r.sig, 'base64'))) continue
        take(parseHeartbeat(r.hb, claim.peerId), { text: r.hb, sig: r.sig }, now - Math.min(r.ageMs, this.opts.deadAfterMs), true)
      } catch (err) {
        this.emit('warning', { message: `heartbeat relayed by ${from} refused: ${(err as Error).message}` })
      }
    }
    // Vouched for by the master this peer follows: alive, and unchanged since it last relayed them here.
    if (from === this.master) {
      for (const v of frame.seen ?? []) {
        if (v.peer === this.peerId) continue
        this.membership = stepMembership(this.membership, { type: 'seen', peer: v.peer, heardAt: now - Math.min(v.ageMs, this.opts.deadAfterMs) }).state
        this.heard.seen++
      }
    }
    if (react) this.runElection()
  }

  private tick (): void {
    if (!this.running) return
    const now = this.opts.now()
    this.lag.record(now, this.lastTickAt == null ? 0 : now - this.lastTickAt - this.opts.tickMs)
    this.lastTickAt = now
    const master = this.master
    const mm = master == null ? undefined : this.membership.members.get(master)
    if (this.inStar && (mm == null || now - mm.lastSeen > lateAfterMs(this.opts.heartbeatMs))) {
      // The master went quiet: the members heard only through it are as fresh as the master's last relay,
      // which is at most a heartbeat old. Speak to everyone directly now, so they hear us before that runs out.
      this.membership = stepMembership(this.membership, { type: 'relay-lost', heardAt: now - this.opts.heartbeatMs }).state
      this.publish()
    }
    const r = stepMembership(this.membership, { type: 'tick', now })
    this.membership = r.state
    this.onMembershipEffects(r.effects)
    this.runElection()
  }

  private onMembershipEffects (effects: MembershipEffect[]): void {
    for (const e of effects) {
      if (e.type === 'joined') {
        // Perhaps heard through the master's relay: connect directly too, so the survivors can speak to
        // each other when the master goes (a --peer bootstrap, without mDNS, knows only one peer).
        this.connectTo(e.peer, e.hb.addrs)
        this.emit('peer:joined', { peerId: e.peer, hb: e.hb })
      } else {
        this.emit('peer:left', { peerId: e.peer, reason: e.reason })
      }
    }
  }

  private runElection (): void {
    if (this.election == null) return
    // The position we last told the others, not our live one: every peer must rank the candidates
    // on the same numbers, or two of them can each find itself the best (replication races the
    // heartbeats). Once the master is gone positions stop moving, and a heartbeat later all agree.
    const replicaPos = this.advertisedPos
    if (replicaPos !== this.election.replicaPos) this.stepElection({ type: 'replica', replicaPos })
    this.stepElection({ type: 'tick', now: this.opts.now(), live: this.liveView().map(candidateFromHeartbeat), unheard: this.unheard() })
  }

  /**
   * Swarm peers we are connected to but have not heard yet: serving the status protocol (every peer does;
   * clients such as `swarm status` do not), or not yet identified at all. Our view is incomplete while any exist.
   * A connection older than the failure timeout no longer counts: such a peer is silent, not late,
   * and must not hold up an election for ever.
   */
  private unheard (): number {
    const node = this.node
    if (node == null) return 0
    const now = this.opts.now()
    const seen = new Set<string>()
    let n = 0
    for (const conn of node.getConnections()) {
      const key = conn.remotePeer.toString()
      if (seen.has(key) || now - conn.timeline.open >= this.opts.deadAfterMs) continue
      seen.add(key)
      if (this.membership.members.get(key)?.alive === true) continue
      const kind = this.identified.get(key)
      if (kind === undefined || kind === 'member') n++
    }
    return n
  }

  private stepElection (event: ElectionEvent): void {
    if (this.election == null || !this.running || this.leaving) return
    const r = stepElection(this.election, event)
    this.election = r.state
    for (const e of r.effects) this.onElectionEffect(e)
  }

  private onElectionEffect (e: ElectionEffect): void {
    if (e.type === 'persist-epoch') {
      const db = this.db
      if (db == null) return
      // Serialised, so a lower epoch is never written after a higher one.
      this.persistChain = this.persistChain.then(async () => {
        await writeEpoch(db, Math.max(e.epoch, await readEpoch(db)))
        if (e.claim) this.stepElection({ type: 'persisted', epoch: e.epoch, live: this.liveView().map(candidateFromHeartbeat) })
      }).catch((err: Error) => { this.emit('warning', { message: `cannot persist epoch ${e.epoch}: ${err.message}` }) })
      return
    }
    if (e.type === 'epoch-refused') {
      this.emit('warning', { message: `peer ${e.peer} claims epoch ${e.epoch}, out of reach of this peer's ${e.own} and not backed by most peers: ignored` })
      return
    }
    this.emit('master', { master: e.master, epoch: e.epoch, self: e.self, previous: e.previous })
    this.publish()
  }

  private remember (id: PeerId): void {
    const key = id.toString()
    if (this.node != null && key !== this.peerId) this.known.set(key, { id, since: this.opts.now() })
  }

  /**
   * libp2p raises peer:discovery only for peers new to its peer store, and nothing redials a peer after
   * a partition heals or a restart: keep dialling known peers that are missing.
   */
  private redial (): void {
    if (this.node == null || !this.running) return
    const connected = new Set(this.connectedPeers())
    const now = this.opts.now()
    for (const [key, k] of this.known) {
      const m = this.membership.members.get(key)
      const lastNews = Math.max(k.since, m?.lastSeen ?? 0)
      // Given up on like a forgotten member: a peer gone this long has left the swarm for good.
      if (m == null && now - lastNews > this.opts.forgetAfterMs) this.known.delete(key)
      else if (!connected.has(key)) void this.dial(k.id)
    }
    for (const ma of this.opts.bootstrap) {
      const id = ma.getComponents().find(c => c.name === 'p2p')?.value
      if (id == null || !connected.has(id)) void this.dial(ma)
    }
  }

  private async dial (target: PeerId | Multiaddr): Promise<void> {
    const node = this.node
    if (node == null || !this.running) return
    const key = target.toString()
    if (this.dialing.has(key)) return
    this.dialing.add(key)
    try {
      await node.dial(target, { signal: AbortSignal.timeout(this.opts.dialTimeoutMs) })
    } catch (err) {
      // Expected while a peer is down or partitioned away; the redial loop tries again. A peer with
      // another swarm key (or none) is said once, by name: it will never connect.
      if (!this.keyWarned.has(key) && (looksLikeKeyMismatch(err) || await this.stalledOnKey(target, err))) {
        this.keyWarned.add(key)
        this.emit('warning', { message: keyMismatchMessage(key, this.opts.psk != null) })
      }
    } finally {
      this.dialing.delete(key)
    }
  }

  /**
   * A dial from this open peer that stalled: a keyed listener waits for a nonce it never gets, which looks
   * like a dead host. The address is asked directly (probeSwarmKey), at most once a PROBE_EVERY_MS per
   * target. (A keyed peer dialling an open one is reset at once instead, and a stall with a key can be a
   * slow peer of the same swarm: not probed.)
   */
  private async stalledOnKey (target: PeerId | Multiaddr, err: unknown): Promise<boolean> {
    const e = err as { name?: string } | undefined
    const key = target.toString()
    const now = this.opts.now()
    if (this.opts.psk != null || (e?.name !== 'TimeoutError' && e?.name !== 'AbortError')) return false
    if (now - (this.probedAt.get(key) ?? -Infinity) < PROBE_EVERY_MS) return false
    this.probedAt.set(key, now)
    if (this.probedAt.size > MAX_CACHED_KEYS) this.probedAt.delete(this.probedAt.keys().next().value as string)
    const addrs = isMultiaddr(target) ? [target] : await this.node?.peerStore.get(target).then(p => p.addresses.map(a => a.multiaddr), () => []) ?? []
    for (const ma of addrs) {
      const m = /^\/ip[46]\/([^/]+)\/tcp\/(\d+)/.exec(ma.toString())
      if (m != null) return await probeSwarmKey(m[1], Number(m[2])) === 'keyed'
    }
    return false
  }
}

/** DER SubjectPublicKeyInfo header of an Ed25519 key (RFC 8410): the raw 32 bytes follow it. */
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex')
/** Keys kept for relayed heartbeats; a swarm has far fewer members, and peers that come and go over weeks are let go. */
const MAX_CACHED_KEYS = 4096
/**
 * A master's digest carries every member's signed heartbeat at least this often (in frames, 5 s at the default
 * interval), so a follower that missed a change (a frame lost with its stream) has it again soon.
 */
export const FULL_DIGEST_EVERY = 10
/** A stalled target is probed for a swarm key at most this often: it is redialled every second meanwhile. */
const PROBE_EVERY_MS = 60_000

/** Over this window a peer reports its longest event-loop delay (a few heartbeats' worth). */
const LAG_WINDOW_MS = 5000

/** The largest value recorded in the last `windowMs`, in O(1) amortised (values in one-second buckets). */
class RecentMax {
  readonly #windowMs: number
  #buckets: Array<{ at: number, max: number }> = []

  constructor (windowMs: number) {
    this.#windowMs = windowMs
  }

  record (now: number, value: number): void {
    const at = Math.floor(now / 1000)
    const last = this.#buckets[this.#buckets.length - 1]
    if (last?.at === at) last.max = Math.max(last.max, value)
    else this.#buckets.push({ at, max: Math.max(0, value) })
    const oldest = Math.floor((now - this.#windowMs) / 1000)
    while (this.#buckets.length > 0 && this.#buckets[0].at < oldest) this.#buckets.shift()
  }

  max (): number {
    let m = 0
    for (const b of this.#buckets) if (b.max > m) m = b.max
    return Math.round(m)
  }
}
