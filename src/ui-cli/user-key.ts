// The user this device speaks for: `swarm login` (or the first `swarm user add`) writes the user's key
// to user-key.json in the config dir ($SWARM_CONFIG_DIR, else the platform's, e.g. ~/.config/swarm), readable
// by this OS user only; every command that talks to the master signs with it.
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import envPaths from 'env-paths'
import { z } from 'zod'
import { DeviceKey } from '../transfer/request-auth.ts'

export const USER_KEY_FILE = 'user-key.json'

export function configDir (): string {
  return process.env.SWARM_CONFIG_DIR ?? envPaths('swarm', { suffix: '' }).config
}

export const userKeyPath = (): string => join(configDir(), USER_KEY_FILE)

const KeyFileSchema = z.object({ user: z.string().min(1).max(32), d: z.string().min(40).max(64), x: z.string().min(40).max(64) })

/** This device's user key, or undefined when no one logged in here; a damaged file is an error that says where it is. */
export async function loadDeviceKey (): Promise<DeviceKey | undefined> {
  const path = userKeyPath()
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
  try {
    return DeviceKey.fromJSON(KeyFileSchema.parse(JSON.parse(text)))
  } catch (err) {
    throw new Error(`${path} is not a user key (${(err as Error).message.split('\n')[0]}); log in again with \`swarm login NAME\` or remove it`)
  }
}

export async function saveDeviceKey (key: DeviceKey): Promise<string> {
  const path = userKeyPath()
  await mkdir(configDir(), { recursive: true, mode: 0o700 })
  await writeFile(path, `${JSON.stringify(key.toJSON())}\n`, { mode: 0o600 })
  await chmod(path, 0o600)
  return path
}

export async function removeDeviceKey (): Promise<void> {
  await rm(userKeyPath(), { force: true })
}
