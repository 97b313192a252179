// The dashboard's HTTP API against an in-process swarm of 3 peers on 127.0.0.1 (test/sim's harness):
// one dashboard on a follower (whose /api/jobs* goes to the master through the HTTP tunnel) and one on
// the master (answered by its own MasterApi), both on 127.0.0.1:0 (loopback: no token asked), spoken to
// with the global fetch. Every request has a deadline, every wait is a bounded poll, and everything
// started here is stopped in afterAll.
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import sharp from 'sharp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { describeOps } from '../../src/ops/catalogue.ts'
import type { DashboardServer } from '../../src/ui-web/server.ts'
import { uploadDirOf } from '../../src/ui-web/master-api.ts'
import type { ApiError, JobDetail, JobsView, OpsView, SubmitReply, SwarmView } from '../../src/ui-web/api-types.ts'
import { SimSwarm, type SimPeer } from '../sim/harness.ts'
import { expectReference, makeImage } from '../sim/jobs.ts'

/** The deadline of one plain request (not an event stream). */
const REQUEST_MS = 30_000
const TOKEN = 'not-asked-on-loopback-0123456789'

let dir: string
let sim: SimSwarm | undefined
let lone: SimSwarm | undefined
const servers: DashboardServer[] = []
let follower: SimPeer
let master: SimPeer
/** The follower's dashboard and the master's, as base URLs ("http://127.0.0.1:port/"). */
let F: string
let M: string
const names = ['api-peer-0', 'api-peer-1', 'api-peer-2']
const nameOf = (p: SimPeer): string => names[p.index]

async function call (base: string, path: string, init: RequestInit = {}): Promise<Response> {
  return await fetch(new URL(path, base), { signal: AbortSignal.timeout(REQUEST_MS), ...init })
}

async function json<T> (base: string, path: string, init: RequestInit = {}): Promise<{ status: number, body: T, res: Response }> {
  const res = await call(base, path, init)
  const text = await res.text()
  let body: T
  try { body = JSON.parse(text) as T } catch { throw new Error(`${init.method ?? 'GET'} ${path}: ${res.status}, not JSON: ${text.slice(0, 300)}`) }
  return { status: res.status, body, res }
}

/** Polls an async condition every 50 ms until it gives a value, at most timeoutMs. */
async function poll<T> (what: string, cond: () => Promise<T | null | undefined | false>, timeoutMs: number, debug: () => string = () => ''): Promise<T> {
  const start = performance.now()
  let last: unknown
  for (let i = 0; i < Math.ceil(timeoutMs / 50) + 1; i++) {
    try {
      const v = await cond()
      if (v != null && v !== false) return v
    } catch (err) { last = err }
    if (performance.now() - start > timeoutMs) break
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last != null ? ` (last error: ${(last as Error).message})` : ''}\n${debug()}\n${sim?.trace() ?? ''}`)
}

async function pngBlob (path: string): Promise<Blob> {
  return new Blob([await readFile(path)], { type: 'image/png' })
}

function form (fields: Record<string, string>, images: Array<[Blob, string]>): FormData {
  const f = new FormData()
  for (const [blob, name] of images) f.append('image', blob, name)
  for (const [k, v] of Object.entries(fields)) f.append(k, v)
  return f
}

const pipelineOf = (ops: Array<{ name: string, params: Record<string, unknown> }>): string => JSON.stringify({ ops })

async function submitVia (base: string, img: string, name: string, ops: Array<{ name: string, params: Record<string, unknown> }>, tileSize = 32): Promise<SubmitReply['jobs'][0]> {
  const { status, body } = await json<SubmitReply & ApiError>(base, '/api/jobs', {
    method: 'POST', body: form({ pipeline: pipelineOf(ops), tileSize: String(tileSize) }, [[await pngBlob(img), name]])
  })
  expect(status, JSON.stringify(body)).toBe(202)
  expect(body.jobs).toHaveLength(1)
  return body.jobs[0]
}

async function detail (base: string, jobId: string): Promise<JobDetail> {
  const { status, body } = await json<JobDetail>(base, `/api/jobs/${jobId}`)
  expect(status, JSON.stringify(body)).toBe(200)
  return body
}

async function untilState (base: string, jobId: string, state: string, timeoutMs: number): Promise<JobDetail> {
  let last: JobDetail | undefined
  return await poll(`job ${jobId} to be ${state}`, async () => {
    last = await detail(base, jobId)
    return last.state === state ? last : null
  }, timeoutMs, () => `last: ${JSON.stringify({ ...last, cells: undefined, peerNames: undefined })}`)
}

/** Every job the master keeps, by the listing's counts. */
async function total (base: string): Promise<number> {
  const { status, body } = await json<JobsView>(base, '/api/jobs?limit=1000')
  expect(status).toBe(200)
  return Object.values(body.counts).reduce((a, b) => a + b, 0)
}

async function startDashboard (p: SimPeer): Promise<string> {
  const server = p.node!.dashboard({ host: '127.0.0.1', port: 0, token: TOKEN })
  servers.push(server)
  const { url } = await server.start()
  expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/)
  return url
}

interface SseEvent { event: string, data: any }

/** An event stream read with fetch: events parsed as they come, ended by abort() or a hard deadline. */
function openEvents (base: string, path: string, deadlineMs: number): { ready: Promise<Response>, events: SseEvent[], abort: () => void, ended: Promise<{ error?: unknown, chunks: number }> } {
  const ac = new AbortController()
  const deadline = setTimeout(() => { ac.abort(new Error(`event stream ${path} still open after ${deadlineMs} ms`)) }, deadlineMs)
  const events: SseEvent[] = []
  const ready = fetch(new URL(path, base), { signal: ac.signal, headers: { accept: 'text/event-stream' } })
  const ended = ready.then(async (res) => {
    const reader = res.body!.getReader()
    const decoder = new TextDecoder()
    let buf = ''
    let chunks = 0
    try {
      for (; chunks < 1_000_000; chunks++) {
        const { value, done } = await reader.read()
        if (done) return { chunks }
        buf += decoder.decode(value, { stream: true })
        for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
          const block = buf.slice(0, i)
          buf = buf.slice(i + 2)
          const event = /^event: (.*)$/m.exec(block)?.[1]
          const data = /^data: (.*)$/m.exec(block)?.[1]
          if (event != null && data != null) events.push({ event, data: JSON.parse(data) })
        }
      }
      return { chunks, error: new Error('too many chunks') }
    } catch (error) {
      return { chunks, error }
    } finally {
      clearTimeout(deadline)
    }
  }, (error: unknown) => { clearTimeout(deadline); return { chunks: 0, error } })
  return { ready, events, abort: () => { ac.abort() }, ended }
}

async function within<T> (ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([p, new Promise<never>((_resolve, reject) => { timer = setTimeout(() => { reject(new Error(`${what}: not within ${ms} ms`)) }, ms) })])
  } finally {
    clearTimeout(timer)
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'swarm-api-'))
})

afterAll(async () => {
  for (const s of servers.splice(0)) await s.stop()
  await sim?.close()
  sim = undefined
  await lone?.close()
  lone = undefined
  await rm(dir, { recursive: true, force: true })
})

describe('dashboard HTTP API on a 3-peer sim swarm, from a follower and from the master', () => {
  const jobIds: Record<string, string> = {}

  beforeAll(async () => {
    sim = new SimSwarm({ heartbeatMs: 200, deadAfterMs: 2000 })
    await sim.init()
    // Named one by one, so that "browser via <name>" says which dashboard took a submit.
    for (const name of names) await sim.add(1, { name })
    const { value: m } = await sim.waitFor('a master', () => sim!.agreedMaster(), 10_000)
    master = m
    follower = sim.running().find(p => p !== m)!
    F = await startDashboard(follower)
    M = await startDashboard(master)
  })

  it('GET /api/swarm on the follower: itself, the master, the 3 peers and links; GET /api/ops: the catalogue with its params', async () => {
    const view = await poll('the follower to list 3 live peers', async () => {
      const { status, body } = await json<SwarmView>(F, '/api/swarm')
      expect(status).toBe(200)
      return body.peers.length === 3 && body.peers.every(p => p.alive) ? body : null
    }, 10_000)
    expect(view.self).toBe(follower.peerId)
    expect(view.master).toBe(master.peerId)
    expect(view.epoch).toBe(follower.peer!.epoch)
    expect(view.epoch).toBeGreaterThan(0)
    expect(new Set(view.peers.map(p => p.peerId))).toEqual(new Set(sim!.peers.map(p => p.peerId)))
    expect(view.peers.find(p => p.self)?.peerId).toBe(follower.peerId)
    expect(view.peers.find(p => p.peerId === master.peerId)?.role).toBe('master')
    expect(new Set(view.peers.map(p => p.name))).toEqual(new Set(names))
    const pair = [follower.peerId, master.peerId].sort()
    expect(view.links).toContainEqual(pair)
    expect(view.distrusted).toEqual([])
    // The master's own dashboard says the same master, and itself.
    const fromMaster = (await json<SwarmView>(M, '/api/swarm')).body
    expect(fromMaster.self).toBe(master.peerId)
    expect(fromMaster.master).toBe(master.peerId)

    const { status, body: ops } = await json<OpsView>(F, '/api/ops')
    expect(status).toBe(200)
    expect(ops).toEqual(describeOps())
    expect(ops.map(o => o.name)).toEqual(expect.arrayContaining(['invert', 'grayscale', 'blur', 'median']))
    const sigma = ops.find(o => o.name === 'blur')?.params.find(p => p.name === 'sigma')
    expect(sigma).toMatchObject({ type: 'number', min: 0.3, max: 100, default: 2 })
    expect(ops.find(o => o.name === 'invert')?.params).toEqual([])
  })

  it('POST /api/jobs on the follower: 202, done, every cell done, the result equals the reference, submitted "browser via <follower>"', async () => {
    const img = await makeImage(dir, 'alpha-kitten.png', 150, 90, 11)
    const job = await submitVia(F, img, 'alpha-kitten.png', [{ name: 'invert', params: {} }])
    jobIds.kitten = job.jobId
    expect(job).toMatchObject({ name: 'alpha-kitten.png', width: 150, height: 90, phases: 1 })
    expect(job.jobId).toMatch(/\S/)
    const done = await untilState(F, job.jobId, 'done', 60_000)
    expect(done.tileSize).toBe(32)
    expect([done.cols, done.rows]).toEqual([Math.ceil(150 / 32), Math.ceil(90 / 32)])
    expect(done.cells).toHaveLength(done.cols * done.rows)
    expect(job.tiles).toBe(done.cols * done.rows)
    expect(done.cells.every(c => c.state === 'done')).toBe(true)
    expect(done.done).toBe(done.total)
    expect(done.pipeline).toBe('invert')
    expect(done.format).toBe('png')
    expect(done.submitter).toBe(`browser via ${nameOf(follower)}`)
    // The peers named in the tile map are swarm members the master can name.
    for (const c of done.cells) if (c.peer != null) expect(done.peerNames[c.peer]).toBeDefined()

    const res = await call(F, `/api/jobs/${job.jobId}/result`)
    expect(res.status, res.status === 200 ? '' : await res.text()).toBe(200)
    expect(res.headers.get('content-type')).toBe('image/png')
    expect(res.headers.get('content-disposition')).toBe('attachment; filename="alpha-kitten.png"')
    const bytes = new Uint8Array(await res.arrayBuffer())
    expect(Number(res.headers.get('content-length'))).toBe(bytes.byteLength)
    await expectReference(bytes, img, ['invert'])

    // Through the master's own dashboard: the same job, and a submit there says the master's name.
    expect((await detail(M, job.jobId)).submitter).toBe(`browser via ${nameOf(follower)}`)
    const img2 = await makeImage(dir, 'beta-puppy.png', 70, 40, 12)
    const job2 = await submitVia(M, img2, 'beta-puppy.png', [{ name: 'grayscale', params: {} }])
    jobIds.puppy = job2.jobId
    const done2 = await untilState(M, job2.jobId, 'done', 60_000)
    expect(done2.submitter).toBe(`browser via ${nameOf(master)}`)
    await expectReference(new Uint8Array(await (await call(M, `/api/jobs/${job2.jobId}/result`)).arrayBuffer()), img2, ['grayscale'])
  })

  it('refusals name the field at fault and queue nothing', async () => {
    const img = await makeImage(dir, 'ok.png', 64, 48, 13)
    const good = await pngBlob(img)
    const text = new Blob(['this is not an image, only text\n'], { type: 'text/plain' })
    const invert = pipelineOf([{ name: 'invert', params: {} }])
    const before = await total(F)
    const uploads = uploadDirOf(master.dataDir)
    const cases: Array<{ what: string, body: RequestInit['body'], headers?: Record<string, string>, status: number, field: string }> = [
      { what: 'a good image and a text file', body: form({ pipeline: invert }, [[good, 'good.png'], [text, 'notes.png']]), status: 400, field: 'image' },
      { what: 'blur sigma 500', body: form({ pipeline: pipelineOf([{ name: 'blur', params: { sigma: 500 } }]) }, [[good, 'a.png']]), status: 400, field: 'ops.0.sigma' },
      { what: 'an unknown op', body: form({ pipeline: pipelineOf([{ name: 'sparkle', params: {} }]) }, [[good, 'a.png']]), status: 400, field: 'ops.0' },
      { what: 'a pipeline that is not JSON', body: form({ pipeline: '{"ops":[{"name":"invert"' }, [[good, 'a.png']]), status: 400, field: 'pipeline' },
      { what: 'format bmp', body: form({ pipeline: invert, format: 'bmp' }, [[good, 'a.png']]), status: 400, field: 'format' },
      { what: 'tileSize 3', body: form({ pipeline: invert, tileSize: '3' }, [[good, 'a.png']]), status: 400, field: 'tileSize' },
      { what: 'no image', body: form({ pipeline: invert }, []), status: 400, field: 'image' },
      { what: 'a JSON body', body: JSON.stringify({ pipeline: invert }), headers: { 'content-type': 'application/json' }, status: 415, field: 'image' }
    ]
    for (const c of cases) {
      const { status, body } = await json<ApiError>(F, '/api/jobs', { method: 'POST', body: c.body, ...(c.headers != null ? { headers: c.headers } : {}) })
      expect(status, `${c.what}: ${JSON.stringify(body)}`).toBe(c.status)
      expect(body.error.field, `${c.what}: ${JSON.stringify(body)}`).toBe(c.field)
      expect(body.error.message, c.what).toMatch(/\S/)
      expect(await total(F), `${c.what} queued something`).toBe(before)
    }
    // The README's example message.
    const sigma = await json<ApiError>(F, '/api/jobs', { method: 'POST', body: form({ pipeline: pipelineOf([{ name: 'blur', params: { sigma: 500 } }]) }, [[good, 'a.png']]) })
    expect(sigma.body.error.message).toBe('blur: parameter "sigma" is 500, expected a number between 0.3 and 100')
    expect(await total(M)).toBe(before)
    // Nothing of the refused uploads is left in the master's spool.
    const left = await readdir(uploads).catch((err: NodeJS.ErrnoException) => { if (err.code === 'ENOENT') return []; throw err })
    expect(left).toEqual([])
  })

  it('result before done is 409, an unknown job 404, cancel of a running job cancels it once', async () => {
    // Slow enough to be mid-way when asked: hundreds of tiles of a wide median.
    const img = await makeImage(dir, 'slow-median.png', 960, 640, 14)
    const job = await submitVia(F, img, 'slow-median.png', [{ name: 'median', params: { radius: 5 } }], 32)
    jobIds.slow = job.jobId
    const early = await json<ApiError>(F, `/api/jobs/${job.jobId}/result`)
    expect(early.status, JSON.stringify(early.body)).toBe(409)
    expect(early.body.error.code).toBe('not-done')

    for (const path of ['/api/jobs/nope', '/api/jobs/nope/result', '/api/jobs/nope/preview', '/api/jobs/nope/events']) {
      const r = await json<ApiError>(F, path)
      expect(r.status, `${path}: ${JSON.stringify(r.body)}`).toBe(404)
      expect(r.body.error.message).toContain('nope')
    }
    const unknownCancel = await json<ApiError>(F, '/api/jobs/nope/cancel', { method: 'POST' })
    expect(unknownCancel.status).toBe(404)

    const running = await untilState(F, job.jobId, 'running', 30_000)
    expect(running.done).toBeLessThan(running.total)
    const cancel = await json<{ jobId: string, state: string, cancelled: boolean }>(F, `/api/jobs/${job.jobId}/cancel`, { method: 'POST' })
    expect(cancel.status).toBe(200)
    expect(cancel.body).toEqual({ jobId: job.jobId, state: 'cancelled', cancelled: true })
    const after = await untilState(F, job.jobId, 'cancelled', 10_000)
    expect(after.done).toBeLessThan(after.total)
    const again = await json<{ jobId: string, state: string, cancelled: boolean }>(F, `/api/jobs/${job.jobId}/cancel`, { method: 'POST' })
    expect(again.body).toEqual({ jobId: job.jobId, state: 'cancelled', cancelled: false })
    expect((await detail(F, job.jobId)).state).toBe('cancelled')
    const late = await json<ApiError>(F, `/api/jobs/${job.jobId}/result`)
    expect(late.status).toBe(409)
  })

  it('GET /api/jobs filters by state and search, newest first, and refuses a bad limit or state', async () => {
    // The jobs of the cases above: two done (the submit case's), one cancelled.
    expect([jobIds.kitten, jobIds.puppy, jobIds.slow].every(id => id != null), `the submit and cancel cases queued their jobs: ${JSON.stringify(jobIds)}`).toBe(true)
    const all = (await json<JobsView>(F, '/api/jobs')).body
    expect(all.master).toBe(master.peerId)
    expect(all.jobs.map(j => j.id).slice(0, 3)).toEqual([jobIds.slow, jobIds.puppy, jobIds.kitten])
    expect(all.counts).toMatchObject({ done: 2, cancelled: 1, queued: 0, running: 0, failed: 0 })

    const kitten = await json<JobsView>(F, '/api/jobs?state=done&q=kitt')
    expect(kitten.status).toBe(200)
    expect(kitten.body.jobs.map(j => j.id)).toEqual([jobIds.kitten])
    expect(kitten.body.counts).toEqual(all.counts) // counts are of every job, not only the listed
    expect((await json<JobsView>(F, '/api/jobs?q=KITTEN')).body.jobs.map(j => j.id)).toEqual([jobIds.kitten])
    expect((await json<JobsView>(F, '/api/jobs?state=cancelled&q=kitten')).body.jobs).toEqual([])
    expect((await json<JobsView>(F, '/api/jobs?state=cancelled')).body.jobs.map(j => j.id)).toEqual([jobIds.slow])
    expect((await json<JobsView>(F, '/api/jobs?q=median')).body.jobs.map(j => j.id)).toEqual([jobIds.slow]) // the pipeline is searched
    expect((await json<JobsView>(F, `/api/jobs?q=${jobIds.puppy}`)).body.jobs.map(j => j.id)).toEqual([jobIds.puppy]) // and the id
    expect((await json<JobsView>(F, '/api/jobs?state=done&limit=1')).body.jobs.map(j => j.id)).toEqual([jobIds.puppy])
    expect((await json<JobsView>(F, '/api/jobs?state=all&q=puppy')).body.jobs.map(j => j.id)).toEqual([jobIds.puppy])

    for (const [query, field] of [['limit=0', 'limit'], ['limit=1001', 'limit'], ['limit=two', 'limit'], ['state=weird', 'state']]) {
      const r = await json<ApiError>(F, `/api/jobs?${query}`)
      expect(r.status, query).toBe(400)
      expect(r.body.error.field, query).toBe(field)
    }
  })

  it('GET /api/jobs/events on the follower: tile and job events of a new job, to its result; abort ends the stream and the master forgets it', async () => {
    const mr = master.node!.master
    const baseline = { job: mr.listenerCount('job'), dispatched: mr.listenerCount('dispatched'), log: mr.listenerCount('log') }
    const stream = openEvents(F, '/api/jobs/events', 60_000)
    const res = await within(REQUEST_MS, 'the event stream\'s head', stream.ready)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/)
    // Subscribed on the master (through the tunnel) before the job goes in.
    await poll('the master to have the stream\'s listeners', async () => mr.listenerCount('job') > baseline.job, 10_000)

    const img = await makeImage(dir, 'gamma-live.png', 130, 100, 15)
    const job = await submitVia(F, img, 'gamma-live.png', [{ name: 'invert', params: {} }])
    const of = (event: string): SseEvent[] => stream.events.filter(e => e.event === event && e.data.jobId === job.jobId)
    await poll('a result event for the job on the follower\'s stream', async () => of('job').some(e => e.data.type === 'result'), 60_000,
      () => `events: ${JSON.stringify(stream.events.map(e => [e.event, e.data.type ?? e.data.msg]))}`)
    const tiles = of('tile')
    expect(tiles.length).toBeGreaterThanOrEqual(job.tiles)
    for (const t of tiles) {
      expect(t.data).toMatchObject({ jobId: job.jobId, phase: 0, attempt: expect.any(Number), speculative: expect.any(Boolean) })
      expect(sim!.peers.map(p => p.peerId)).toContain(t.data.peer)
      expect(t.data.index).toBeGreaterThanOrEqual(0)
      expect(t.data.index).toBeLessThan(job.tiles)
    }
    expect(new Set(tiles.map(t => t.data.index)).size).toBe(job.tiles)
    const jobEvents = of('job')
    const result = jobEvents.find(e => e.data.type === 'result')!.data
    expect(result).toMatchObject({ type: 'result', jobId: job.jobId, format: 'png', width: 130, height: 100 })
    expect(result.bytes).toBeGreaterThan(0)
    // The result is the last of the job's job events.
    expect(jobEvents.at(-1)!.data.type).toBe('result')
    expect(jobEvents.some(e => e.data.type === 'progress')).toBe(true)

    stream.abort()
    const ended = await within(10_000, 'the aborted stream to end', stream.ended)
    expect((ended.error as Error | undefined)?.name).toBe('AbortError')
    // The follower's abort reaches the master through the tunnel: its subscription goes.
    await poll('the master to drop the stream\'s listeners', async () =>
      mr.listenerCount('job') === baseline.job && mr.listenerCount('dispatched') === baseline.dispatched && mr.listenerCount('log') === baseline.log, 10_000,
    () => `listeners now: job ${mr.listenerCount('job')}, dispatched ${mr.listenerCount('dispatched')}, log ${mr.listenerCount('log')}; before ${JSON.stringify(baseline)}`)
  })

  it('GET /api/jobs/<id>/preview: a PNG of at most 480 px once done; 404 for an unknown job', async () => {
    const img = await makeImage(dir, 'delta-wide.png', 640, 360, 16)
    const job = await submitVia(F, img, 'delta-wide.png', [{ name: 'invert', params: {} }], 64)
    await untilState(F, job.jobId, 'done', 60_000)
    for (const base of [F, M]) {
      const res = await call(base, `/api/jobs/${job.jobId}/preview`)
      expect(res.status, res.status === 200 ? '' : `${base === F ? 'follower' : 'master'}: ${await res.text()}`).toBe(200)
      expect(res.headers.get('content-type')).toBe('image/png')
      const meta = await sharp(Buffer.from(await res.arrayBuffer())).metadata()
      expect(meta.format).toBe('png')
      expect(meta.width).toBeLessThanOrEqual(480)
      expect(meta.height).toBeLessThanOrEqual(480)
      expect(meta.width).toBe(480) // the longer side, shrunk to the edge
      expect(meta.height).toBe(270)
    }
    const unknown = await json<ApiError>(F, '/api/jobs/made-up-id/preview')
    expect(unknown.status).toBe(404)
  })

  it('GET /metrics on dashboards started without metrics is 404', async () => {
    for (const base of [F, M]) {
      const r = await json<ApiError>(base, '/metrics')
      expect(r.status).toBe(404)
      expect(r.body.error.message).toMatch(/metrics are off/)
    }
  })
})

describe('dashboard HTTP API with no master', () => {
  it('a lone peer that may not be master (eligible: false) answers /api/jobs* with 503 no-master, and /api/swarm with master null', async () => {
    lone = new SimSwarm({ heartbeatMs: 200, deadAfterMs: 2000, eligible: false })
    await lone.init()
    const [p] = await lone.add(1, { name: 'api-lone' })
    const base = await startDashboard(p)
    // Not eligible and alone: no master now nor later, so every answer below is the no-master one.
    expect(p.peer!.master).toBeNull()
    expect(p.peer!.isMaster).toBe(false)
    const view = (await json<SwarmView>(base, '/api/swarm')).body
    expect(view.self).toBe(p.peerId)
    expect(view.master).toBeNull()
    for (const [method, path] of [['GET', '/api/jobs'], ['GET', '/api/jobs/nope'], ['GET', '/api/jobs/events'], ['POST', '/api/jobs/nope/cancel']]) {
      const r = await json<ApiError>(base, path, { method })
      expect(r.status, `${method} ${path}`).toBe(503)
      expect(r.body.error.code, `${method} ${path}`).toBe('no-master')
    }
    const img = await makeImage(dir, 'lone.png', 40, 30, 17)
    const r = await json<ApiError>(base, '/api/jobs', { method: 'POST', body: form({ pipeline: pipelineOf([{ name: 'invert', params: {} }]) }, [[await pngBlob(img), 'lone.png']]) })
    expect(r.status).toBe(503)
    expect(r.body.error.code).toBe('no-master')
    expect(p.peer!.master).toBeNull()
  })
})
