// `swarm service`'s actions (options: ../commands/service.ts).
import { existsSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { userInfo } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { systemdUnit, UNIT_PATH } from '../systemd-unit.ts'
import { defaultDataDir } from '../shared-options.ts'

export interface ServiceOpts { dataDir?: string, key?: string, user?: string, startArgs?: string, unitPath?: string }

const BIN = fileURLToPath(new URL('../../../bin/swarm.js', import.meta.url))

function unitFor (opts: ServiceOpts): string {
  const user = opts.user ?? process.env.SUDO_USER ?? userInfo().username
  const key = opts.key ?? process.env.SWARM_KEY
  // A key given as a path is kept as a path (absolute: the service starts elsewhere); key text is refused,
  // it would sit in a world-readable unit file.
  if (key != null && !existsSync(key)) throw new Error(`--key must be a key file for a service (the unit file is readable by every user); ${JSON.stringify(key.slice(0, 20))} is not a file`)
  const dataDir = opts.dataDir ?? (user === userInfo().username ? defaultDataDir() : join('/home', user, '.local', 'share', 'swarm'))
  return systemdUnit({
    node: process.execPath, bin: BIN, dataDir: resolve(dataDir), user,
    ...(key != null ? { keyFile: resolve(key) } : {}),
    args: (opts.startArgs ?? '').split(/\s+/).filter(a => a !== '')
  })
}

export function serviceUnit (opts: ServiceOpts): void {
  process.stdout.write(unitFor(opts))
}

export async function serviceInstall (opts: ServiceOpts): Promise<void> {
  const path = opts.unitPath ?? UNIT_PATH
  try {
    await writeFile(path, unitFor(opts), { mode: 0o644 })
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EACCES' || code === 'EPERM') throw new Error(`cannot write ${path}: run it as root (sudo npx swarm service install --user $USER ...)`)
    throw err
  }
  console.log(`wrote ${path}; start it now and at every boot with:\n  sudo systemctl daemon-reload && sudo systemctl enable --now swarm\nits log: journalctl -u swarm -f`)
}
