// The peer's private key lives in its data dir so that a restarted peer keeps its PeerId: the others
// then recognise it as the same member (and the same holder of a queue replica) coming back.
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'

export class IdentityError extends Error {
  override name = 'IdentityError'
}

export async function loadOrCreateIdentity (dataDir: string): Promise<PrivateKey> {
  const file = join(dataDir, 'identity.key')
  let bytes: Uint8Array | undefined
  try {
    bytes = await readFile(file)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new IdentityError(`cannot read ${file}: ${(err as Error).message}`)
  }
  if (bytes != null) {
    try {
      return privateKeyFromProtobuf(bytes)
    } catch (err) {
      throw new IdentityError(`${file} is not a valid peer key (${(err as Error).message}); move it away to create a new identity`)
    }
  }
  await mkdir(dataDir, { recursive: true })
  const key = await generateKeyPair('Ed25519')
  // wx: two peers racing on one fresh data dir must not end up with different keys.
  await writeFile(file, privateKeyToProtobuf(key), { mode: 0o600, flag: 'wx' })
  return key
}
