// Where `swarm submit`, `swarm result` and `swarm run` write, decided and checked before any work: a path
// that cannot be written, a file that would be overwritten, an input that would be its own output, several
// images aimed at one file. They used to be found after the work (ENOENT, EEXIST, a silent directory).
// Imports only node:fs and node:path.
import { constants } from 'node:fs'
import { access, mkdir, open, rename, stat, unlink, writeFile } from 'node:fs/promises'
import { basename, dirname, extname, join, resolve, sep } from 'node:path'

export type ImageFormat = 'png' | 'jpeg' | 'webp' | 'tiff' | 'avif' | 'gif'

const FORMAT_OF_EXTENSION: Record<string, ImageFormat> = {
  '.png': 'png', '.jpg': 'jpeg', '.jpeg': 'jpeg', '.webp': 'webp', '.tif': 'tiff', '.tiff': 'tiff', '.avif': 'avif', '.gif': 'gif'
}

/** The file extension a format is written with (as the master names its outputs). */
export const extensionFor = (f: ImageFormat): string => f === 'jpeg' ? 'jpg' : f === 'tiff' ? 'tif' : f

/** The format an image extension names, or undefined for any other name. */
export const formatOfPath = (path: string): ImageFormat | undefined => FORMAT_OF_EXTENSION[extname(path).toLowerCase()]

/** A refusal about the output, in one sentence that names the path as the user gave it. */
export class OutputError extends Error {
  override name = 'OutputError'
}

export interface PlannedOutput {
  input: string
  /** Where the result goes, as the user wrote it (joined onto -o when -o is a directory). */
  out: string
  format: ImageFormat
}

/** -o names a directory: it ends in a separator, is one already, or has no image extension with several images. */
async function isDirectoryTarget (output: string, several: boolean): Promise<boolean> {
  if (output.endsWith('/') || output.endsWith(sep)) return true
  const st = await stat(output).catch(() => undefined)
  if (st != null) {
    if (st.isDirectory()) return true
    if (several) throw new OutputError(`-o ${output} is a file, and several images were given: with several images -o must be a directory (e.g. -o out/)`)
    return false
  }
  return several ? formatOfPath(output) == null : extname(output) === ''
}

/**
 * Each input's output: with one image, -o is its file (the extension picks the format) unless it names a
 * directory; with several, -o must be a directory, and each output is named after its input.
 */
export async function planOutputs (inputs: string[], output: string, format?: ImageFormat): Promise<PlannedOutput[]> {
  const several = inputs.length > 1
  if (!(await isDirectoryTarget(output, several))) {
    if (several) {
      throw new OutputError(`-o ${output} names one file, but ${inputs.length} images were given: with several images -o must be a directory (e.g. -o ${dirname(output) === '.' ? '' : `${dirname(output)}/`}out/)`)
    }
    const fromName = formatOfPath(output)
    if (fromName == null) {
      const ext = extname(output)
      throw new OutputError(`-o ${output}: ${ext === '' ? 'no file extension' : `unknown output format "${ext}"`}: use .png, .jpg/.jpeg, .webp, .tif/.tiff, .avif or .gif (or a directory)`)
    }
    if (format != null && format !== fromName) {
      throw new OutputError(`--format ${format} does not match -o ${output} (${fromName}): drop --format or change the extension`)
    }
    return [{ input: inputs[0], out: output, format: fromName }]
  }
  const f = format ?? 'png'
  const planned = inputs.map(input => ({ input, out: join(output, `${basename(input, extname(input))}.${extensionFor(f)}`), format: f }))
  const seen = new Map<string, string>()
  for (const p of planned) {
    const other = seen.get(resolve(p.out))
    if (other != null) throw new OutputError(`${other} and ${p.input} would both be written to ${p.out}: give them separately, each with its own -o`)
    seen.set(resolve(p.out), p.input)
  }
  return planned
}

/** "ENOENT: no such file or directory", without the path Node appends (it may be a temporary name). */
export function fsReason (err: unknown): string {
  const e = err as NodeJS.ErrnoException
  if (typeof e?.code === 'string') return e.message.split(',')[0] ?? e.code
  return String((err as Error)?.message ?? err)
}

/** The nearest directory at or above `dir` that exists (a file there is refused: nothing can be created under it). */
async function nearestExisting (dir: string, out: string): Promise<string> {
  let p = resolve(dir)
  // Bounded by the path's depth: dirname of the root is the root.
  for (let i = 0; i < 4096; i++) {
    const st = await stat(p).catch((err: NodeJS.ErrnoException) => {
      // ENOTDIR: a file on the way up, found (and refused) a step higher.
      if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return undefined
      throw new OutputError(`cannot write ${out}: ${p}: ${fsReason(err)}`)
    })
    if (st != null) {
      if (!st.isDirectory()) throw new OutputError(`cannot write ${out}: ${p} is not a directory`)
      return p
    }
    const up = dirname(p)
    if (up === p) break
    p = up
  }
  throw new OutputError(`cannot write ${out}: no directory above it exists`)
}

/**
 * `dir` exists or can be created, and a file can be created in it: its nearest existing directory is
 * probed with a file of our own, made and removed (write permission alone says nothing on /proc or a
 * read-only mount, and root passes every permission check).
 */
export async function checkWritableDir (dir: string, out: string): Promise<void> {
  const base = await nearestExisting(dir, out)
  const probe = join(base, `.swarm-write-probe-${process.pid}-${Math.random().toString(36).slice(2, 10)}`)
  try {
    await access(base, constants.W_OK)
    const fh = await open(probe, 'wx')
    await fh.close()
    await unlink(probe).catch(() => {})
  } catch (err) {
    throw new OutputError(`cannot write ${out}: no file can be created in ${base} (${fsReason(err)})`)
  }
}

/** The same file, whatever the spelling (a link, a relative path). */
async function sameFile (a: string, b: string): Promise<boolean> {
  if (resolve(a) === resolve(b)) return true
  const [sa, sb] = await Promise.all([stat(a).catch(() => undefined), stat(b).catch(() => undefined)])
  return sa != null && sb != null && sa.dev === sb.dev && sa.ino === sb.ino
}

/** One output's checks, short of the directory's (see checkWritableDir): not the input, not a file there already unless forced. */
export async function checkOutputFile (out: string, opts: { input?: string, force: boolean }): Promise<void> {
  if (opts.input != null && await sameFile(out, opts.input)) throw new OutputError(`the output ${out} is the input itself; choose another -o`)
  const st = await stat(out).catch(() => undefined)
  if (st == null) return
  if (st.isDirectory()) throw new OutputError(`cannot write ${out}: it is a directory`)
  if (!opts.force) throw new OutputError(`${out} exists; pass --force to overwrite`)
}

/**
 * Writes the output, its directory made if need be. Without force a file that appeared meanwhile is kept;
 * with it, the file is replaced whole (via a temporary file and a rename). Errors name `out`, never the temporary.
 */
export async function writeOutput (out: string, data: Uint8Array, force: boolean): Promise<void> {
  try {
    await mkdir(dirname(resolve(out)), { recursive: true })
  } catch (err) {
    throw new OutputError(`cannot write ${out}: ${fsReason(err)}`)
  }
  if (!force) {
    try {
      await writeFile(out, data, { flag: 'wx' })
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new OutputError(`${out} exists; pass --force to overwrite`)
      throw new OutputError(`cannot write ${out}: ${fsReason(err)}`)
    }
    return
  }
  const tmp = `${resolve(out)}.${process.pid}.partial`
  try {
    await writeFile(tmp, data)
    await rename(tmp, out)
  } catch (err) {
    await unlink(tmp).catch(() => {})
    throw new OutputError(`cannot write ${out}: ${fsReason(err)}`)
  }
}
