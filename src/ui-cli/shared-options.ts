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
