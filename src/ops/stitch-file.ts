// A job's output built on disk instead of in memory. The tiles' pixels go into an uncompressed PNG (zlib
// level 0: stored, so writing it is a copy) one band of tiles at a time, in row order, and libvips encodes
// the output from that file in one sequential pass, strip by strip. The master stitching a 100 MP job
// held the whole image and its encoded form at once (measured: 887 MiB of RSS for 286 MiB of pixels).
// Not libvips' own .v format as the intermediate: libvips maps a .v file into memory to read it, and the
// mapped pages count as the peer's memory (measured: encoding a 300 MB .v peaked 300 MB higher; from a
// stored PNG, 29 MB).
import { open, rename, unlink } from 'node:fs/promises'
import { createDeflate, crc32 } from 'node:zlib'
import sharp from 'sharp'
import { InvalidTileError } from './errors.ts'
import { withFormat, type OutputFormat } from './image-io.ts'
import type { Channels, RawImage } from './raw.ts'
import { checkPlacement, type Tile } from './tiling.ts'

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])
/** PNG colour types by channel count: grey, grey + alpha, RGB, RGBA. */
const COLOUR_TYPE: Record<Channels, number> = { 1: 0, 2: 4, 3: 2, 4: 6 }
const RAW_PX_PER_M = 1000

function chunk (type: string, data: Uint8Array): Buffer {
  const head = Buffer.alloc(8)
  head.writeUInt32BE(data.byteLength, 0)
  head.write(type, 4, 'latin1')
  const tail = Buffer.alloc(4)
  tail.writeUInt32BE(crc32(data, crc32(head.subarray(4))), 0)
  return Buffer.concat([head, data, tail])
}

/** The tiles by band (the same core.y), bands top to bottom and tiles left to right, checked to cover the output once. */
function bandsOf (tiles: Tile[], width: number, height: number): Tile[][] {
  const byY = new Map<number, Tile[]>()
  for (const t of tiles) {
    const band = byY.get(t.core.y)
    if (band == null) byY.set(t.core.y, [t])
    else band.push(t)
  }
  const bands = [...byY.entries()].sort((a, b) => a[0] - b[0]).map(([, band]) => band.sort((a, b) => a.core.x - b.core.x))
  let y = 0
  for (const band of bands) {
    let x = 0
    for (const t of band) {
      if (t.core.y !== y || t.core.x !== x || t.core.height !== band[0].core.height) throw new InvalidTileError(`tile ${t.index}: its core ${JSON.stringify(t.core)} leaves a gap or overlaps another tile of the ${width}x${height} output`)
      x += t.core.width
    }
    if (x !== width) throw new InvalidTileError(`the tiles of the band at y=${y} cover ${x} of the output's ${width} columns`)
    y += band[0].core.height
  }
  if (y !== height) throw new InvalidTileError(`the tiles cover ${y} of the output's ${height} rows`)
  return bands
}

/**
 * Writes the tiles' results, read one at a time with `read`, as a `width` x `height` image encoded in
 * `format` to `outPath` (through a temporary file beside it, so a file at `outPath` is whole), with the
 * same encoder settings as encodeImageToBuffer, so the bytes are the same. Tiles are checked as placeTile
 * checks them (InvalidTileError). Memory: one band of tiles (width x the tile height), and libvips' strips.
 * Resolves the encoded size in bytes.
 */
export async function stitchToFile (
  outPath: string, width: number, height: number, channels: Channels, format: OutputFormat, tiles: Tile[], read: (tile: Tile) => Promise<RawImage>
): Promise<number> {
  const bands = bandsOf(tiles, width, height)
  const stored = `${outPath}.stitch.png`
  const part = `${outPath}.partial`
  const rowBytes = width * channels
  try {
    const fh = await open(stored, 'w')
    try {
      const ihdr = Buffer.alloc(13)
      ihdr.writeUInt32BE(width, 0)
      ihdr.writeUInt32BE(height, 4)
      ihdr[8] = 8
      ihdr[9] = COLOUR_TYPE[channels]
      // The resolution libvips gives raw pixels (1 pixel per mm), which a PNG without pHYs would not get
      // (72 dpi): the output records it, and must record what encodeImageToBuffer's does.
      const phys = Buffer.alloc(9)
      phys.writeUInt32BE(RAW_PX_PER_M, 0)
      phys.writeUInt32BE(RAW_PX_PER_M, 4)
      phys[8] = 1
      await fh.write(Buffer.concat([PNG_SIGNATURE, chunk('IHDR', ihdr), chunk('pHYs', phys)]))
      const deflate = createDeflate({ level: 0 })
      const idat = (async () => {
        for await (const data of deflate) await fh.write(chunk('IDAT', data as Buffer))
      })()
      idat.catch(() => {})
      // One band's buffer for every band: each is written only once deflate has taken the one before (a
      // new buffer per band left all of them to the garbage collector: +110 MiB of RSS at 64 MP, measured).
      const whole = Buffer.alloc(Math.max(...bands.map(b => b[0].core.height)) * (rowBytes + 1))
      for (const band of bands) {
        const rows = band[0].core.height
        // Each row: PNG's filter byte (0, none), then the pixels.
        const buf = whole.subarray(0, rows * (rowBytes + 1))
        for (const tile of band) {
          const img = await read(tile)
          checkPlacement({ width, height, channels }, tile, img)
          const tileRow = tile.core.width * channels
          for (let y = 0; y < rows; y++) buf.set(img.data.subarray(y * tileRow, (y + 1) * tileRow), y * (rowBytes + 1) + 1 + tile.core.x * channels)
        }
        // Resolved once deflate has consumed the band, so the buffer can take the next one.
        await new Promise<void>((resolve, reject) => { deflate.write(buf, (err) => { if (err != null) reject(err); else resolve() }) })
      }
      deflate.end()
      await idat
      await fh.write(chunk('IEND', new Uint8Array(0)))
    } finally {
      await fh.close()
    }
    const info = await withFormat(sharp(stored, { sequentialRead: true, limitInputPixels: false }), channels, format, width * height).toFile(part)
    await rename(part, outPath)
    return info.size
  } catch (err) {
    await unlink(part).catch(() => {})
    throw err
  } finally {
    await unlink(stored).catch(() => {})
  }
}
