// Fuzzes every zod schema a peer checks received messages with (all of src/transfer/messages.ts, the
// heartbeat's, tile-done's and handover's): arbitrary values never make safeParse throw, valid messages
// parse as they are, and a field of the wrong type (or an unknown key, where strict) is refused.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import * as messages from '../../src/transfer/messages.ts'
import * as heartbeat from '../../src/node/heartbeat.ts'
import { TileNoticeSchema } from '../../src/transfer/tile-done.ts'
import { HandoverRequestSchema } from '../../src/transfer/handover-protocol.ts'
import { getAt, kindOf, mutatedBytes, otherKind, pathsOf, setAt, type Path } from './mutate.ts'
import { messageSamples, otherSamples, type Sample } from './samples.ts'
import { fuzz, fuzzTimeout } from './runs.ts'

const isSchema = (v: unknown): v is z.ZodType => v instanceof z.ZodType

/** Every schema messages.ts exports, found by looking (a schema added later is fuzzed without a change here). */
const exported: Record<string, z.ZodType> = Object.fromEntries(Object.entries(messages).filter(([, v]) => isSchema(v))) as Record<string, z.ZodType>
const schemas: Record<string, z.ZodType> = {
  ...exported,
  HeartbeatSchema: heartbeat.HeartbeatSchema,
  LoadSchema: heartbeat.LoadSchema,
  HeartbeatFrameSchema: heartbeat.HeartbeatFrameSchema,
  TileNoticeSchema,
  HandoverRequestSchema
}
const samples: Record<string, Sample> = { ...messageSamples, ...otherSamples }
const names = Object.keys(schemas).filter(n => samples[n] != null)

function isLoose (path: Path, loose: Path[] = []): boolean {
  return loose.some(p => p.length <= path.length && p.every((k, i) => k === '*' || k === path[i]))
}

/** safeParse never throws; what it accepts is accepted again after a trip through JSON. */
function parses (schema: z.ZodType, value: unknown): boolean {
  const r = schema.safeParse(value)
  if (r.success) {
    const again = JSON.stringify(r.data)
    if (again !== undefined) expect(schema.safeParse(JSON.parse(again)).success).toBe(true)
  } else {
    expect(r.error.issues.length).toBeGreaterThan(0)
  }
  return r.success
}

const sampleOf = (name: string): fc.Arbitrary<{ name: string, value: unknown }> => samples[name].valid.map(value => ({ name, value }))
const anySample = fc.oneof(...names.map(sampleOf))

describe('message schema fuzz', () => {
  it('every schema messages.ts exports has valid samples in this suite', () => {
    expect(Object.keys(exported).length).toBeGreaterThan(5)
    expect(Object.keys(exported).filter(n => messageSamples[n] == null), 'add these to messageSamples in test/fuzz/samples.ts').toEqual([])
  })

  it('valid messages parse, to themselves', () => {
    fc.assert(fc.property(anySample, ({ name, value }) => {
      const r = schemas[name].safeParse(value)
      expect(r.success, `${name}: ${r.error?.issues[0]?.path.join('.')} ${r.error?.issues[0]?.message}`).toBe(true)
      expect(r.data).toEqual(value)
      expect(parses(schemas[name], JSON.parse(JSON.stringify(value)))).toBe(true)
    }), fuzz(400))
  })

  it('arbitrary values (JSON, and any JS value) never make safeParse throw', () => {
    fc.assert(fc.property(fc.constantFrom(...Object.keys(schemas)), fc.oneof(fc.jsonValue(), fc.anything({ withNullPrototype: true, withMap: true, withSet: true, withBigInt: true, withDate: true, withTypedArray: true, withSparseArray: true })), (name, value) => {
      parses(schemas[name], value)
    }), fuzz(400))
  })

  it('a field replaced by a value of another type is refused (where the schema types it)', () => {
    const mutation = anySample.chain(({ name, value }) => {
      const paths: Path[] = [[], ...pathsOf(value)]
      return fc.tuple(fc.nat({ max: paths.length - 1 }), fc.nat()).chain(([i, k]) =>
        otherKind(getAt(value, paths[i]), k).map(x => ({ name, value, path: paths[i], x })))
    })
    fc.assert(fc.property(mutation, ({ name, value, path, x }) => {
      const s = samples[name]
      const mutated = setAt(value, path, x)
      const ok = parses(schemas[name], mutated)
      if (isLoose(path, s.loose)) return
      const nullable = s.nullable?.find(n => isLoose(path, [n.path]) && n.path.length === path.length)
      if (nullable != null && (x === null || kindOf(x) === nullable.kind)) return
      expect(ok, `${name} took ${JSON.stringify(x)} (${kindOf(x)}) at ${path.join('.') || '(root)'}`).toBe(false)
    }), fuzz(500))
  })

  it('an unknown key is refused at the root of a strict schema; deleting and replacing fields never throws', () => {
    const edit = fc.oneof(
      fc.record({ op: fc.constant('extra' as const), key: fc.string({ minLength: 1, maxLength: 8 }), x: fc.jsonValue({ maxDepth: 2 }) }),
      fc.record({ op: fc.constant('delete' as const), at: fc.nat() }),
      fc.record({ op: fc.constant('replace' as const), at: fc.nat(), x: fc.jsonValue({ maxDepth: 2 }) })
    )
    fc.assert(fc.property(anySample, edit, ({ name, value }, e) => {
      const schema = schemas[name]
      if (e.op === 'extra') {
        if (value === null || typeof value !== 'object' || Array.isArray(value) || Object.hasOwn(value, e.key)) return
        const ok = parses(schema, { ...value, [e.key]: e.x })
        if (samples[name].strict) expect(ok, `${name} took an extra key ${JSON.stringify(e.key)}`).toBe(false)
        return
      }
      const paths = pathsOf(value)
      if (paths.length === 0) return
      const path = paths[e.at % paths.length]
      parses(schema, e.op === 'delete' ? setAt(value, path, undefined, true) : setAt(value, path, e.x))
    }), fuzz(400))
  })

  it('mutated message text through JSON.parse and the schema, and deep nesting anywhere, never throw', () => {
    const enc = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v))
    fc.assert(fc.property(anySample.chain(({ name, value }) => mutatedBytes(fc.constant(enc(value))).map(m => ({ name, value, bytes: m.mutated }))), fc.integer({ min: 1, max: 5000 }), fc.nat(), ({ name, value, bytes }, depth, at) => {
      let parsed: unknown
      try { parsed = JSON.parse(new TextDecoder().decode(bytes)) } catch { parsed = new TextDecoder().decode(bytes) }
      parses(schemas[name], parsed)
      const paths: Path[] = [[], ...pathsOf(value)]
      let deep: unknown = 0
      for (let i = 0; i < depth; i++) deep = i % 2 === 0 ? [deep] : { a: deep }
      expect(() => schemas[name].safeParse(setAt(value, paths[at % paths.length], deep))).not.toThrow()
    }), fuzz(300))
  }, fuzzTimeout())
})
