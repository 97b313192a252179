// Fuzzes the heartbeat decoders of src/node/heartbeat.ts, which every received and relayed heartbeat goes
// through: random and mutated bytes never throw anything but InvalidHeartbeatError (one line), what they
// accept is a schema-valid heartbeat of the peer that sent it, and claimedPeer never throws at all.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { claimedPeer, decodeHeartbeat, heartbeatText, HeartbeatSchema, InvalidHeartbeatError, parseHeartbeat } from '../../src/node/heartbeat.ts'
import { applyByteMutation, byteMutation } from './mutate.ts'
import { heartbeatOf } from './samples.ts'
import { expectOneLine } from './leaks.ts'
import { fuzz } from './runs.ts'

const enc = new TextEncoder()
/** A PeerId-like signer (base58 characters), as a connection names the remote peer. */
const signer = fc.stringMatching(/^12D3KooW[1-9A-HJ-NP-Za-km-z]{44}$/)
// Whoever a heartbeat is checked against is a PeerId (the connection's, or one a relayed text names and whose key
// verified it): no newline or control character can come from there.
const validHb = heartbeatOf({ peerId: signer })

function decodes (bytes: Uint8Array, from: string): ReturnType<typeof decodeHeartbeat> | undefined {
  try {
    const hb = decodeHeartbeat(bytes, from)
    expect(HeartbeatSchema.safeParse(hb).success).toBe(true)
    expect(hb.peerId).toBe(from)
    return hb
  } catch (err) {
    expect(err, String(err)).toBeInstanceOf(InvalidHeartbeatError)
    expectOneLine((err as Error).message)
    return undefined
  }
}

describe('heartbeat decoder fuzz', () => {
  it('random bytes and strings: a typed refusal, never a crash; claimedPeer never throws', () => {
    const input = fc.oneof(
      fc.uint8Array({ maxLength: 300 }),
      fc.string({ maxLength: 300 }).map(s => enc.encode(s)),
      fc.jsonValue({ maxDepth: 3 }).map(v => enc.encode(JSON.stringify(v))),
      fc.integer({ min: 1, max: 20_000 }).map(n => enc.encode('['.repeat(n))),
      fc.integer({ min: 16 * 1024 + 1, max: 20_000 }).map(n => new Uint8Array(n).fill(0x20))
    )
    fc.assert(fc.property(input, signer, (bytes, from) => {
      decodes(bytes, from)
      const claim = claimedPeer(new TextDecoder().decode(bytes))
      if (claim != null) {
        expect(typeof claim.peerId).toBe('string')
        expect(typeof claim.incarnation).toBe('number')
        expect(typeof claim.seq).toBe('number')
      }
    }), fuzz(400))
  })

  it('a valid heartbeat is taken from its own peer only; mutated after sending, it is refused or still a valid heartbeat of that peer', () => {
    fc.assert(fc.property(validHb, signer, fc.array(byteMutation, { minLength: 1, maxLength: 3 }), (hb, other, mutations) => {
      const text = heartbeatText(hb)
      expect(parseHeartbeat(text, hb.peerId)).toEqual(hb)
      expect(claimedPeer(text)).toEqual({ peerId: hb.peerId, incarnation: hb.incarnation, seq: hb.seq })
      if (other !== hb.peerId) expect(() => parseHeartbeat(text, other)).toThrow(InvalidHeartbeatError)
      const mutated = mutations.reduce(applyByteMutation, enc.encode(text))
      decodes(mutated, hb.peerId)
      claimedPeer(new TextDecoder().decode(mutated))
    }), fuzz(400))
  })
})
