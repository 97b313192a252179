// One LevelDB per data dir holds everything durable: the election epoch here, the queue and its
// replica later (as sublevels). LevelDB's lock file also keeps a second process off the same data dir.
import { Level } from 'level'
import { join } from 'node:path'
import { mkdir } from 'node:fs/promises'

export class DataDirLockedError extends Error {
  override name = 'DataDirLockedError'
}

export type SwarmDb = Level<string, string>

export async function openStore (dataDir: string): Promise<SwarmDb> {
  await mkdir(dataDir, { recursive: true })
  const db = new Level<string, string>(join(dataDir, 'db'), { valueEncoding: 'utf8' })
  try {
    await db.open()
  } catch (err) {
    // Only LEVEL_LOCKED is another process: any other failure on the LOCK file (a read-only disk, no
    // permission) names that file too, and once read as "in use" sent users looking for a process.
    const cause = (err as { cause?: { code?: string, message?: string } }).cause
    if (cause?.code === 'LEVEL_LOCKED') {
      throw new DataDirLockedError(`data dir ${dataDir} is in use by another swarm process; stop that one or pass a different --data-dir`)
    }
    throw new Error(`cannot open the store in data dir ${dataDir}: ${cause?.message ?? (err as Error).message}`, { cause: err })
  }
  return db
}

const EPOCH_KEY = 'node/epoch'

export async function readEpoch (db: SwarmDb): Promise<number> {
  const v = await db.get(EPOCH_KEY)
  return v == null ? 0 : Number(v)
}

export async function writeEpoch (db: SwarmDb, epoch: number): Promise<void> {
  // sync: an epoch is a promise never to act under an older one again, so it must survive power loss.
  await db.put(EPOCH_KEY, String(epoch), { sync: true })
}
