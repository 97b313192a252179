// The small protocol services between real libp2p nodes on 127.0.0.1: each answers once started and is
// gone once stopped (start/stop register and unregister its handler), and the blob server's epoch rule.
import { createHash } from 'node:crypto'
import { afterEach, describe, expect, it } from 'vitest'
import { BlobService, DISK_RESERVE_BYTES, dropBlobs, getBlob, getBlobInto, hasBlob, putBlob, type BlobSource, type BlobStore, type ReceivedFile } from '../../src/transfer/blob.ts'
import { MalformedFrameError, RemoteError } from '../../src/transfer/errors.ts'
import { ErrorCodes } from '../../src/transfer/messages.ts'
import { queryStatus, StatusService, type StatusSnapshot } from '../../src/transfer/status.ts'
import { TileDoneService, type TileNotice } from '../../src/transfer/tile-done.ts'
import { bytes, Nodes } from './helpers.ts'

const nodes = new Nodes()
afterEach(async () => { await nodes.stopAll() })

async function pair (): Promise<[Awaited<ReturnType<Nodes['start']>>, Awaited<ReturnType<Nodes['start']>>]> {
  const [a, b] = [await nodes.start(), await nodes.start()]
  await a.dial(b.getMultiaddrs()[0])
  return [a, b]
}

/** Job files in memory; names as JobFiles allows them. */
class MemoryFiles implements BlobStore {
  readonly blobs = new Map<string, Uint8Array>()
  pathOf = (jobId: string, name: string): string => {
    if (!/^[\w/.-]+$/.test(name) || name.includes('..')) throw new Error(`bad name ${name}`)
    return `${jobId}/${name}`
  }

  /** Disk space the service sees. */
  free = Number.MAX_SAFE_INTEGER
  freeBytes = async (): Promise<number> => this.free
  receive = async (jobId: string, name: string, fill: (write: (chunk: Uint8Array) => Promise<void>) => Promise<void>): Promise<ReceivedFile> => {
    const chunks: Uint8Array[] = []
    await fill(async (c) => { chunks.push(c.slice()) })
    const data = new Uint8Array(Buffer.concat(chunks))
    return {
      bytes: data.byteLength,
      sha256: createHash('sha256').update(data).digest('hex'),
      commit: async () => { this.blobs.set(this.pathOf(jobId, name), data) },
      discard: async () => {}
    }
  }

  readBlob = async (jobId: string, name: string): Promise<Uint8Array> => {
    const b = this.blobs.get(this.pathOf(jobId, name))
    if (b == null) throw new Error('ENOENT')
    return b
  }

  openBlob = async (jobId: string, name: string): Promise<BlobSource> => {
    const b = await this.readBlob(jobId, name)
    return { bytes: b.byteLength, chunks: async function * () { for (let i = 0; i < b.byteLength; i += 1 << 20) yield b.subarray(i, i + (1 << 20)) } }
  }

  sha256 = async (jobId: string, name: string): Promise<string> => createHash('sha256').update(await this.readBlob(jobId, name)).digest('hex')
  has = async (jobId: string, name: string): Promise<boolean> => this.blobs.has(this.pathOf(jobId, name))
}

describe('protocol services start and stop', () => {
  it('status: answers with its snapshot once started, not after stop', async () => {
    const [client, peer] = await pair()
    const snap: StatusSnapshot = { respondent: peer.peerId.toString(), master: null, epoch: 4, peers: [] }
    const service = new StatusService({ libp2p: peer }, { snapshot: () => snap })
    await service.start()
    await service.start() // idempotent: a second handle() of the same protocol would throw
    expect(await queryStatus(client, peer.peerId, 5000)).toEqual(snap)
    await service.stop()
    await expect(queryStatus(client, peer.peerId, 5000)).rejects.toThrow()
  })

  it('blob: put, get and drop; a put from an older epoch is refused; nothing is served after stop', async () => {
    const [master, standby] = await pair()
    const files = new MemoryFiles()
    const dropped: string[] = []
    let followed = 3
    const service = new BlobService({ libp2p: standby }, { files, epoch: () => followed, onDrop: async (jobId) => { dropped.push(jobId) } })
    await service.start()
    const data = bytes(1_500_000, 5) // two frames
    await putBlob(master, standby.peerId, 'j1', 'input', data, 3)
    expect(Buffer.from(await getBlob(master, standby.peerId, 'j1', 'input', data.byteLength)).equals(data)).toBe(true)
    // Announced larger than the caller expects: refused before a byte is read or allocated.
    const large = await getBlob(master, standby.peerId, 'j1', 'input', 1000).catch((e: Error) => e)
    expect(large).toBeInstanceOf(MalformedFrameError)
    expect((large as Error).message).toBe('input of job j1 announced as 1500000 bytes, at most 1000 expected')
    // Streamed both ways: put from a source read in chunks, got into a receiver as it comes.
    const local = new MemoryFiles()
    local.blobs.set('j1/output.png', data)
    await putBlob(master, standby.peerId, 'j1', 'output.png', await local.openBlob('j1', 'output.png'), 3)
    const got = await getBlobInto(master, standby.peerId, 'j1', 'output.png', async (fill) => await local.receive('j1', 'copy', fill))
    expect(got.bytes).toBe(data.byteLength)
    expect(got.sha256).toBe(createHash('sha256').update(data).digest('hex'))
    followed = 4
    const stale = await putBlob(master, standby.peerId, 'j1', 'tiles/0.raw', bytes(10), 3).catch((e: Error) => e)
    expect(stale).toBeInstanceOf(RemoteError)
    expect((stale as RemoteError).code).toBe(ErrorCodes.staleEpoch)
    expect(files.blobs.has('j1/tiles/0.raw')).toBe(false)
    const missing = await getBlob(master, standby.peerId, 'j1', 'output.jpg', 1000).catch((e: Error) => e)
    expect((missing as RemoteError).code).toBe(ErrorCodes.unknownJob)
    // Asking whether a file is there moves no bytes.
    expect(await hasBlob(master, standby.peerId, 'j1', 'input')).toBe(true)
    expect(await hasBlob(master, standby.peerId, 'j1', 'output.jpg')).toBe(false)
    await dropBlobs(master, standby.peerId, 'j1', 3) // an older master's word: acknowledged, not acted on
    await dropBlobs(master, standby.peerId, 'j1', 4)
    expect(dropped).toEqual(['j1'])
    // What does not fit the disk (with its reserve) is refused before a byte is taken, and says so.
    files.free = DISK_RESERVE_BYTES + 1000
    followed = 4
    const full = await putBlob(master, standby.peerId, 'j2', 'tiles/0.raw', bytes(2000), 4).catch((e: Error) => e)
    expect(full).toBeInstanceOf(RemoteError)
    expect((full as RemoteError).code).toBe(ErrorCodes.noSpace)
    expect((full as Error).message).toMatch(/no room for j2\/tiles\/0\.raw .* free/)
    expect(files.blobs.has('j2/tiles/0.raw')).toBe(false)
    await putBlob(master, standby.peerId, 'j2', 'tiles/0.raw', bytes(900), 4)
    expect(files.blobs.get('j2/tiles/0.raw')?.byteLength).toBe(900)
    await service.stop()
    await expect(getBlob(master, standby.peerId, 'j1', 'input', data.byteLength)).rejects.not.toBeInstanceOf(RemoteError)
  })

  it('blob: only the master followed writes an input or output, a worker its tile at the current epoch; nothing stored is replaced; each refusal names the peer', async () => {
    const [master, standby] = await pair()
    const rogue = await nodes.start()
    await rogue.dial(standby.getMultiaddrs()[0])
    const files = new MemoryFiles()
    const refused: string[] = []
    const service = new BlobService({ libp2p: standby }, {
      files, epoch: () => 3, onDrop: async () => {}, master: () => master.peerId.toString(), onRefused: (m) => { refused.push(m) }
    })
    await service.start()
    const code = async (p: Promise<unknown>): Promise<string | undefined> => await p.then(() => undefined, (e: Error) => e instanceof RemoteError ? e.code : e.message)
    // Another keyed peer cannot write a job's output or input, even at the current epoch.
    expect(await code(putBlob(rogue, standby.peerId, 'j1', 'output.png', bytes(100, 1), 3))).toBe(ErrorCodes.forbidden)
    expect(await code(putBlob(rogue, standby.peerId, 'j1', 'input', bytes(100, 1), 3))).toBe(ErrorCodes.forbidden)
    expect(files.blobs.size).toBe(0)
    expect(refused[0]).toContain(rogue.peerId.toString())
    // A worker's tile at the current epoch is taken; at a later one it is not (no lease of this master's).
    expect(await code(putBlob(rogue, standby.peerId, 'j1', 'tiles/0.raw', bytes(64, 2), 3))).toBeUndefined()
    expect(await code(putBlob(rogue, standby.peerId, 'j1', 'tiles/1.raw', bytes(64, 2), 9))).toBe(ErrorCodes.forbidden)
    // The same tile again is fine; other bytes over it are refused from a worker, and replace it only from
    // the master (it redoes a liar's tiles).
    expect(await code(putBlob(master, standby.peerId, 'j1', 'tiles/0.raw', bytes(64, 2), 3))).toBeUndefined()
    expect(await code(putBlob(rogue, standby.peerId, 'j1', 'tiles/0.raw', bytes(64, 7), 3))).toBe(ErrorCodes.forbidden)
    expect(Buffer.from(files.blobs.get('j1/tiles/0.raw')!).equals(bytes(64, 2))).toBe(true)
    expect(await code(putBlob(master, standby.peerId, 'j1', 'tiles/0.raw', bytes(64, 8), 3))).toBeUndefined()
    expect(Buffer.from(files.blobs.get('j1/tiles/0.raw')!).equals(bytes(64, 8))).toBe(true)
    // The master writes the output; a second output does not replace the first.
    expect(await code(putBlob(master, standby.peerId, 'j1', 'output.png', bytes(100, 3), 3))).toBeUndefined()
    expect(await code(putBlob(master, standby.peerId, 'j1', 'output.png', bytes(100, 4), 3))).toBeUndefined()
    expect(Buffer.from(files.blobs.get('j1/output.png')!).equals(bytes(100, 3))).toBe(true)
    expect(refused).toHaveLength(4)
    await service.stop()
  })

  it('tile-done: a notice reaches the master with its sender, and its answer comes back; not after stop', async () => {
    const [worker, master] = await pair()
    const heard: Array<{ notice: TileNotice, from: string }> = []
    const service = new TileDoneService({ libp2p: master }, { onNotice: async (notice, from) => { heard.push({ notice, from }); return notice.type === 'done' } })
    await service.start()
    const sender = new TileDoneService({ libp2p: worker }, { onNotice: async () => false })
    const done: TileNotice = { type: 'done', jobId: 'j1', phase: 0, index: 3, leaseId: '2:7', epoch: 2 }
    expect(await sender.send(master.peerId, done)).toBe(true)
    expect(await sender.send(master.peerId, { type: 'holding', leaseIds: [] })).toBe(false)
    expect(heard).toEqual([{ notice: done, from: worker.peerId.toString() }, { notice: { type: 'holding', leaseIds: [] }, from: worker.peerId.toString() }])
    await service.stop()
    await expect(sender.send(master.peerId, done)).rejects.toThrow()
    expect(heard).toHaveLength(2)
  })
})
