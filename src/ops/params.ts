// Parameter declarations. Each op lists its parameters with these helpers: one declaration gives the zod
// schema (with the default), the human wording of the accepted range for error messages, and the data
// `swarm ops` prints.
import * as z from 'zod'
import { InvalidParameterError, closest, describeValue } from './errors.ts'

export type ParamValue = number | string

export interface ParamSpec<T extends ParamValue = ParamValue> {
  kind: 'number' | 'integer' | 'enum' | 'colour'
  description: string
  default: T
  min?: number
  max?: number
  values?: readonly string[]
  /** How the accepted values are described in errors: "a number between 0.3 and 100". */
  expected: string
  /** Validates one value (the default is applied before). */
  schema: z.ZodType<T, unknown>
}

export type ParamSpecs = Record<string, ParamSpec>
export type ParamValues<S extends ParamSpecs> = { [K in keyof S]: S[K] extends ParamSpec<infer T> ? T : never }
export type Params = Record<string, ParamValue>

export function number (o: { min: number; max: number; default: number; description: string }): ParamSpec<number> {
  return {
    kind: 'number', description: o.description, default: o.default, min: o.min, max: o.max,
    expected: `a number between ${o.min} and ${o.max}`,
    schema: z.number().min(o.min).max(o.max)
  }
}

export function integer (o: { min: number; max: number; default: number; description: string }): ParamSpec<number> {
  return {
    kind: 'integer', description: o.description, default: o.default, min: o.min, max: o.max,
    expected: `an integer between ${o.min} and ${o.max}`,
    schema: z.number().int().min(o.min).max(o.max)
  }
}

export function oneOf<const V extends readonly [string, ...string[]]> (values: V, o: { default: V[number]; description: string }): ParamSpec<string> {
  return {
    kind: 'enum', description: o.description, default: o.default, values,
    expected: `one of ${values.map(v => JSON.stringify(v)).join(', ')}`,
    schema: z.enum(values) as unknown as z.ZodType<string, unknown>
  }
}

const NAMED_COLOURS: Record<string, string> = {
  black: '#000000', white: '#ffffff', red: '#ff0000', green: '#00ff00', blue: '#0000ff',
  yellow: '#ffff00', cyan: '#00ffff', magenta: '#ff00ff', orange: '#ff8000', grey: '#808080', gray: '#808080'
}

/** "#rrggbb", "rrggbb", "#rgb" or a few names -> canonical "#rrggbb"; undefined when it is none of those. */
export function canonicalColour (v: string): string | undefined {
  const s = v.trim().toLowerCase()
  if (s in NAMED_COLOURS) return NAMED_COLOURS[s]
  const m = /^#?([0-9a-f]{6}|[0-9a-f]{3})$/.exec(s)
  if (!m) return undefined
  const hex = m[1].length === 3 ? [...m[1]].map(c => c + c).join('') : m[1]
  return `#${hex}`
}

export function colourRgb (canonical: string): [number, number, number] {
  const n = Number.parseInt(canonical.slice(1), 16)
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255]
}

export function colour (o: { default: string; description: string }): ParamSpec<string> {
  return {
    kind: 'colour', description: o.description, default: o.default,
    expected: `a colour as #rrggbb, #rgb or one of ${Object.keys(NAMED_COLOURS).join(', ')}`,
    schema: z.string().refine(v => canonicalColour(v) !== undefined).transform(v => canonicalColour(v) as string)
  }
}

// Built once per op: every tile re-validates its pipeline, and building a zod schema costs far more than
// running it (it was most of the validation time per tile).
const schemas = new WeakMap<ParamSpecs, z.ZodType<Params, unknown>>()

/** The zod object schema of an op's parameters: strict (no unknown keys), every default filled. */
export function paramsSchema (specs: ParamSpecs): z.ZodType<Params, unknown> {
  let schema = schemas.get(specs)
  if (schema == null) {
    const shape: Record<string, z.ZodType> = {}
    for (const [k, s] of Object.entries(specs)) shape[k] = s.schema.default(s.default as never)
    schema = z.strictObject(shape) as unknown as z.ZodType<Params, unknown>
    schemas.set(specs, schema)
  }
  return schema
}

/**
 * Validates `raw` against an op's parameter declarations; fills defaults; throws InvalidParameterError
 * naming the first bad parameter and its value, in our words rather than zod's (the zod issue only tells
 * which key failed).
 */
export function validateParams (op: string, specs: ParamSpecs, raw: unknown): Params {
  if (raw === undefined || raw === null) raw = {}
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new InvalidParameterError(op, '(all)', raw, 'an object of parameters',
      `${op}: parameters are ${describeValue(raw)}, expected an object of parameters`)
  }
  const given = raw as Record<string, unknown>
  const names = Object.keys(specs)
  for (const key of Object.keys(given)) {
    if (!Object.hasOwn(specs, key)) {
      const hint = closest(key, names)
      const takes = names.length ? `${op} takes ${names.join(', ')}` : `${op} takes no parameters`
      throw new InvalidParameterError(op, key, given[key], `one of the parameters of ${op}`,
        `${op}: unknown parameter "${key}"${hint ? ` (did you mean "${hint}"?)` : ''}; ${takes}`)
    }
  }
  const parsed = paramsSchema(specs).safeParse(given)
  if (parsed.success) return parsed.data
  const issue = parsed.error.issues[0]
  const key = String(issue?.path[0] ?? '(all)')
  throw new InvalidParameterError(op, key, given[key], specs[key]?.expected ?? 'valid parameters')
}
