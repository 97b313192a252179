// What an op is. Kernels are pure functions of (image, params[, merged stats]) -> new image: they never
// write into their input (a tile may be shared with other phases) and read pixels outside the image by
// clamping to the nearest edge pixel of the image they are given. That clamping plus a halo of at least
// the kernel radius is what makes a tiled run byte-identical to a whole-image run.
import type * as z from 'zod'
import type { Channels, RawImage, Rect } from './raw.ts'
import type { ParamSpecs, ParamValues, Params } from './params.ts'
import type { Resident } from './wasm/resident.ts'
import { scope } from './wasm/engine.ts'
import { toRaw, toResident } from './wasm/resident.ts'

/**
 * The whole-image statistics part of an op (Otsu threshold, normalise, equalise). Per-tile statistics and
 * merged statistics have the same shape, so merging is associative and the master can merge in any order.
 */
export interface GlobalStats<S = unknown> {
  /** Re-validates statistics that came over the network. */
  schema: z.ZodType<S, unknown>
  /** Statistics of the pixels inside `core` (tile coordinates) only: halo pixels belong to other tiles. */
  measure: (img: RawImage, core: Rect) => S
  merge: (list: S[]) => S
}

export interface OpDef<S extends ParamSpecs = ParamSpecs> {
  name: string
  description: string
  params: S
  /** Pixels of context needed on each side of a tile: the kernel radius (0 for point ops). */
  halo: (p: ParamValues<S>) => number
  /** Channel count of the output for an input with `channels` channels. */
  channels: (channels: Channels, p: ParamValues<S>) => Channels
  /** Present when the op, with these params, needs whole-image statistics. */
  global?: (p: ParamValues<S>) => GlobalStats | undefined
  /** Checks between parameters (e.g. low <= high), after each one was validated alone. */
  check?: (p: ParamValues<S>) => void
  apply: (img: RawImage, p: ParamValues<S>, stats: unknown) => RawImage
  /**
   * The same computation on an image in wasm memory (./wasm): what runTile chains, so a tile is copied
   * into wasm memory once per pipeline, not once per op. It allocates its output (and scratch) in the
   * arena of the caller's scope and never writes into its input.
   */
  kernel?: (img: Resident, p: ParamValues<S>, stats: unknown) => Resident
}

/** An op definition whose `apply` may be left out when it has a `kernel`: apply is then derived. */
export type OpInit<S extends ParamSpecs> = Omit<OpDef<S>, 'apply'> & { apply?: OpDef<S>['apply'] }

/** The catalogue holds ops with their parameter types erased. */
export type AnyOp = OpDef<ParamSpecs> & {
  halo: (p: Params) => number
  channels: (c: Channels, p: Params) => Channels
  global?: (p: Params) => GlobalStats | undefined
  check?: (p: Params) => void
  apply: (img: RawImage, p: Params, stats: unknown) => RawImage
  kernel?: (img: Resident, p: Params, stats: unknown) => Resident
}

export function defineOp<S extends ParamSpecs> (init: OpInit<S>): AnyOp {
  const { kernel } = init
  const apply = init.apply ?? (kernel
    ? (img: RawImage, p: ParamValues<S>, stats: unknown) => scope(() => toRaw(kernel(toResident(img), p, stats)))
    : undefined)
  if (!apply) throw new Error(`op ${init.name} needs apply or kernel`)
  return { ...init, apply } as unknown as AnyOp
}

export const sameChannels = (c: Channels): Channels => c
