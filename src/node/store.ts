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
    const cause = (err as { cause?: { code?: string } }).cause
    if ((err as { code?: string }).code === 'LEVEL_DATABASE_NOT_OPEN' && (cause?.code === 'LEVEL_LOCKED' || /lock/i.test(String((cause as Error | undefined)?.message)))) {
      throw new DataDirLockedError(`data dir ${dataDir} is in use by another swarm process; stop that one or pass a different --data-dir`)
    }
    throw err
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
