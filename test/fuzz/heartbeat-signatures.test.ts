// Fuzzes what a running peer makes of heartbeat frames (SwarmPeer's frame handler, the one HeartbeatService
// calls): a relayed heartbeat whose text or signature was changed after signing, or that another key signed,
// never changes the membership; the unaltered one is taken. Hostile frames never throw, and the peer stops
// with its files and sockets closed.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SwarmPeer } from '../../src/node/peer.ts'
import { heartbeatText, type Heartbeat, type HeartbeatFrame } from '../../src/node/heartbeat.ts'
import { applyByteMutation, byteMutation } from './mutate.ts'
import { heartbeatOf, otherSamples } from './samples.ts'
import { openFds, settledFds } from './leaks.ts'
import { fuzz, fuzzTimeout, runs } from './runs.ts'

const SIGNERS = 4
let dir: string
let peer: SwarmPeer
let fdsBefore: number | undefined
const keys: PrivateKey[] = []
const ids: string[] = []
let relay: { key: PrivateKey, id: string }
/** Every heartbeat of a case is newer than the last one: only a newer one can change anything. */
let seq = 0

/** SwarmPeer's handler of a received frame (private: reached as HeartbeatService reaches it). */
const onFrame = (frame: HeartbeatFrame, from: string): void => {
  (peer as unknown as { onFrame: (f: HeartbeatFrame, from: string) => void }).onFrame(frame, from)
}

beforeAll(async () => {
  fdsBefore = openFds()
  dir = await mkdtemp(join(tmpdir(), 'swarm-fuzz-hb-'))
  // Slow timers and not eligible: the cases below, not the peer's own heartbeats or an election, move its state.
  peer = new SwarmPeer({ dataDir: join(dir, 'peer'), listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, name: 'fuzz', eligible: false, heartbeatMs: 60_000, deadAfterMs: 600_000, tickMs: 10_000 })
  await peer.start()
  for (let i = 0; i < SIGNERS; i++) {
    const k = await generateKeyPair('Ed25519')
    keys.push(k)
    ids.push(peerIdFromPrivateKey(k).toString())
  }
  const rk = await generateKeyPair('Ed25519')
  relay = { key: rk, id: peerIdFromPrivateKey(rk).toString() }
})

afterAll(async () => {
  await peer?.kill()
  if (dir != null) await rm(dir, { recursive: true, force: true })
  // The peer's LevelDB files and its TCP listener are closed again.
  const fds = await settledFds(fdsBefore, 4)
  if (fdsBefore != null) expect(fds).toBeLessThanOrEqual(fdsBefore + 4)
})

const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64')
async function sign (key: PrivateKey, text: string): Promise<string> {
  return b64(await key.sign(new TextEncoder().encode(text)))
}

/** What the peer holds of each signer: the heartbeat it counts and how it heard it. */
function view (): string {
  const live = new Map(peer.liveView().map(h => [h.peerId, h]))
  return JSON.stringify(ids.map(id => [live.get(id) ?? null, peer.heardVia(id) ?? null]))
}

// The relaying peer's own heartbeat: it speaks for the connection it came on, so it is always taken.
async function relayOwn (): Promise<{ hb: string, sig: string }> {
  const hb: Heartbeat = {
    v: 1, peerId: relay.id, name: 'relay', incarnation: 1, seq: ++seq, role: 'follower', epoch: 0, master: null, eligible: false, replicaPos: 0,
    load: { cores: 1, freeSlots: 0, busyTiles: 0, freeMem: 0, tileSpeed: 0 }, arch: 'x64', platform: 'linux', version: '0', addrs: []
  }
  const text = heartbeatText(hb)
  return { hb: text, sig: await sign(relay.key, text) }
}

const FIELDS = ['peerId', 'seq', 'incarnation', 'role', 'epoch', 'master', 'eligible', 'name', 'replicaPos'] as const

const mutation = fc.oneof(
  { weight: 3, arbitrary: fc.constant({ kind: 'none' as const }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('text' as const), m: fc.array(byteMutation, { minLength: 1, maxLength: 3 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('field' as const), field: fc.constantFrom(...FIELDS), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('sig' as const), m: fc.array(byteMutation, { minLength: 1, maxLength: 2 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('sigText' as const), m: fc.array(byteMutation, { minLength: 1, maxLength: 2 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('otherKey' as const), other: fc.nat() }) }
)

/** A field of a signed heartbeat changed to another valid value: still a well-formed heartbeat, not the signed one. */
function changeField (hb: Heartbeat, field: typeof FIELDS[number], pick: number): Heartbeat {
  switch (field) {
    case 'peerId': return { ...hb, peerId: ids[(ids.indexOf(hb.peerId) + 1 + pick % (SIGNERS - 1)) % SIGNERS] }
    case 'seq': return { ...hb, seq: hb.seq + 1 + pick % 1000 }
    case 'incarnation': return { ...hb, incarnation: hb.incarnation + 1 + pick % 10 }
    case 'role': return { ...hb, role: hb.role === 'follower' ? 'master' : 'follower' }
    case 'epoch': return { ...hb, epoch: hb.epoch + 1 + pick % 64 }
    case 'master': return { ...hb, master: hb.master == null ? ids[pick % SIGNERS] : null }
    case 'eligible': return { ...hb, eligible: !hb.eligible }
    case 'name': return { ...hb, name: `${hb.name.slice(0, 60)}x` }
    case 'replicaPos': return { ...hb, replicaPos: hb.replicaPos + 1 + pick % 100 }
  }
}

describe('heartbeat signature fuzz (a running peer)', () => {
  it('a relayed heartbeat counts only as signed: any change to its text or signature, or another key, leaves the membership as it was', async () => {
    const seen = { taken: 0, refused: 0 }
    const hbArb = heartbeatOf({ role: fc.constantFrom('joining', 'follower'), addrs: fc.constant([]) })
    await fc.assert(fc.asyncProperty(fc.nat({ max: SIGNERS - 1 }), hbArb, mutation, fc.integer({ min: 0, max: 1000 }), async (i, base, m, ageMs) => {
      const own = await relayOwn()
      const hb: Heartbeat = { ...base, peerId: ids[i], incarnation: 1, seq: ++seq }
      const text = heartbeatText(hb)
      const sig = await sign(keys[i], text)
      let text2 = text
      let sig2 = sig
      const enc = new TextEncoder()
      switch (m.kind) {
        case 'none': break
        case 'text': text2 = new TextDecoder().decode(m.m.reduce(applyByteMutation, enc.encode(text))); break
        case 'field': text2 = heartbeatText(changeField(hb, m.field, m.pick)); break
        case 'sig': sig2 = b64(m.m.reduce(applyByteMutation, new Uint8Array(Buffer.from(sig, 'base64')))); break
        case 'sigText': sig2 = new TextDecoder().decode(m.m.reduce(applyByteMutation, enc.encode(sig))); break
        case 'otherKey': sig2 = await sign(keys[(i + 1 + m.other % (SIGNERS - 1)) % SIGNERS], text); break
      }
      // As signed, byte for byte (a base64 text can change without changing the bytes it stands for).
      const unaltered = text2 === text && Buffer.from(sig2, 'base64').equals(Buffer.from(sig, 'base64'))
      const before = view()
      expect(() => { onFrame({ v: 1, ...own, relayed: [{ hb: text2, sig: sig2, ageMs }] }, relay.id) }).not.toThrow()
      if (unaltered) {
        seen.taken++
        expect(peer.liveView().find(h => h.peerId === ids[i])).toEqual(hb)
        expect(peer.heardVia(ids[i])).toBe('relay')
      } else {
        seen.refused++
        expect(view(), `a ${m.kind} mutation changed the membership`).toBe(before)
      }
    }), fuzz(300))
    // Not vacuous: both outcomes were exercised (a tiny FUZZ_RUNS may draw only one of them).
    if (runs(300) >= 100) {
      expect(seen.taken).toBeGreaterThan(0)
      expect(seen.refused).toBeGreaterThan(0)
    }
  }, fuzzTimeout())

  it('a heartbeat that speaks for another peer than its connection is refused, signed or not', async () => {
    const hbArb = heartbeatOf({ role: fc.constantFrom('joining', 'follower'), addrs: fc.constant([]) })
    await fc.assert(fc.asyncProperty(fc.nat({ max: SIGNERS - 1 }), hbArb, async (i, base) => {
      const hb: Heartbeat = { ...base, peerId: ids[i], incarnation: 1, seq: ++seq }
      const text = heartbeatText(hb)
      const before = view()
      // Signed by the peer it names, but sent by the relay as its own.
      onFrame({ v: 1, hb: text, sig: await sign(keys[i], text) }, relay.id)
      expect(view()).toBe(before)
    }), fuzz(100))
  }, fuzzTimeout())

  it('hostile frames (any schema-valid frame, with random texts and signatures) never throw and never touch the signers', () => {
    const frame = otherSamples.HeartbeatFrameSchema.valid as fc.Arbitrary<HeartbeatFrame>
    fc.assert(fc.property(frame, (f) => {
      const before = view()
      expect(() => { onFrame(f, relay.id) }).not.toThrow()
      expect(view()).toBe(before)
    }), fuzz(300))
  })
})
