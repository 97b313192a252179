// Options the CLI must refuse itself, with one sentence naming the option and the allowed range, before it
// dials anyone: a value the master would refuse used to reach it, and the user saw the stream reset as
// "master changed".
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { swarmCli } from './cli.ts'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { diskSize, hostPort, intInRange, retention } from '../../src/ui-cli/shared-options.ts'

const swarm = swarmCli

describe('CLI options', () => {
  it('intInRange takes whole numbers within its bounds and names the option and bounds otherwise', () => {
    const tile = intInRange('--tile-size', 16, 16384)
    expect(tile('16')).toBe(16)
    expect(tile('16384')).toBe(16384)
    for (const bad of ['8', '20000', '15.5', '', 'abc', '-16']) {
      expect(() => tile(bad), bad).toThrow(`--tile-size must be a whole number from 16 to 16384, got "${bad}"`)
    }
  })

  it('swarm submit --tile-size out of range fails at once with that sentence', async () => {
    for (const size of ['8', '20000']) {
      const { code, stderr } = await swarm(['submit', 'no-such.png', '--op', 'invert', '--tile-size', size])
      expect(code, stderr).not.toBe(0)
      expect(stderr).toContain(`--tile-size must be a whole number from 16 to 16384, got "${size}"`)
    }
  })

  it('swarm start --tile-size or --port out of range fails at once with that sentence', async () => {
    // Were the option taken, the peer would start: on loopback, without multicast, in a scratch data dir.
    const dir = await mkdtemp(join(tmpdir(), 'swarm-cli-'))
    try {
      const safe = ['--no-mdns', '--data-dir', dir]
      const tile = await swarm(['start', ...safe, '--listen', '/ip4/127.0.0.1/tcp/0', '--tile-size', '4'])
      expect(tile.code, tile.stderr).not.toBe(0)
      expect(tile.stderr).toContain('--tile-size must be a whole number from 16 to 16384, got "4"')
      const port = await swarm(['start', ...safe, '--port', '70000'])
      expect(port.code, port.stderr).not.toBe(0)
      expect(port.stderr).toContain('--port must be a whole number from 0 to 65535, got "70000"')
      const memory = await swarm(['start', ...safe, '--listen', '/ip4/127.0.0.1/tcp/0', '--max-memory', '100M'])
      expect(memory.code, memory.stderr).not.toBe(0)
      expect(memory.stderr).toContain('--max-memory must be a size of at least 256 MiB (e.g. 512M, 2G), got "100M"')
    } finally { await rm(dir, { recursive: true, force: true }) }
  })

  it('--retain takes an age, 0 or forever, and --max-disk a size of at least 1 MiB; otherwise one sentence naming the option', () => {
    const retain = retention('--retain')
    expect(retain('7d')).toBe(7 * 86_400_000)
    expect(retain('30m')).toBe(1_800_000)
    expect(retain('1.5h')).toBe(5_400_000)
    expect(retain('0')).toBe(0)
    expect(retain('forever')).toBe('forever')
    for (const bad of ['7', '-1d', 'week', '']) expect(() => retain(bad)).toThrow(`--retain must be an age such as 30m, 12h, 7d, 0 (remove as soon as it is safe) or forever, got "${bad}"`)
    const disk = diskSize('--max-disk')
    expect(disk('2GiB')).toBe(2 * 1024 ** 3)
    expect(disk('2G')).toBe(2 * 1024 ** 3)
    expect(disk('500MB')).toBe(500_000_000)
    expect(disk('1.5 MiB')).toBe(1.5 * 1024 ** 2)
    for (const bad of ['500', '100K', '2 parsecs', '-1G']) expect(() => disk(bad)).toThrow(`--max-disk must be a size of at least 1 MiB such as 500MB, 20G or 2GiB, got "${bad}"`)
  })

  it('--dashboard takes HOST:PORT or a port, and names itself otherwise', () => {
    const parse = hostPort('--dashboard', '127.0.0.1')
    expect(parse('0.0.0.0:7070')).toEqual({ host: '0.0.0.0', port: 7070 })
    expect(parse('[::1]:8080')).toEqual({ host: '::1', port: 8080 })
    expect(parse('127.0.0.1:0')).toEqual({ host: '127.0.0.1', port: 0 })
    expect(parse('7071')).toEqual({ host: '127.0.0.1', port: 7071 })
    for (const bad of ['abc', '1.2.3.4:99999', ':80', '127.0.0.1:', '::1:80', '']) {
      expect(() => parse(bad), bad).toThrow(`--dashboard must be HOST:PORT (e.g. 0.0.0.0:7070 to serve the LAN) or a port, got "${bad}"`)
    }
  })

  it('swarm start with a dashboard address that is taken stops with the reason (a default one would move on)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'swarm-cli-'))
    const taken = createServer()
    await new Promise<void>(resolve => { taken.listen(0, '127.0.0.1', resolve) })
    const port = (taken.address() as AddressInfo).port
    try {
      const r = await swarm(['start', '--no-mdns', '--data-dir', dir, '--listen', '/ip4/127.0.0.1/tcp/0', '--dashboard', `127.0.0.1:${port}`])
      expect(r.code, r.stderr).toBe(1)
      expect(r.stderr).toContain(`cannot serve the dashboard on 127.0.0.1:${port}`)
      expect(r.stderr).toContain('pick another with --dashboard HOST:PORT')
    } finally {
      await new Promise<void>(resolve => { taken.close(() => { resolve() }) })
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('swarm prune refuses a bad age or state with a sentence naming the option, and will not remove without --yes off a terminal', async () => {
    const age = await swarm(['prune', '--older-than', '3x'])
    expect(age.code, age.stderr).not.toBe(0)
    expect(age.stderr).toContain('--older-than must be an age such as 30m, 12h, 7d or 0, got "3x"')
    const state = await swarm(['prune', '--state', 'done,running'])
    expect(state.code, state.stderr).not.toBe(0)
    expect(state.stderr).toContain('--state must be a comma-separated list of done, failed, cancelled, got "done,running"')
    // stdin is not a terminal here: no question can be asked, so nothing is looked for or removed.
    const blind = await swarm(['prune', '--peer', '/ip4/127.0.0.1/tcp/1/p2p/12D3KooWGRUVh6bjBLRcMpvqLwVX3hrNaTNuQ6J8s7pjeFMFdd6u'])
    expect(blind.code, blind.stderr).toBe(1)
    expect(blind.stderr).toContain('pass --yes to do it without a terminal (or --dry-run to list them)')
  })
})
