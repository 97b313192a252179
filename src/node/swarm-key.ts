// The optional swarm key (libp2p private network, pnet). Every connection is then encrypted with a
// pre-shared key before anything else is said, so a device without the key can neither connect,
// read, nor inject.
import { readFile } from 'node:fs/promises'
import { connect } from 'node:net'
import { generateKey } from '@libp2p/pnet'

export class SwarmKeyError extends Error {
  override name = 'SwarmKeyError'
}

const HEADER = '/key/swarm/psk/1.0.0/'

export function generateSwarmKey (): string {
  const buf = new Uint8Array(95)
  generateKey(buf)
  return new TextDecoder().decode(buf)
}

/** Checks the text of a key and returns the bytes @libp2p/pnet expects. */
export function parseSwarmKey (text: string, source: string): Uint8Array {
  const lines = text.trim().split(/\r?\n/).map(l => l.trim())
  if (lines[0] !== HEADER || lines[1] !== '/base16/' || lines.length !== 3 || !/^[0-9a-fA-F]{64}$/.test(lines[2] ?? '')) {
    throw new SwarmKeyError(`${source} is not a swarm key: expected three lines "${HEADER}", "/base16/" and 64 hex digits (make one with \`swarm key generate > swarm.key\`)`)
  }
  return new TextEncoder().encode(`${HEADER}\n/base16/\n${lines[2].toLowerCase()}`)
}

/**
 * Resolves the key from --key <file>, else SWARM_KEY (a file path, or the key text itself).
 * Returns undefined when neither is given: the swarm is then open.
 */
export async function resolveSwarmKey (keyFile: string | undefined, env: NodeJS.ProcessEnv = process.env): Promise<Uint8Array | undefined> {
  if (keyFile != null) return parseSwarmKey(await readKeyFile(keyFile), keyFile)
  const fromEnv = env.SWARM_KEY
  if (fromEnv == null || fromEnv === '') return undefined
  if (fromEnv.trim().startsWith(HEADER)) return parseSwarmKey(fromEnv, 'SWARM_KEY')
  return parseSwarmKey(await readKeyFile(fromEnv), `SWARM_KEY file ${fromEnv}`)
}

async function readKeyFile (path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8')
  } catch (err) {
    throw new SwarmKeyError(`cannot read swarm key ${path}: ${(err as Error).message}`)
  }
}

/**
 * Whether a failed dial looks like a swarm-key mismatch: the private-network layer decrypts the other
 * side's bytes to garbage (EncryptionFailedError, a reset, a stalled handshake). A refused or unreachable
 * address is not one. `stalls`: a handshake that timed out counts too (a client dialling one address it
 * was given; a peer redialling a partitioned one must not take it for a key).
 */
export function looksLikeKeyMismatch (err: unknown, opts: { stalls?: boolean } = {}): boolean {
  const e = err as { name?: string, code?: string, message?: string, cause?: unknown } | undefined
  if (e == null) return false
  if (e.name === 'EncryptionFailedError' || e.name === 'InvalidCryptoExchangeError' || e.name === 'UnexpectedEOFError') return true
  if (e.code === 'ECONNRESET' || /ECONNRESET|Message length|Missing newline|stream ended before/i.test(e.message ?? '')) return true
  if (opts.stalls === true && (e.name === 'TimeoutError' || e.name === 'AbortError')) return true
  return e.cause != null && e.cause !== err && looksLikeKeyMismatch(e.cause, opts)
}

/** A private-network peer sends its 24-byte nonce as soon as a connection is open, before it reads anything. */
export const PNET_NONCE_BYTES = 24
/** How long a probe waits for that nonce: a live peer's comes within milliseconds. */
export const PROBE_MS = 1000

/**
 * Why a dial to a TCP address stalled, asked of the address itself with a bare socket: 'keyed' when the
 * listener sent a nonce's worth of bytes unasked (a peer with a swarm key: only pnet speaks first),
 * 'silent' when it accepted and said nothing (a peer without a key, or a hung process), 'unreachable'
 * when no connection opened within PROBE_MS (a cable, a partition, a dead host).
 */
export async function probeSwarmKey (host: string, port: number, timeoutMs = PROBE_MS): Promise<'keyed' | 'silent' | 'unreachable'> {
  return await new Promise((resolve) => {
    let got = 0
    let opened = false
    const socket = connect({ host, port })
    const done = (v: 'keyed' | 'silent' | 'unreachable'): void => { clearTimeout(timer); socket.destroy(); resolve(v) }
    const timer = setTimeout(() => { done(!opened ? 'unreachable' : got >= PNET_NONCE_BYTES ? 'keyed' : 'silent') }, timeoutMs)
    socket.on('connect', () => { opened = true })
    socket.on('data', (d: Buffer) => { got += d.byteLength; if (got >= PNET_NONCE_BYTES) done('keyed') })
    socket.on('error', () => { done(opened ? 'silent' : 'unreachable') })
  })
}

/** The sentence for a key mismatch, from the side of one who has (or has not) a key. */
export function keyMismatchMessage (target: string, hasKey: boolean): string {
  return hasKey
    ? `${target} did not complete the handshake with this swarm key: it uses another key, or none (check --key / $SWARM_KEY on both)`
    : `${target} did not complete the handshake: it uses a swarm key; pass it with --key <file> or $SWARM_KEY`
}
