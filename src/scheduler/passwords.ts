// Passwords for the dashboard and `swarm login`, stored as scrypt hashes (node:crypto): slow on purpose,
// salted, so a copied replica does not give passwords away cheaply. Stored as scrypt$N$r$p$salt$hash so a
// later change of cost still reads the old ones.
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto'

/** scrypt's cost: 2^15 x 8 takes ~100 ms and 32 MiB here, once per login, not per request. */
const COST = 2 ** 15
const BLOCK = 8
const PARALLEL = 1
const KEY_BYTES = 32
/** scrypt's memory is 128 x N x r bytes; node refuses past its default maxmem (32 MiB) unless told. */
const MAX_MEM = 128 * COST * BLOCK * 2
/** Shorter is guessed in minutes by anyone with a copy of the queue. */
export const MIN_PASSWORD_CHARS = 8
export const MAX_PASSWORD_CHARS = 1024

async function derive (password: string, salt: Buffer, n: number, r: number, p: number): Promise<Buffer> {
  return await new Promise((resolve, reject) => {
    scrypt(password.normalize('NFC'), salt, KEY_BYTES, { N: n, r, p, maxmem: Math.max(MAX_MEM, 128 * n * r * 2) }, (err, key) => { if (err != null) reject(err); else resolve(key) })
  })
}

/** Why this password cannot be used, or undefined. */
export function passwordError (password: string): string | undefined {
  if (password.length < MIN_PASSWORD_CHARS) return `a password must have at least ${MIN_PASSWORD_CHARS} characters, got ${password.length}`
  if (password.length > MAX_PASSWORD_CHARS) return `a password must have at most ${MAX_PASSWORD_CHARS} characters, got ${password.length}`
  return undefined
}

export async function hashPassword (password: string): Promise<string> {
  const salt = randomBytes(16)
  const key = await derive(password, salt, COST, BLOCK, PARALLEL)
  return `scrypt$${COST}$${BLOCK}$${PARALLEL}$${salt.toString('base64url')}$${key.toString('base64url')}`
}

export async function checkPassword (password: string, stored: string | undefined): Promise<boolean> {
  const parts = (stored ?? '').split('$')
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false
  const [n, r, p] = parts.slice(1, 4).map(Number)
  // Bounded so a forged record cannot make the master spend gigabytes on one login.
  if (![n, r, p].every(Number.isSafeInteger) || n > 2 ** 20 || r > 32 || p > 4) return false
  const want = Buffer.from(parts[5], 'base64url')
  const got = await derive(password, Buffer.from(parts[4], 'base64url'), n, r, p)
  return want.length === got.length && timingSafeEqual(want, got)
}
