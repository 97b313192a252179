// A multipart upload (the dashboard's submit form, or curl -F) read as it arrives: each file part goes to
// a temporary file, never whole into memory (an input may be 2 GiB), the small fields are kept as text.
import { createWriteStream } from 'node:fs'
import { mkdir, rm } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import busboy from 'busboy'
import { ApiRefusal } from './http-errors.ts'

/** Images in one submit: each becomes a job; a folder of a class's photos fits. */
export const MAX_UPLOAD_FILES = 64
/** Text fields (pipeline, format, tileSize): a 32-op pipeline is a few KiB of JSON. */
export const MAX_FIELD_BYTES = 64 * 1024
const MAX_FIELDS = 16

export interface UploadedFile {
  /** The name the browser gave, without any directory part. */
  name: string
  path: string
  bytes: number
  field: string
}

export interface Upload {
  files: UploadedFile[]
  fields: Record<string, string>
  /** Removes the temporary files. */
  discard: () => Promise<void>
}

/** Reads `request` (multipart/form-data) into `dir`; files over `maxFileBytes` are refused with 413. */
export async function readUpload (request: Request, dir: string, maxFileBytes: number): Promise<Upload> {
  const type = request.headers.get('content-type') ?? ''
  if (!type.toLowerCase().startsWith('multipart/form-data')) throw new ApiRefusal(415, `a submit is multipart/form-data (an "image" file and a "pipeline" field), got ${type === '' ? 'no content type' : JSON.stringify(type)}`, { field: 'image' })
  if (request.body == null) throw new ApiRefusal(400, 'the upload has no body', { field: 'image' })
  await mkdir(dir, { recursive: true })
  const files: UploadedFile[] = []
  const fields: Record<string, string> = {}
  const discard = async (): Promise<void> => { await Promise.all(files.map(async f => { await rm(f.path, { force: true }) })) }
  let refusal: ApiRefusal | undefined
  const writes: Array<Promise<void>> = []
  let bb: busboy.Busboy
  try {
    // busboy's limits fire on reaching them: one over, so that the max itself is taken.
    bb = busboy({ headers: { 'content-type': type }, limits: { fileSize: maxFileBytes + 1, files: MAX_UPLOAD_FILES, fields: MAX_FIELDS, fieldSize: MAX_FIELD_BYTES + 1 } })
  } catch (err) {
    throw new ApiRefusal(400, `the upload is not valid multipart/form-data: ${(err as Error).message}`, { field: 'image' })
  }
  bb.on('file', (field, stream, info) => {
    const name = basename(info.filename ?? '').slice(0, 255) || 'upload'
    const file: UploadedFile = { name, path: join(dir, `upload-${randomBytes(8).toString('hex')}`), bytes: 0, field }
    files.push(file)
    stream.on('data', (chunk: Buffer) => { file.bytes += chunk.byteLength })
    stream.on('limit', () => { refusal ??= new ApiRefusal(413, `${name}: larger than ${maxFileBytes} bytes, the most a job's input may be`, { field }) })
    writes.push(pipeline(stream, createWriteStream(file.path)))
  })
  bb.on('field', (name, value, info) => {
    if (info.valueTruncated) refusal ??= new ApiRefusal(413, `the field "${name}" is longer than ${MAX_FIELD_BYTES} bytes`, { field: name })
    fields[name] = value
  })
  bb.on('filesLimit', () => { refusal ??= new ApiRefusal(413, `at most ${MAX_UPLOAD_FILES} images in one submit`, { field: 'image' }) })
  bb.on('fieldsLimit', () => { refusal ??= new ApiRefusal(413, `at most ${MAX_FIELDS} form fields in one submit`) })
  try {
    await pipeline(Readable.fromWeb(request.body as import('node:stream/web').ReadableStream<Uint8Array>), bb)
    await Promise.all(writes)
  } catch (err) {
    await Promise.allSettled(writes)
    await discard()
    throw err instanceof ApiRefusal ? err : new ApiRefusal(400, `the upload broke off or is not valid multipart/form-data: ${(err as Error).message}`, { field: 'image' })
  }
  if (refusal != null) {
    await discard()
    throw refusal
  }
  return { files, fields, discard }
}
