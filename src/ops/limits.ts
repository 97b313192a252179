// The ops layer's bounds and defaults that the command line's options name (`swarm start --help` and
// `swarm submit --help` print them): here, importing nothing, so that printing help loads no kernel,
// no libvips and no zod. Their old homes (tiling.ts, memory-budget.ts, image-io.ts) re-export them.

const MiB = 1024 * 1024

export const MIN_TILE_SIZE = 16
export const MAX_TILE_SIZE = 16384

/** Below this a peer cannot hold its own runtime (Node, libvips and libp2p take about 160 MiB at rest). */
export const MIN_MEMORY_BYTES = 256 * MiB
/**
 * The default budget's share of the memory the device has free (available) when the peer starts: the
 * rest stays for whatever else the device runs. A budget is never set from total memory: a laptop in use
 * has far less free than it has.
 */
export const DEFAULT_FREE_SHARE = 0.75

const UNITS: Record<string, number> = { '': MiB, b: 1, k: 1024, kb: 1024, kib: 1024, m: MiB, mb: MiB, mib: MiB, g: 1024 * MiB, gb: 1024 * MiB, gib: 1024 * MiB }

/** The one sentence for a memory size that is not one. */
export function memorySizeError (flag: string, got: string): RangeError {
  return new RangeError(`${flag} must be a size of at least ${MIN_MEMORY_BYTES / MiB} MiB (e.g. 512M, 2G), got ${JSON.stringify(got)}`)
}

/** "512M", "2G", "1.5GiB", "300" (MiB) in bytes; anything else, or less than MIN_MEMORY_BYTES, is refused. */
export function parseMemorySize (text: string, flag = '--max-memory'): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text)
  const unit = m == null ? undefined : UNITS[m[2].toLowerCase()]
  if (m == null || unit == null) throw memorySizeError(flag, text)
  const bytes = Math.floor(Number(m[1]) * unit)
  if (!Number.isFinite(bytes) || bytes < MIN_MEMORY_BYTES) throw memorySizeError(flag, text)
  return bytes
}

export const mib = (bytes: number): string => `${Math.round(bytes / MiB)} MiB`

/**
 * The largest input decoded unless the caller says otherwise: 1 gigapixel. sharp's default (SHARP_DEFAULT_MAX_PIXELS in image-io.ts) guards
 * one process that decodes whole against a decompression bomb; splitting images too large for one machine
 * is what a swarm is for, and a worker decodes a large input one tile's rectangle at a time. The bound is
 * the master's (and `swarm run`'s) whole decode: 1 GP of RGB is 3 GB.
 */
export const DEFAULT_MAX_PIXELS = 1_000_000_000

/** The formats a result can be written in (`swarm submit --format`; the tile protocol's OutputFormatSchema). */
export const OUTPUT_FORMATS = ['png', 'jpeg', 'webp', 'tiff', 'avif', 'gif'] as const
