// The optional swarm key (libp2p private network, pnet). Every connection is then encrypted with a
// pre-shared key before anything else is said, so a device without the key can neither connect,
// read, nor inject.
import { readFile } from 'node:fs/promises'
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
