// A multipart upload read as it arrives: fields kept as text, each file in a temporary file of the dir,
// refusals (too large, too many, not multipart, broken off) with nothing left behind.
import { createHash } from 'node:crypto'
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, dirname, join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ApiRefusal } from '../../src/ui-web/http-errors.ts'
import { MAX_FIELD_BYTES, MAX_UPLOAD_FILES, readUpload, type Upload } from '../../src/ui-web/upload.ts'
import { bytes } from '../transfer/helpers.ts'

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

let root: string
let dir: string
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'swarm-upload-'))
  dir = join(root, 'uploads') // made by readUpload
})
afterEach(async () => { await rm(root, { recursive: true, force: true }) })

const post = (body: FormData): Request => new Request('http://x/api/jobs', { method: 'POST', body })

/** What readUpload threw, or fails the test if it returned. */
async function refusal (p: Promise<Upload>): Promise<ApiRefusal> {
  const r = await p.then(async (u) => { await u.discard(); return undefined }, (e: unknown) => e)
  expect(r).toBeInstanceOf(ApiRefusal)
  return r as ApiRefusal
}

const listDir = async (): Promise<string[]> => await readdir(dir).catch((err: NodeJS.ErrnoException) => {
  if (err.code === 'ENOENT') return []
  throw err
})

describe('readUpload', () => {
  it('reads the fields and puts each file in a temporary file of the dir, with its bytes and its name', async () => {
    const a = bytes(300_000, 1)
    const b = bytes(1234, 2)
    const form = new FormData()
    form.append('pipeline', '[{"op":"grayscale"}]')
    form.append('format', 'png')
    form.append('image', new File([a], 'photo one.jpg', { type: 'image/jpeg' }))
    form.append('image', new File([b], '../../etc/passwd', { type: 'application/octet-stream' }))
    form.append('tileSize', '512')
    const up = await readUpload(post(form), dir, 10_000_000)
    expect(up.fields).toEqual({ pipeline: '[{"op":"grayscale"}]', format: 'png', tileSize: '512' })
    expect(up.files).toHaveLength(2)
    const [fa, fb] = up.files
    expect(fa.name).toBe('photo one.jpg')
    expect(fa.field).toBe('image')
    expect(fa.bytes).toBe(a.byteLength)
    expect(fb.name).toBe('passwd')
    expect(fb.field).toBe('image')
    expect(fb.bytes).toBe(b.byteLength)
    for (const [f, data] of [[fa, a], [fb, b]] as const) {
      expect(dirname(f.path)).toBe(dir)
      expect((await stat(f.path)).size).toBe(data.byteLength)
      expect(sha(await readFile(f.path))).toBe(sha(data))
    }
    expect(fa.path).not.toBe(fb.path)
    // Nothing is written outside the dir, under the name the browser gave.
    expect((await listDir()).sort()).toEqual([basename(fa.path), basename(fb.path)].sort())
    expect(await readdir(root)).toEqual(['uploads'])
    await up.discard()
    expect(await listDir()).toEqual([])
  })

  // The job protocol takes an input of `bytes <= maxInputBytes` (job-service.ts); the dashboard's upload must too.
  it('a file of exactly maxFileBytes is taken', async () => {
    const data = bytes(4096, 3)
    const form = new FormData()
    form.append('image', new File([data], 'exact.png'))
    const up = await readUpload(post(form), dir, 4096)
    expect(up.files.map(f => f.bytes)).toEqual([4096])
    expect(sha(await readFile(up.files[0].path))).toBe(sha(data))
    await up.discard()
  })

  it('a file over maxFileBytes is refused with 413 (field image) and no file is left in the dir', async () => {
    const form = new FormData()
    form.append('pipeline', '[]')
    form.append('image', new File([bytes(1000, 4)], 'small.png'))
    form.append('image', new File([bytes(2 * 1024 * 1024 + 1, 5)], 'big.png'))
    const err = await refusal(readUpload(post(form), dir, 2 * 1024 * 1024))
    expect(err.status).toBe(413)
    expect(err.field).toBe('image')
    expect(err.message).toMatch(/big\.png/)
    expect(await listDir()).toEqual([])
  })

  it('one byte over maxFileBytes is refused', async () => {
    const form = new FormData()
    form.append('image', new File([bytes(4097, 6)], 'over.png'))
    const err = await refusal(readUpload(post(form), dir, 4096))
    expect(err.status).toBe(413)
    expect(await listDir()).toEqual([])
  })

  it('a content type other than multipart/form-data is refused with 415', async () => {
    const json = new Request('http://x/api/jobs', { method: 'POST', body: '{"pipeline":[]}', headers: { 'content-type': 'application/json' } })
    const err = await refusal(readUpload(json, dir, 1000))
    expect(err.status).toBe(415)
    expect(err.field).toBe('image')
    expect(err.message).toMatch(/application\/json/)
    const untyped = new Request('http://x/api/jobs', { method: 'POST', body: new Uint8Array([1, 2, 3]) })
    expect((await refusal(readUpload(untyped, dir, 1000))).status).toBe(415)
    const urlencoded = new Request('http://x/api/jobs', { method: 'POST', body: new URLSearchParams({ pipeline: '[]' }) })
    expect((await refusal(readUpload(urlencoded, dir, 1000))).status).toBe(415)
    expect(await listDir()).toEqual([])
  })

  it(`more than MAX_UPLOAD_FILES (${MAX_UPLOAD_FILES}) files are refused with 413 and none is left`, async () => {
    const form = new FormData()
    form.append('pipeline', '[]')
    for (let i = 0; i <= MAX_UPLOAD_FILES; i++) form.append('image', new File([bytes(64, i + 1)], `img-${i}.png`))
    const err = await refusal(readUpload(post(form), dir, 1000))
    expect(err.status).toBe(413)
    expect(err.field).toBe('image')
    expect(await listDir()).toEqual([])
  })

  it(`exactly MAX_UPLOAD_FILES (${MAX_UPLOAD_FILES}) files are taken`, async () => {
    const form = new FormData()
    for (let i = 0; i < MAX_UPLOAD_FILES; i++) form.append('image', new File([bytes(64, i + 1)], `img-${i}.png`))
    const up = await readUpload(post(form), dir, 1000)
    expect(up.files).toHaveLength(MAX_UPLOAD_FILES)
    expect(new Set(up.files.map(f => f.path)).size).toBe(MAX_UPLOAD_FILES)
    expect(sha(await readFile(up.files[7].path))).toBe(sha(bytes(64, 8)))
    expect((await listDir()).length).toBe(MAX_UPLOAD_FILES)
    await up.discard()
    expect(await listDir()).toEqual([])
  })

  it('a field of exactly MAX_FIELD_BYTES is taken', async () => {
    const form = new FormData()
    form.append('pipeline', 'x'.repeat(MAX_FIELD_BYTES))
    const up = await readUpload(post(form), dir, 1000)
    expect(up.fields.pipeline).toHaveLength(MAX_FIELD_BYTES)
    await up.discard()
  })

  it('a field longer than MAX_FIELD_BYTES is refused with 413 naming it', async () => {
    const form = new FormData()
    form.append('pipeline', 'x'.repeat(MAX_FIELD_BYTES + 1))
    form.append('image', new File([bytes(10)], 'a.png'))
    const err = await refusal(readUpload(post(form), dir, 1000))
    expect(err.status).toBe(413)
    expect(err.field).toBe('pipeline')
    expect(await listDir()).toEqual([])
  })

  it('a body that breaks off inside a file is refused with 400 and its partial file removed', async () => {
    const boundary = 'swarmtestboundary'
    const head = `--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="cut.png"\r\nContent-Type: image/png\r\n\r\n`
    const body = new Uint8Array(Buffer.concat([Buffer.from(head), Buffer.from(bytes(50_000, 9))])) // no closing boundary
    const request = new Request('http://x/api/jobs', { method: 'POST', body, headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } })
    const err = await refusal(readUpload(request, dir, 1_000_000))
    expect(err.status).toBe(400)
    expect(await listDir()).toEqual([])
  })

  it('a multipart content type without a boundary is refused with 400', async () => {
    const request = new Request('http://x/api/jobs', { method: 'POST', body: 'x', headers: { 'content-type': 'multipart/form-data' } })
    const err = await refusal(readUpload(request, dir, 1000))
    expect(err.status).toBe(400)
  })

  it('discard() removes the temporary files (and may be called twice)', async () => {
    const form = new FormData()
    form.append('image', new File([bytes(100, 1)], 'a.png'))
    form.append('mask', new File([bytes(200, 2)], 'b.png'))
    const up = await readUpload(post(form), dir, 1000)
    expect(up.files.map(f => [f.field, f.bytes])).toEqual([['image', 100], ['mask', 200]])
    for (const f of up.files) expect((await stat(f.path)).isFile()).toBe(true)
    await up.discard()
    for (const f of up.files) await expect(stat(f.path)).rejects.toMatchObject({ code: 'ENOENT' })
    await up.discard()
    expect(await listDir()).toEqual([])
  })
})
