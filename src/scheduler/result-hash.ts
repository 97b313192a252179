// What two peers' results are compared by when a tile is checked: a SHA-256 of the pixels with their
// shape, or of the statistics as JSON. Never of a file's bytes: how a tile file is compressed may differ
// between peers (another Node, another zstd) while the pixels are the same.
import { createHash } from 'node:crypto'
import type { RawImage } from '../ops/index.ts'

export function pixelsHash (img: RawImage): string {
  const head = Buffer.alloc(9)
  head.writeUInt32BE(img.width, 0)
  head.writeUInt32BE(img.height, 4)
  head.writeUInt8(img.channels, 8)
  return createHash('sha256').update(head).update(img.data).digest('hex')
}

/** Kernels build their statistics in a fixed order, so equal statistics give equal JSON. */
export function statsHash (stats: unknown): string {
  return createHash('sha256').update(JSON.stringify(stats) ?? 'undefined').digest('hex')
}
