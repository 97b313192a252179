// Tile results on disk: compressed (zstd) with their size, read back exactly; files in the old
// uncompressed layout still read; a file whose pixels disagree with its header is an error, not pixels.
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { createHash } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { JobFiles, tileName } from '../../src/scheduler/job-files.ts'
import type { Channels, RawImage } from '../../src/ops/index.ts'
import { photoLike } from '../ops/helpers.ts'

let dir: string
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'swarm-files-')) })
afterAll(async () => { await rm(dir, { recursive: true, force: true }) })

describe('job files: tiles', () => {
  it('a tile round-trips exactly in every channel count, and an edge-like result takes far less room', async () => {
    const files = new JobFiles(dir)
    await files.create('j1')
    for (const channels of [1, 2, 3, 4] as Channels[]) {
      const img = photoLike(37, 23, channels, channels)
      await files.writeTile('j1', channels, img)
      const back = await files.readTile('j1', channels)
      expect([back.width, back.height, back.channels]).toEqual([37, 23, channels])
      expect(Buffer.from(back.data).equals(Buffer.from(img.data))).toBe(true)
    }
    const edges: RawImage = { width: 256, height: 256, channels: 1, data: new Uint8Array(256 * 256) }
    for (let i = 0; i < 256; i++) edges.data[i * 257] = 255
    await files.writeTile('j1', 9, edges)
    const onDisk = (await readFile(files.pathOf('j1', tileName(9)))).byteLength
    expect(onDisk).toBeLessThan(edges.data.byteLength / 20)
    expect(Buffer.from((await files.readTile('j1', 9)).data).equals(Buffer.from(edges.data))).toBe(true)
  })

  it('reads a tile in the old uncompressed layout (a peer of the previous version wrote it)', async () => {
    const files = new JobFiles(dir)
    await files.create('j2')
    const img = photoLike(5, 4, 3, 1)
    const head = Buffer.alloc(9)
    head.writeUInt32BE(5, 0)
    head.writeUInt32BE(4, 4)
    head.writeUInt8(3, 8)
    await writeFile(files.pathOf('j2', tileName(0)), Buffer.concat([head, img.data]))
    const back = await files.readTile('j2', 0)
    expect([back.width, back.height, back.channels]).toEqual([5, 4, 3])
    expect(Buffer.from(back.data).equals(Buffer.from(img.data))).toBe(true)
  })

  it('a compressed tile whose pixels disagree with its header is refused', async () => {
    const files = new JobFiles(dir)
    await files.create('j3')
    await files.writeTile('j3', 0, photoLike(8, 8, 3, 2))
    const path = files.pathOf('j3', tileName(0))
    const buf = await readFile(path)
    buf.writeUInt32BE(9, 4) // the header now claims 9 columns
    await writeFile(path, buf)
    await expect(files.readTile('j3', 0)).rejects.toThrow(/tile 0 of job j3 holds 192 bytes, its header says 9x8x3/)
  })
})

describe('job files: received as they come', () => {
  it('a received file is hashed on the way and appears only once committed; a fill that fails leaves no file and no temporary', async () => {
    const files = new JobFiles(dir)
    const parts = [Buffer.from('hello '), Buffer.from('swarm')]
    const got = await files.receive('r1', 'input', async (write) => { for (const p of parts) await write(p) })
    expect(got.bytes).toBe(11)
    expect(got.sha256).toBe(createHash('sha256').update('hello swarm').digest('hex'))
    expect(await files.has('r1', 'input')).toBe(false)
    await got.commit()
    await got.discard() // after commit: nothing left to drop
    expect((await readFile(files.pathOf('r1', 'input'))).toString()).toBe('hello swarm')
    const failed = await files.receive('r1', 'tiles/0.raw', async (write) => {
      await write(Buffer.from('half'))
      throw new Error('stream ended after 4 of 10 bytes')
    }).catch((e: Error) => e)
    expect((failed as Error).message).toBe('stream ended after 4 of 10 bytes')
    expect(await files.has('r1', 'tiles/0.raw')).toBe(false)
    expect((await readdir(join(files.dir('r1'), 'tiles'))).filter(n => n.endsWith('.tmp'))).toEqual([])
    expect((await readdir(files.dir('r1'))).filter(n => n.endsWith('.tmp'))).toEqual([])
    expect(await files.freeBytes()).toBeGreaterThan(0)
  })
})

describe('job files: dropped while written', () => {
  it('dropping a job\'s tiles while late tiles are still written never fails, and leaves no aside copy', async () => {
    const files = new JobFiles(dir)
    const img = photoLike(16, 16, 3, 4)
    // Bounded: 20 rounds of 40 writes racing one drop. Before the drop renamed the tree aside, rm's walk
    // met a directory a write had just filled (ENOTEMPTY) within a few rounds here.
    for (let round = 0; round < 20; round++) {
      const job = `d${round}`
      await files.create(job)
      for (let i = 0; i < 20; i++) await files.writeTile(job, i, img)
      const writes = Array.from({ length: 40 }, async (_, i) => await files.writeTile(job, 100 + i, img))
      await files.dropTiles(job)
      await Promise.all(writes)
      expect((await readdir(files.dir(job))).filter(n => n.endsWith('.drop'))).toEqual([])
      await files.remove(job)
      expect(await files.has(job, tileName(0))).toBe(false)
    }
    expect((await readdir(dir)).filter(n => n.endsWith('.drop'))).toEqual([])
  })
})
