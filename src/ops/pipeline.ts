// Pipelines: an ordered list of op calls, as plain JSON so that it can travel to other peers.
// CLI syntax, one --op per step:   name            e.g. grayscale
//                                  name:k=v,k=v    e.g. canny:low=40,high=100
//                                  name:v          shorthand for ops with exactly one parameter (blur:2)
import { getOp, hasOp, opNames } from './catalogue.ts'
import { InvalidParameterError, InvalidPipelineError, UnknownOpError, describeValue } from './errors.ts'
import { validateParams } from './params.ts'
import type { Params, ParamValue } from './params.ts'
import type { Channels } from './raw.ts'

export interface OpCall {
  name: string
  params: Params
}

export interface Pipeline {
  ops: OpCall[]
}

export const MAX_OPS = 32
/** Beyond this a tile would be mostly halo; it also bounds what a remote peer can make us allocate. */
export const MAX_PIPELINE_HALO = 1024

/** Validates one op call (name and params), fills defaults, runs cross-parameter checks. */
export function validateOp (name: unknown, params: unknown): OpCall {
  if (typeof name !== 'string' || name.length === 0) {
    throw new InvalidPipelineError(`an op name must be a non-empty string, got ${describeValue(name)}`)
  }
  if (!hasOp(name)) throw new UnknownOpError(name, opNames)
  const op = getOp(name)
  const p = validateParams(name, op.params, params)
  op.check?.(p)
  return { name, params: p }
}

/** Re-validates a pipeline from anywhere (CLI, network, disk); returns a fresh canonical copy. */
export function validatePipeline (value: unknown): Pipeline {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidPipelineError(`a pipeline must be an object { ops: [...] }, got ${describeValue(value)}`)
  }
  const extra = Object.keys(value).filter(k => k !== 'ops')
  if (extra.length) throw new InvalidPipelineError(`a pipeline has only "ops", got unexpected key ${JSON.stringify(extra[0])}`)
  const ops = (value as { ops?: unknown }).ops
  if (!Array.isArray(ops)) throw new InvalidPipelineError(`pipeline.ops must be an array, got ${describeValue(ops)}`)
  if (ops.length === 0) throw new InvalidPipelineError('a pipeline needs at least one op')
  if (ops.length > MAX_OPS) throw new InvalidPipelineError(`a pipeline has at most ${MAX_OPS} ops, got ${ops.length}`)
  const out: OpCall[] = ops.map((call: unknown, i) => {
    if (typeof call !== 'object' || call === null || Array.isArray(call)) {
      throw new InvalidPipelineError(`op ${i + 1} must be an object { name, params }, got ${describeValue(call)}`)
    }
    const extraKey = Object.keys(call).find(k => k !== 'name' && k !== 'params')
    if (extraKey) throw new InvalidPipelineError(`op ${i + 1} has only "name" and "params", got unexpected key ${JSON.stringify(extraKey)}`)
    const c = call as { name?: unknown; params?: unknown }
    return validateOp(c.name, c.params)
  })
  const pipeline = { ops: out }
  const halo = pipelineHalo(pipeline)
  if (halo > MAX_PIPELINE_HALO) {
    throw new InvalidPipelineError(`the pipeline needs a halo of ${halo} pixels around each tile, at most ${MAX_PIPELINE_HALO} is allowed (use smaller radii or sigmas)`)
  }
  return pipeline
}

const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)(e[+-]?\d+)?$/i

/** Parses one `--op` value, e.g. "canny:low=40,high=100", into a validated op call. */
export function parseOpSpec (spec: string): OpCall {
  const s = spec.trim()
  const colon = s.indexOf(':')
  const name = (colon < 0 ? s : s.slice(0, colon)).trim()
  if (!name) throw new InvalidPipelineError(`op spec ${JSON.stringify(spec)} has no op name (expected name or name:key=value,...)`)
  if (!hasOp(name)) throw new UnknownOpError(name, opNames)
  const op = getOp(name)
  const specs = op.params
  const names = Object.keys(specs)
  const params: Record<string, ParamValue> = {}
  const rest = colon < 0 ? '' : s.slice(colon + 1).trim()
  if (colon >= 0 && !rest) throw new InvalidPipelineError(`op spec ${JSON.stringify(spec)}: nothing after ":" (expected key=value,...)`)
  for (const part of rest ? rest.split(',') : []) {
    const eq = part.indexOf('=')
    let key: string
    let text: string
    if (eq < 0) {
      if (names.length !== 1) {
        throw new InvalidPipelineError(`op spec ${JSON.stringify(spec)}: "${part.trim()}" is not key=value` +
          (names.length ? ` (${name} takes ${names.join(', ')}, e.g. ${name}:${names[0]}=${String(specs[names[0]].default)})` : ` (${name} takes no parameters)`))
      }
      key = names[0]
      text = part.trim()
    } else {
      key = part.slice(0, eq).trim()
      text = part.slice(eq + 1).trim()
    }
    if (Object.hasOwn(params, key)) {
      throw new InvalidParameterError(name, key, text, 'a single value', `${name}: parameter "${key}" is given twice`)
    }
    const kind = specs[key]?.kind
    params[key] = (kind === 'number' || kind === 'integer') && NUMBER.test(text) ? Number(text) : text
  }
  return validateOp(name, params)
}

/** Parses repeated `--op` values into a validated pipeline. */
export function parsePipeline (specs: readonly string[]): Pipeline {
  return validatePipeline({ ops: specs.map(parseOpSpec) })
}

/** The pipeline's halo: sum of the ops' kernel radii (each op reads its input that far around a pixel). */
export function pipelineHalo (pipeline: Pipeline): number {
  let h = 0
  for (const c of pipeline.ops) h += getOp(c.name).halo(c.params)
  return h
}

export function outputChannels (pipeline: Pipeline, input: Channels): Channels {
  let c = input
  for (const call of pipeline.ops) c = getOp(call.name).channels(c, call.params)
  return c
}

/** Indexes (into pipeline.ops) of the ops that need whole-image statistics, in order. */
export function globalOps (pipeline: Pipeline): number[] {
  const out: number[] = []
  pipeline.ops.forEach((c, i) => { if (getOp(c.name).global?.(c.params)) out.push(i) })
  return out
}

/** Stats phases (one per global op) plus the final apply phase. */
export function phaseCount (pipeline: Pipeline): number {
  return globalOps(pipeline).length + 1
}

/** The pipeline in CLI syntax, for logs and messages: "grayscale blur:sigma=2". */
export function formatPipeline (pipeline: Pipeline): string {
  return pipeline.ops.map(c => {
    const kv = Object.entries(c.params).map(([k, v]) => `${k}=${v}`).join(',')
    return kv ? `${c.name}:${kv}` : c.name
  }).join(' ')
}
