// The bulky part of a job lives in files beside the LevelDB queue: the submitted input as received,
// each tile's result (written before the queue is told the tile is done, so a restarted master still
// has it), the per-tile statistics, and the stitched output.
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { access, mkdir, readdir, readFile, rename, rm, stat, statfs, writeFile, open } from 'node:fs/promises'
import { join } from 'node:path'
import * as zlib from 'node:zlib'
import type { Channels, RawImage } from '../ops/index.ts'
import type { BlobSource, ReceivedFile } from '../transfer/blob.ts'
import { FRAME_BYTES } from '../transfer/messages.ts'

const BLOB_NAME = /^(input|output\.(png|jpg|webp|tif|avif|gif)|tiles\/\d{1,8}\.raw|tiles\/stats-\d{1,4}-\d{1,8}\.json)$/

export const tileName = (index: number): string => `tiles/${index}.raw`

/** "SWT2": a compressed tile. As the old layout's first field it would be a width over a billion, which no tile has. */
const TILE_MAGIC = 0x53575432
/** magic (4), width (4), height (4), channels (1) */
const TILE_HEAD_BYTES = 13

/**
 * zstd in Node's zlib (22.15 and later), level 1: the fastest, and already well above the streams' speed.
 * Each call works in one chunk of the size the result will have (the tile's bytes): with zlib's default
 * 16 KiB chunks every chunk is a round trip to the thread pool and a buffer to join, which more than
 * doubled the CPU of a 256 KiB tile (measured: decompress 2.8 -> 1.3 ms) and made a capped master's
 * stitch of 64 tiles take seconds.
 */
const zstd = typeof zlib.zstdCompress !== 'function'
  ? undefined
  : {
      compress: async (data: Uint8Array): Promise<Buffer> => await new Promise((resolve, reject) => {
        zlib.zstdCompress(data, { chunkSize: chunkFor(data.byteLength), params: { [zlib.constants.ZSTD_c_compressionLevel]: 1 } }, (err, out) => { if (err != null) reject(err); else resolve(out) })
      }),
      decompress: async (data: Uint8Array, size: number): Promise<Buffer> => await new Promise((resolve, reject) => {
        zlib.zstdDecompress(data, { chunkSize: chunkFor(size) }, (err, out) => { if (err != null) reject(err); else resolve(out) })
      })
    }

/** Never below zlib's default chunk (a small tile gains nothing from less). */
const chunkFor = (bytes: number): number => Math.max(zlib.constants.Z_DEFAULT_CHUNK, Math.min(bytes, MAX_CHUNK_BYTES))
/** One allocation per call up to a 4 MP RGBA tile; a larger result (a bogus header) grows chunk by chunk. */
const MAX_CHUNK_BYTES = 16 * 1024 * 1024

/** A tile file's pixels (as writeTile stores them, or a peer sent them); `name` is for the error. */
export async function decodeTile (bytes: Uint8Array, name: string): Promise<RawImage> {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (buf.byteLength >= TILE_HEAD_BYTES && buf.readUInt32BE(0) === TILE_MAGIC) {
    if (zstd == null) throw new Error(`${name} is zstd-compressed and this Node has no zstd (22.15 or later has)`)
    const width = buf.readUInt32BE(4)
    const height = buf.readUInt32BE(8)
    const channels = buf.readUInt8(12) as Channels
    const data = await zstd.decompress(buf.subarray(TILE_HEAD_BYTES), width * height * channels)
    if (data.byteLength !== width * height * channels) throw new Error(`${name} holds ${data.byteLength} bytes, its header says ${width}x${height}x${channels}`)
    return { width, height, channels, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) }
  }
  if (buf.byteLength < 9) throw new Error(`${name} is ${buf.byteLength} bytes: too short for a tile`)
  // The uncompressed layout (peers before zstd, or without it): width, height, channels, pixels.
  const width = buf.readUInt32BE(0)
  const height = buf.readUInt32BE(4)
  const channels = buf.readUInt8(8) as Channels
  return { width, height, channels, data: new Uint8Array(buf.buffer, buf.byteOffset + 9, buf.byteLength - 9) }
}

export const statsName = (phase: number, index: number): string => `tiles/stats-${phase}-${index}.json`

export class JobFiles {
  readonly root: string

  constructor (dataDir: string) {
    this.root = join(dataDir, 'jobs')
  }

  dir (jobId: string): string {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(jobId)) throw new Error(`invalid job id ${JSON.stringify(jobId)}`)
    return join(this.root, jobId)
  }

  inputPath (jobId: string): string { return join(this.dir(jobId), 'input') }

  /**
   * The files a job has, by name, as peers copy them to each other: `input`, `tiles/<index>.raw`,
   * `tiles/stats-<phase>-<index>.json`, `output.<ext>`. Anything else is refused (no path tricks).
   */
  pathOf (jobId: string, name: string): string {
    if (!BLOB_NAME.test(name)) throw new Error(`invalid blob name ${JSON.stringify(name)}`)
    return join(this.dir(jobId), name)
  }

  /** The names (as pathOf takes them) of the files held here for a job; none when it has no directory here. */
  async names (jobId: string): Promise<string[]> {
    const top = await readdir(this.dir(jobId)).catch(() => [] as string[])
    const tiles = top.includes('tiles') ? (await readdir(join(this.dir(jobId), 'tiles')).catch(() => [] as string[])).map(n => `tiles/${n}`) : []
    return [...top, ...tiles].filter(n => BLOB_NAME.test(n))
  }

  async has (jobId: string, name: string): Promise<boolean> {
    return await access(this.pathOf(jobId, name)).then(() => true, () => false)
  }

  async readBlob (jobId: string, name: string): Promise<Uint8Array> {
    return await readFile(this.pathOf(jobId, name))
  }

  /** The file to stream in chunks of the swarm's frame size (each chunks() call reads it from the start). */
  async openBlob (jobId: string, name: string): Promise<BlobSource> {
    const path = this.pathOf(jobId, name)
    const { size } = await stat(path)
    return { bytes: size, chunks: () => createReadStream(path, { highWaterMark: FRAME_BYTES }) as AsyncIterable<Uint8Array> }
  }

  async writeBlob (jobId: string, name: string, data: Uint8Array): Promise<void> {
    // The directories exist for all but a job's first file: create them only when the write says so.
    try {
      await this.atomicWrite(this.pathOf(jobId, name), data)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
      await mkdir(join(this.dir(jobId), 'tiles'), { recursive: true })
      await this.atomicWrite(this.pathOf(jobId, name), data)
    }
  }

  /**
   * A file received as it arrives: `fill` hands each chunk to `write`, which appends it to a temporary
   * file beside its place and hashes it, so none of it is held in memory (a put may announce gigabytes).
   * The caller then commits it (renamed into place) or discards it; a failed fill leaves nothing behind.
   */
  async receive (jobId: string, name: string, fill: (write: (chunk: Uint8Array) => Promise<void>) => Promise<void>): Promise<ReceivedFile> {
    const path = this.pathOf(jobId, name)
    await mkdir(join(this.dir(jobId), 'tiles'), { recursive: true })
    const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`
    const hash = createHash('sha256')
    let bytes = 0
    const fh = await open(tmp, 'w')
    try {
      await fill(async (chunk) => {
        hash.update(chunk)
        bytes += chunk.byteLength
        await fh.write(chunk)
      })
    } catch (err) {
      await fh.close().catch(() => {})
      await rm(tmp, { force: true })
      throw err
    }
    await fh.close()
    return {
      bytes,
      sha256: hash.digest('hex'),
      commit: async () => { await rename(tmp, path) },
      discard: async () => { await rm(tmp, { force: true }) }
    }
  }

  /** Bytes this data dir's disk has free for this process. */
  async freeBytes (): Promise<number> {
    await mkdir(this.root, { recursive: true })
    const s = await statfs(this.root)
    return s.bavail * s.bsize
  }

  /** The SHA-256 (hex) of one of a job's files, read as a stream. */
  async sha256 (jobId: string, name: string): Promise<string> {
    const hash = createHash('sha256')
    for await (const chunk of createReadStream(this.pathOf(jobId, name))) hash.update(chunk as Buffer)
    return hash.digest('hex')
  }

  outputPath (jobId: string, ext: string): string { return join(this.dir(jobId), `output.${ext}`) }

  async create (jobId: string): Promise<void> {
    await mkdir(join(this.dir(jobId), 'tiles'), { recursive: true })
  }

  /** Writes atomically (temp file + rename): a tile done twice, or a crash mid-write, leaves one whole file. */
  private async atomicWrite (path: string, data: Uint8Array | string): Promise<void> {
    const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`
    await writeFile(tmp, data)
    await rename(tmp, path)
  }

  /**
   * A tile result on disk, and as it travels between peers (standby copies, the stitch's fetches): the
   * size, then the pixels compressed with zstd at level 1 (measured on 1 MP tiles: 240-3000 MB/s, 1.8x
   * on a blurred photo, 480x on edges; the streams between peers carry under 200 MiB/s). The work runs
   * in libuv's thread pool, off the event loop.
   */
  async writeTile (jobId: string, index: number, img: RawImage): Promise<void> {
    if (zstd == null) {
      // Node without zstd (before 22.15): the pixels as they are, in the 9-byte-header layout.
      const raw = Buffer.alloc(9)
      raw.writeUInt32BE(img.width, 0)
      raw.writeUInt32BE(img.height, 4)
      raw.writeUInt8(img.channels, 8)
      await this.writeBlob(jobId, tileName(index), Buffer.concat([raw, img.data]))
      return
    }
    const head = Buffer.alloc(TILE_HEAD_BYTES)
    head.writeUInt32BE(TILE_MAGIC, 0)
    head.writeUInt32BE(img.width, 4)
    head.writeUInt32BE(img.height, 8)
    head.writeUInt8(img.channels, 12)
    const packed = await zstd.compress(img.data)
    await this.writeBlob(jobId, tileName(index), Buffer.concat([head, packed]))
  }

  async readTile (jobId: string, index: number): Promise<RawImage> {
    return await decodeTile(await readFile(this.pathOf(jobId, tileName(index))), `tile ${index} of job ${jobId}`)
  }

  async writeStats (jobId: string, phase: number, index: number, stats: unknown): Promise<void> {
    await this.writeBlob(jobId, statsName(phase, index), Buffer.from(JSON.stringify(stats)))
  }

  async readStats (jobId: string, phase: number, count: number): Promise<unknown[]> {
    const out: unknown[] = []
    for (let i = 0; i < count; i++) out.push(JSON.parse(await readFile(this.pathOf(jobId, statsName(phase, i)), 'utf8')))
    return out
  }

  /** Streams the input to disk as it arrives. */
  async openInput (jobId: string): Promise<{ write: (chunk: Uint8Array) => Promise<void>, close: () => Promise<void> }> {
    const fh = await open(this.inputPath(jobId), 'w')
    return {
      write: async (chunk) => { await fh.write(chunk) },
      close: async () => { await fh.sync(); await fh.close() }
    }
  }

  async writeOutput (jobId: string, ext: string, data: Uint8Array): Promise<string> {
    const path = this.outputPath(jobId, ext)
    await this.atomicWrite(path, data)
    return path
  }

  /**
   * Tiles are only needed until the output is stored. The input is kept with the output: after a
   * partition, another master may still need it to redo the job.
   */
  async dropTiles (jobId: string): Promise<void> {
    await this.removeTree(join(this.dir(jobId), 'tiles'))
  }

  async remove (jobId: string): Promise<void> {
    await this.removeTree(this.dir(jobId))
  }

  /**
   * A late write (a speculative copy's result, a standby copy arriving) may land in a directory while it
   * is being removed, and rm's walk then meets a directory that is not empty (CI saw ENOTEMPTY fail a
   * stitch). Renamed aside first, the tree is out of every writer's path at once; a writer that comes
   * later makes a fresh directory, as for a job's first file. rm's retries cover a write already open.
   */
  private async removeTree (path: string): Promise<void> {
    const aside = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.drop`
    try {
      await rename(path, aside)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
      throw err
    }
    await rm(aside, { recursive: true, force: true, maxRetries: 5, retryDelay: 20 })
  }
}
