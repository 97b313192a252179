// Options several commands share, and their parsing.
import { InvalidArgumentError, Option } from 'commander'
import envPaths from 'env-paths'
import { parseMemorySize } from '../ops/limits.ts'

export function defaultDataDir (): string {
  return process.env.SWARM_DATA_DIR ?? envPaths('swarm', { suffix: '' }).data
}

export function collect (value: string, previous: string[] = []): string[] {
  return [...previous, value]
}

export function positiveInt (name: string) {
  return (value: string): number => {
    const n = Number(value)
    if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a whole number above 0, got "${value}"`)
    return n
  }
}

export function intInRange (name: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value)
    if (value.trim() === '' || !Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${name} must be a whole number from ${min} to ${max}, got "${value}"`)
    return n
  }
}

export function nonNegativeInt (name: string) {
  return (value: string): number => {
    const n = Number(value)
    if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${name} must be a whole number from 0 up, got "${value}"`)
    return n
  }
}

export function fraction (name: string) {
  return (value: string): number => {
    const n = Number(value)
    if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError(`${name} must be a number from 0 to 1, got "${value}"`)
    return n
  }
}

export const keyOption = (): Option => new Option('--key <file>', 'swarm key file: only peers with the same key can connect (default: $SWARM_KEY, a file path or the key text)')
export const peerOption = (): Option => new Option('--peer <multiaddr>', 'a peer to dial, for networks without multicast (repeatable)').argParser(multiaddrList('--peer'))

/** What each multiaddr option's refusal shows as an example. */
export const MULTIADDR_EXAMPLES: Record<string, string> = {
  '--listen': '/ip4/0.0.0.0/tcp/4001',
  '--peer': '/ip4/192.168.1.20/tcp/4001/p2p/12D3Koo...'
}

/** The sentence refusing `value` for `flag`, with the parser's reason when there is one. */
export function multiaddrRefusal (flag: string, value: string, reason?: string): string {
  return `${flag} must be a multiaddr such as ${MULTIADDR_EXAMPLES[flag] ?? '/ip4/0.0.0.0/tcp/4001'}, got "${value}"${reason != null ? ` (${reason})` : ''}`
}

/**
 * A repeatable multiaddr option, checked for its shape only (a leading "/" and protocol/value pairs):
 * the full parse needs @multiformats/multiaddr, which the command's action loads (this file stays light).
 */
export function multiaddrList (flag: string) {
  return (value: string, previous: string[] = []): string[] => {
    const parts = value.trim().replace(/\/$/, '').split('/').slice(1)
    if (!value.trim().startsWith('/') || parts.length < 2 || parts.length % 2 !== 0 || parts.some(p => p === '')) throw new InvalidArgumentError(multiaddrRefusal(flag, value))
    return [...previous, value.trim()]
  }
}

/** A memory size (512M, 2G) for `flag`, in bytes, refused in memory-budget's one sentence. */
export function memorySize (flag: string) {
  return (value: string): number => {
    try {
      return parseMemorySize(value, flag)
    } catch (err) {
      throw new InvalidArgumentError((err as Error).message)
    }
  }
}

export interface HostPort { host: string, port: number }

/** HOST:PORT ("0.0.0.0:7070", "[::]:7070", "127.0.0.1:0" for any free port) or a PORT alone (on 127.0.0.1). */
export function hostPort (flag: string, defaultHost: string) {
  return (value: string): HostPort => {
    const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(value.trim()) ?? (/^(\d{1,5})$/.test(value.trim()) ? [value, undefined, defaultHost, value.trim()] : null)
    const port = m == null ? NaN : Number(m[3])
    if (m == null || !Number.isInteger(port) || port > 65_535) throw new InvalidArgumentError(`${flag} must be HOST:PORT (e.g. 0.0.0.0:7070 to serve the LAN) or a port, got "${value}"`)
    return { host: m[1] ?? m[2]!, port }
  }
}

const AGE_UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }

/** `--retain`: an age (30m, 12h, 7d, 2w; 0 = as soon as it is safe), or "forever" (undefined). */
export function retention (flag: string) {
  return (value: string): number | 'forever' => {
    const v = value.trim().toLowerCase()
    if (v === 'forever') return 'forever'
    const m = /^(\d+(?:\.\d+)?)([smhdw]?)$/.exec(v)
    if (m == null || (m[2] === '' && Number(m[1]) !== 0)) throw new InvalidArgumentError(`${flag} must be an age such as 30m, 12h, 7d, 0 (remove as soon as it is safe) or forever, got "${value}"`)
    return Math.round(Number(m[1]) * (AGE_UNITS[m[2]] ?? 0))
  }
}

/** Decimal units are the disk makers' (500MB = 500 000 000 bytes); K, M, G, T and KiB... are binary. */
const DISK_UNITS: Record<string, number> = {
  '': 1, b: 1, k: 1024, kib: 1024, m: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gib: 1024 ** 3, t: 1024 ** 4, tib: 1024 ** 4, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12
}
/** A cap below this holds no real job's files: a typo (500 for 500M), refused rather than emptying the disk. */
export const MIN_DISK_BYTES = 1024 ** 2

/** `--max-disk`: a size (500MB, 2GiB, 2G), at least MIN_DISK_BYTES. */
export function diskSize (flag: string) {
  return (value: string): number => {
    const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(value)
    const unit = m == null ? undefined : DISK_UNITS[m[2].toLowerCase()]
    const bytes = m == null || unit == null ? NaN : Math.floor(Number(m[1]) * unit)
    if (!Number.isFinite(bytes) || bytes < MIN_DISK_BYTES) throw new InvalidArgumentError(`${flag} must be a size of at least 1 MiB such as 500MB, 20G or 2GiB, got "${value}"`)
    return bytes
  }
}
