#!/usr/bin/env node
// Entry point. Kept in plain JavaScript that Node 20 can parse, so that a user whose system node is
// older than 22 (Debian, Raspberry Pi OS) is handed over to the Node 22 that `npm install` brought
// in through the `node` package, instead of failing on libp2p's use of newer APIs.
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const major = Number(process.versions.node.split('.')[0])

// glibc gives each thread that allocates its own malloc arena, and libvips' threads free into arenas
// that never shrink: a peer's RSS stayed up to 130 MiB above what it used (three image bombs on 512 MiB
// peers under load: 496-516 MiB peaks; with two arenas 366-394 MiB). glibc reads this at start only,
// so a peer whose environment lacks it is started again with it; sharp's docs advise the same.
const ARENAS = '2'
const needsArenas = process.platform === 'linux' && process.env.MALLOC_ARENA_MAX == null && process.argv.slice(2).some(a => a === 'start' || a === 'run')

if (major < 22 || needsArenas) {
  const local = major < 22 ? join(here, '..', 'node_modules', 'node', 'bin', 'node') : process.execPath
  if (!existsSync(local)) {
    console.error(`swarm needs Node.js >= 22 (this is ${process.version}). Run \`npm install\` in the swarm folder: it brings Node 22 along.`)
    process.exit(1)
  }
  const env = process.platform === 'linux' && process.env.MALLOC_ARENA_MAX == null ? { ...process.env, MALLOC_ARENA_MAX: ARENAS } : process.env
  const child = spawn(local, [...(local === process.execPath ? process.execArgv : []), fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: ['inherit', 'inherit', 'inherit', 'ipc'], env })
  // A signal sent to this process alone (systemd's stop, `kill`, a test ending its peer) is passed on:
  // it used to end this wrapper and leave the Node 22 peer running, orphaned. Ctrl-C reaches both, and
  // the peer takes a second SIGINT as the first.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => { child.kill(signal) })
  child.on('error', (err) => { console.error(`cannot run ${local}: ${err.message}`); process.exit(1) })
  child.on('exit', (status, signal) => {
    if (signal) {
      process.removeAllListeners(signal)
      process.kill(process.pid, signal)
    }
    process.exit(status ?? 1)
  })
} else {
  if (process.channel != null) {
    // Started by the wrapper above: a wrapper killed with SIGKILL cannot pass it on, so its end (the IPC
    // channel closing) ends this process the same way, instead of leaving a peer running unseen.
    process.channel.unref()
    process.on('disconnect', () => { process.kill(process.pid, 'SIGKILL') })
  }
  await import('../src/ui-cli/main.ts')
}
