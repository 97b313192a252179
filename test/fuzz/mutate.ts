// Mutations shared by the fuzz properties: of bytes (bit flips, truncation, splices, length fields set to
// huge values, concatenations), of chunking (where a byte stream is cut into messages), and of JSON values
// (a field replaced by one of another type, deleted, or an extra one added).
import fc from 'fast-check'

/** Values that length fields are set to: the edges of a u32 and of the frame limits. */
export const HUGE_LENGTHS = [0xffff_ffff, 0x8000_0000, 0x7fff_ffff, 0x1_0000_0000 - 5, 1024 * 1024 + 1, 64 * 1024 * 1024]

export type ByteMutation =
  | { op: 'flip', at: number, bit: number }
  | { op: 'set', at: number, value: number }
  | { op: 'truncate', at: number }
  | { op: 'delete', at: number, n: number }
  | { op: 'insert', at: number, bytes: Uint8Array }
  | { op: 'u32', at: number, value: number }
  | { op: 'duplicate', at: number, n: number }
  | { op: 'append', bytes: Uint8Array }

export const byteMutation: fc.Arbitrary<ByteMutation> = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ op: fc.constant('set' as const), at: fc.nat(), value: fc.oneof(fc.constantFrom(0, 1, 2, 3, 0x7f, 0x80, 0xff), fc.integer({ min: 0, max: 255 })) }),
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 16 }) }),
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
  fc.record({ op: fc.constant('u32' as const), at: fc.nat(), value: fc.oneof(fc.constantFrom(...HUGE_LENGTHS), fc.nat({ max: 0xffff_ffff }), fc.nat({ max: 2048 })) }),
  fc.record({ op: fc.constant('duplicate' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 64 }) }),
  fc.record({ op: fc.constant('append' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 32 }) })
)

/** Applies one mutation; positions are taken modulo the length, so any mutation fits any input. */
export function applyByteMutation (input: Uint8Array, m: ByteMutation): Uint8Array {
  const len = input.byteLength
  const at = (n: number): number => len === 0 ? 0 : n % (len + 1)
  switch (m.op) {
    case 'flip': {
      if (len === 0) return input
      const out = input.slice()
      out[m.at % len] ^= 1 << m.bit
      return out
    }
    case 'set': {
      if (len === 0) return input
      const out = input.slice()
      out[m.at % len] = m.value
      return out
    }
    case 'truncate': return input.slice(0, at(m.at))
    case 'delete': {
      const i = at(m.at)
      return concat(input.subarray(0, i), input.subarray(Math.min(len, i + m.n)))
    }
    case 'insert': {
      const i = at(m.at)
      return concat(input.subarray(0, i), m.bytes, input.subarray(i))
    }
    case 'u32': {
      if (len < 4) return input
      const out = input.slice()
      new DataView(out.buffer).setUint32(m.at % (len - 3), m.value)
      return out
    }
    case 'duplicate': {
      const i = at(m.at)
      const part = input.subarray(i, Math.min(len, i + m.n))
      return concat(input.subarray(0, i), part, part, input.subarray(i + part.byteLength))
    }
    case 'append': return concat(input, m.bytes)
  }
}

/** An input with 1 to `max` mutations applied. */
export function mutatedBytes (base: fc.Arbitrary<Uint8Array>, max = 4): fc.Arbitrary<{ original: Uint8Array, mutated: Uint8Array, mutations: ByteMutation[] }> {
  return fc.tuple(base, fc.array(byteMutation, { minLength: 1, maxLength: max })).map(([original, mutations]) => ({
    original,
    mutated: mutations.reduce(applyByteMutation, original),
    mutations
  }))
}

export function concat (...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0))
  let off = 0
  for (const p of parts) { out.set(p, off); off += p.byteLength }
  return out
}

/** Cut points for a byte stream: it arrives in these pieces (split anywhere, even inside a header). */
export const cuts = fc.array(fc.nat(), { maxLength: 8 })

export function splitAt (bytes: Uint8Array, points: number[]): Uint8Array[] {
  const at = [...new Set(points.map(p => bytes.byteLength === 0 ? 0 : p % bytes.byteLength))].filter(p => p > 0).sort((a, b) => a - b)
  const out: Uint8Array[] = []
  let prev = 0
  for (const p of [...at, bytes.byteLength]) {
    if (p > prev) out.push(bytes.subarray(prev, p))
    prev = p
  }
  return out
}

// ---- JSON values

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json }
export type Path = Array<string | number>
export type Kind = 'null' | 'boolean' | 'number' | 'string' | 'array' | 'object'

export function kindOf (v: unknown): Kind {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'array'
  return typeof v as Kind
}

/** Every path into a JSON value (the root excluded), in a fixed order. */
export function pathsOf (v: unknown, prefix: Path = []): Path[] {
  if (v === null || typeof v !== 'object') return []
  const entries: Array<[string | number, unknown]> = Array.isArray(v) ? v.map((x, i) => [i, x]) : Object.entries(v)
  return entries.flatMap(([k, x]) => [[...prefix, k], ...pathsOf(x, [...prefix, k])])
}

export function getAt (v: unknown, path: Path): unknown {
  return path.reduce<unknown>((o, k) => (o as Record<string | number, unknown>)[k], v)
}

/** A copy of `v` with the value at `path` replaced (or, with `remove`, deleted). */
export function setAt (v: unknown, path: Path, value: unknown, remove = false): unknown {
  if (path.length === 0) return value
  const copy: Record<string | number, unknown> = Array.isArray(v) ? [...v] as unknown as Record<number, unknown> : { ...(v as object) }
  const [k, ...rest] = path
  if (rest.length === 0) {
    if (!remove) copy[k] = value
    else if (Array.isArray(copy)) copy.splice(k as number, 1)
    else delete copy[k]
  } else {
    copy[k] = setAt(copy[k], rest, value, remove)
  }
  return copy
}

/** A JSON value of a given kind. */
export function valueOfKind (kind: Kind): fc.Arbitrary<Json> {
  switch (kind) {
    case 'null': return fc.constant(null)
    case 'boolean': return fc.boolean()
    case 'number': return fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constantFrom(0, -1, 2 ** 53, 1e308))
    case 'string': return fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('', '0', '1', 'true', 'null', 'x'.repeat(300)))
    case 'array': return fc.array(fc.jsonValue({ maxDepth: 1 }) as fc.Arbitrary<Json>, { maxLength: 3 })
    case 'object': return fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 1 }) as fc.Arbitrary<Json>, { maxKeys: 3 }).map(o => ({ ...o }))
  }
}

export const KINDS: Kind[] = ['null', 'boolean', 'number', 'string', 'array', 'object']

/** A value whose JSON kind differs from `current`'s. */
export function otherKind (current: unknown, pick: number): fc.Arbitrary<Json> {
  const others = KINDS.filter(k => k !== kindOf(current))
  return valueOfKind(others[pick % others.length])
}
