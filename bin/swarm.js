#!/usr/bin/env node
// Entry point. Kept in plain JavaScript that Node 20 can parse, so that a user whose system node is
// older than 22 (Debian, Raspberry Pi OS) is handed over to the Node 22 that `npm install` brought
// in through the `node` package, instead of failing on libp2p's use of newer APIs.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const major = Number(process.versions.node.split('.')[0])

if (major < 22) {
  const local = join(here, '..', 'node_modules', 'node', 'bin', 'node')
  if (!existsSync(local)) {
    console.error(`swarm needs Node.js >= 22 (this is ${process.version}). Run \`npm install\` in the swarm folder: it brings Node 22 along.`)
    process.exit(1)
  }
  const child = spawnSync(local, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' })
  if (child.signal) process.kill(process.pid, child.signal)
  process.exit(child.status ?? 1)
}

await import('../src/ui-cli/main.ts')
