import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { SwarmPeer } from '../../src/node/peer.ts'
import { DataDirLockedError } from '../../src/node/store.ts'

const dirs: string[] = []
afterAll(async () => { for (const d of dirs) await rm(d, { recursive: true, force: true }) })

describe('data dir', () => {
  it('a second process on the same data dir fails at once with a clear message; the first keeps running', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'swarm-lock-'))
    dirs.push(dir)
    const opts = { dataDir: dir, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false }
    const first = new SwarmPeer(opts)
    await first.start()
    try {
      const second = new SwarmPeer(opts)
      const err = await second.start().catch((e: Error) => e)
      expect(err).toBeInstanceOf(DataDirLockedError)
      expect((err as Error).message).toContain(dir)
      expect((err as Error).message).toMatch(/in use by another swarm process/)
      expect(first.connectedPeers()).toEqual([])
      expect(first.addrs().length).toBeGreaterThan(0)
    } finally {
      await first.stop()
    }
    // Once the first has stopped, the data dir is free again, with the same identity.
    const again = new SwarmPeer(opts)
    await again.start()
    expect(again.peerId).toBe(first.peerId)
    await again.stop()
  })

  it('a store that cannot be opened for another reason says so, with the real error, not "in use"', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'swarm-lock-'))
    dirs.push(dir)
    // LevelDB cannot take a lock file that is a directory: the same failure on the LOCK file as a read-only
    // disk's, and one that root cannot bypass as it does permissions.
    await mkdir(join(dir, 'db', 'LOCK'), { recursive: true })
    const peer = new SwarmPeer({ dataDir: dir, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false })
    const err = await peer.start().catch((e: Error) => e)
    expect(err).toBeInstanceOf(Error)
    expect(err).not.toBeInstanceOf(DataDirLockedError)
    expect((err as Error).message).toContain(`cannot open the store in data dir ${dir}`)
    expect((err as Error).message).toMatch(/LOCK: .+/)
    expect((err as Error).message).not.toMatch(/in use/)
  })
})
