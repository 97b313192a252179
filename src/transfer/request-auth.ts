// Who sent a request: a person's signature over it. A device holds an ed25519 key of its user's (made by
// `swarm login` or by the first `swarm user add`); the master holds the account with that key's public
// half (src/scheduler/records.ts, UserRecord) and checks each request against it. The signature covers
// the protocol, the master asked, the time, a fresh nonce and the request itself, so a captured request
// cannot be sent to another protocol, another master, later, or twice (the master keeps the nonces it saw
// within the allowed clock skew: ReplayGuard in src/scheduler/accounts.ts).
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, verify, type KeyObject } from 'node:crypto'
import { z } from 'zod'

/** What a signature is for: never valid as any other message signed with the same key. */
export const SIGNATURE_DOMAIN = 'swarm-request/1'
/** How far a request's time may be from the master's clock: devices on a LAN drift, but not by this much. */
export const AUTH_SKEW_MS = 5 * 60_000

export const AuthSchema = z.object({
  user: z.string().min(1).max(32),
  /** the device's clock when it signed, ms since the epoch */
  at: z.number().int().min(0),
  nonce: z.string().regex(/^[A-Za-z0-9_-]{16,64}$/),
  sig: z.string().regex(/^[A-Za-z0-9_-]{86}$/)
}).strict()
export type Auth = z.infer<typeof AuthSchema>

/** A request's author as the master sees it. null: no accounts exist (an open swarm), so no one is asked. */
export type Caller = { name: string, admin: boolean } | null

/** JSON with object keys sorted at every level: the same value signs to the same bytes on every device. */
export function canonicalJson (value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null'
  if (Array.isArray(value)) return `[${value.map(v => canonicalJson(v === undefined ? null : v)).join(',')}]`
  const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`
}

function signedBytes (protocol: string, master: string, auth: Omit<Auth, 'sig'>, body: Record<string, unknown>): Buffer {
  const { auth: _ignored, ...rest } = body
  return Buffer.from(canonicalJson([SIGNATURE_DOMAIN, protocol, master, auth.user, auth.at, auth.nonce, rest]))
}

/** A user's key on this device. */
export class DeviceKey {
  readonly user: string
  readonly #private: KeyObject
  /** The public half as the account stores it: raw 32 bytes, base64url. */
  readonly publicKey: string

  private constructor (user: string, key: KeyObject) {
    this.user = user
    this.#private = key
    this.publicKey = String(key.export({ format: 'jwk' }).x)
  }

  static generate (user: string): DeviceKey {
    return new DeviceKey(user, generateKeyPairSync('ed25519').privateKey)
  }

  /** From what `toJSON` wrote (a user's key file). */
  static fromJSON (value: { user: string, d: string, x: string }): DeviceKey {
    return new DeviceKey(value.user, createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d: value.d, x: value.x }, format: 'jwk' }))
  }

  toJSON (): { user: string, d: string, x: string } {
    const jwk = this.#private.export({ format: 'jwk' })
    return { user: this.user, d: String(jwk.d), x: String(jwk.x) }
  }

  /** The request with its `auth`, for `protocol` on the peer `master`, signed at `now`. */
  sign<T extends Record<string, unknown>> (protocol: string, master: string, body: T, now: number = Date.now()): T & { auth: Auth } {
    const unsigned = { user: this.user, at: Math.floor(now), nonce: randomBytes(18).toString('base64url') }
    const sig = sign(null, signedBytes(protocol, master, unsigned, body), this.#private).toString('base64url')
    return { ...body, auth: { ...unsigned, sig } }
  }
}

/** Whether `auth` is a signature over `body` for `protocol` on `master` by one of `keys` (raw base64url). */
export function signatureValid (protocol: string, master: string, body: Record<string, unknown>, auth: Auth, keys: readonly string[]): boolean {
  const data = signedBytes(protocol, master, auth, body)
  const sig = Buffer.from(auth.sig, 'base64url')
  for (const x of keys) {
    try {
      if (verify(null, data, createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x }, format: 'jwk' }), sig)) return true
    } catch {
      // a malformed stored key is no key
    }
  }
  return false
}
