// Named errors of the ops layer. Messages are written for the person who typed the command or submitted
// the image: they name the op / parameter / file and say what was expected, like sharp's argument checks.
// The same errors are raised on a remote peer (pipelines are re-validated there) and inside kernel worker
// threads, so each one can be flattened to plain data and rebuilt (toErrorData / fromErrorData).

export class OpsError extends Error {
  override name = 'OpsError'
}

export class UnknownOpError extends OpsError {
  override name = 'UnknownOpError'
  readonly op: string
  constructor (op: string, known: readonly string[]) {
    const hint = closest(op, known)
    super(`unknown op ${JSON.stringify(op)}${hint ? `; did you mean "${hint}"?` : ''} (known ops: ${known.join(', ')})`)
    this.op = op
  }
}

export class InvalidParameterError extends OpsError {
  override name = 'InvalidParameterError'
  readonly op: string
  readonly param: string
  readonly value: unknown
  readonly expected: string
  /** `message` replaces the standard wording, e.g. for a parameter the op does not have. */
  constructor (op: string, param: string, value: unknown, expected: string, message?: string) {
    super(message ?? `${op}: parameter "${param}" is ${describeValue(value)}, expected ${expected}`)
    this.op = op
    this.param = param
    this.value = value
    this.expected = expected
  }
}

export class InvalidPipelineError extends OpsError {
  override name = 'InvalidPipelineError'
}

/** A tile, its core rectangle, a stitched result or the statistics sent with a tile do not fit. */
export class InvalidTileError extends OpsError {
  override name = 'InvalidTileError'
}

/** An error about one file: the message names the file, then the problem. */
export class FileProblemError extends OpsError {
  readonly file: string
  readonly problem: string
  constructor (file: string, problem: string) {
    super(`${file}: ${problem}`)
    this.file = file
    this.problem = problem
  }
}

export class ImageInputError extends FileProblemError {
  override name = 'ImageInputError'
}

export class ImageOutputError extends FileProblemError {
  override name = 'ImageOutputError'
}

export class PoolClosedError extends OpsError {
  override name = 'PoolClosedError'
  constructor () {
    super('the kernel worker pool is closed')
  }
}

/** A kernel worker thread died (out of memory, killed) while it held a task. */
export class KernelWorkerError extends OpsError {
  override name = 'KernelWorkerError'
}

export function describeValue (value: unknown): string {
  if (value === undefined) return 'missing'
  if (typeof value === 'string') return JSON.stringify(value)
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value)
  try {
    const s = JSON.stringify(value)
    return s.length > 60 ? `${s.slice(0, 57)}...` : s
  } catch {
    return typeof value
  }
}

export interface ErrorData {
  name: string
  message: string
  fields?: Record<string, unknown>
}

export function toErrorData (err: unknown): ErrorData {
  if (err instanceof InvalidParameterError) {
    return { name: err.name, message: err.message, fields: { op: err.op, param: err.param, value: err.value, expected: err.expected } }
  }
  if (err instanceof UnknownOpError) return { name: err.name, message: err.message, fields: { op: err.op } }
  if (err instanceof FileProblemError) {
    return { name: err.name, message: err.message, fields: { file: err.file, problem: err.problem } }
  }
  if (err instanceof Error) return { name: err.name, message: err.message }
  return { name: 'Error', message: String(err) }
}

/** Rebuilds an error of the same class, with the same message, from toErrorData's output. */
export function fromErrorData (d: ErrorData): Error {
  const f = d.fields ?? {}
  let err: Error
  switch (d.name) {
    case 'InvalidParameterError': err = new InvalidParameterError(String(f.op), String(f.param), f.value, String(f.expected), d.message); break
    case 'UnknownOpError': err = new UnknownOpError(String(f.op), []); break
    case 'ImageInputError': err = new ImageInputError(String(f.file), String(f.problem)); break
    case 'ImageOutputError': err = new ImageOutputError(String(f.file), String(f.problem)); break
    case 'InvalidPipelineError': err = new InvalidPipelineError(d.message); break
    case 'InvalidTileError': err = new InvalidTileError(d.message); break
    case 'PoolClosedError': err = new PoolClosedError(); break
    case 'KernelWorkerError': err = new KernelWorkerError(d.message); break
    default: err = new Error(d.message); err.name = d.name
  }
  err.message = d.message
  return err
}

// Levenshtein distance, only to suggest a spelling for an unknown op or parameter name.
function distance (a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    const cur = [i]
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    prev = cur
  }
  return prev[b.length]
}

export function closest (name: string, known: readonly string[]): string | undefined {
  let best: string | undefined
  let bestD = Infinity
  for (const k of known) {
    const d = distance(name.toLowerCase(), k.toLowerCase())
    if (d < bestD) { bestD = d; best = k }
  }
  return bestD <= Math.max(1, Math.floor(name.length / 3)) ? best : undefined
}
