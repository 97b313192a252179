// The op catalogue: every op swarm can run, by name. Kernels live in ./kernels, one file per family.
import type { AnyOp } from './op.ts'
import type { ParamSpec } from './params.ts'
import { UnknownOpError } from './errors.ts'
import { adjust, gamma, grayscale, invert, sepia } from './kernels/point.ts'
import { blur, sharpen } from './kernels/gaussian.ts'
import { dilate, erode, median } from './kernels/rank.ts'
import { canny, contours, edge } from './kernels/edges.ts'
import { emboss } from './kernels/emboss.ts'
import { equalise, normalise, threshold } from './kernels/histogram.ts'

const ops: readonly AnyOp[] = [
  grayscale, invert, adjust, gamma, sepia,
  threshold, normalise, equalise,
  blur, sharpen, median, erode, dilate,
  edge, emboss, canny, contours
]

const byName = new Map(ops.map(op => [op.name, op]))

export const opNames: readonly string[] = ops.map(op => op.name)

export function listOps (): readonly AnyOp[] {
  return ops
}

export function getOp (name: string): AnyOp {
  const op = byName.get(name)
  if (!op) throw new UnknownOpError(name, opNames)
  return op
}

export function hasOp (name: string): boolean {
  return byName.has(name)
}

export interface ParamInfo {
  name: string
  type: ParamSpec['kind']
  description: string
  default: number | string
  min?: number
  max?: number
  values?: readonly string[]
  accepts: string
}

export interface OpInfo {
  name: string
  description: string
  /** True when the op may need whole-image statistics (for some parameter values). */
  global: boolean
  params: ParamInfo[]
}

/**
 * The version of what the ops compute: part of the result cache's key (src/scheduler/result-cache.ts). Bump
 * it when any op's output changes for the same input and parameters, so no stored output is served for it.
 */
export const OPS_VERSION = 1

/** A JSON description of the catalogue, for `swarm ops` and the dashboard. */
export function describeOps (): OpInfo[] {
  return ops.map(op => ({
    name: op.name,
    description: op.description,
    global: op.global !== undefined,
    params: Object.entries(op.params).map(([name, s]) => ({
      name,
      type: s.kind,
      description: s.description,
      default: s.default,
      ...(s.min !== undefined ? { min: s.min } : {}),
      ...(s.max !== undefined ? { max: s.max } : {}),
      ...(s.values ? { values: s.values } : {}),
      accepts: s.expected
    }))
  }))
}
