// What submit and result say while jobs run: a bar that fits the terminal, a line per tenth (and every
// 5 s) on a pipe, NDJSON with --json, and the outcome ("wrote ...") after the bars stop: it was logged into
// the bars' buffer and lost when they stopped.
import { PassThrough } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { barLine, colourAllowed, pickMode, progressLine, ProgressThrottle, Reporter, statusOf } from '../../src/ui-cli/progress.ts'
import type { JobEvent } from '../../src/transfer/messages.ts'

type Progress = Extract<JobEvent, { type: 'progress' }>
const progress = (done: number, total: number, more: Partial<Progress> = {}): Progress => ({
  type: 'progress', jobId: 'j1', state: 'running', done, total, phase: 0, phaseCount: 1, peers: ['a', 'b', 'c'], queuePosition: 0, ...more
})

/** A stream that keeps what is written; isTTY and columns as a terminal would say. */
function sink (tty: boolean, columns = 80): PassThrough & { text: () => string, isTTY?: boolean, columns?: number } {
  const s = new PassThrough() as PassThrough & { text: () => string, isTTY?: boolean, columns?: number }
  let text = ''
  s.on('data', (d: Buffer) => { text += d.toString() })
  s.isTTY = tty
  s.columns = columns
  s.text = () => text
  return s
}

describe('progress', () => {
  it('a bar line fits 80 columns (and narrower, wider) whatever the name, count and status', () => {
    const longStatus = statusOf(progress(54, 135, { phase: 1, phaseCount: 2, etaMs: 4_000_000, peers: Array.from({ length: 120 }, (_, i) => `p${i}`) }))
    for (const columns of [40, 60, 80, 100, 200]) {
      for (const [name, done, total] of [['photo.jpg', 135, 135], ['a-very-long-file-name-from-a-camera-0001.jpeg', 54, 135], ['x', 99_999, 100_000]] as const) {
        const line = barLine(columns, name, done, total, longStatus)
        expect(line.length, `${columns}: ${line}`).toBeLessThan(columns)
        // The count is whole: "135/135 til" was what 80 columns showed.
        expect(line).toContain(`${done}/${total} tiles`)
      }
    }
    // On 80 columns the status is there too.
    expect(barLine(80, 'photo.jpg', 135, 135, 'done')).toMatch(/135\/135 tiles done$/)
    // A wide terminal gives the bar its full 40 cells.
    expect(barLine(200, 'photo.jpg', 0, 10, 'queued #1')).toContain('\u2591'.repeat(40))
  })

  it('a pipe gets a line per tenth done, and one every 5 s while the job moves (none while it stands still)', () => {
    const t = new ProgressThrottle(0)
    const due: number[] = []
    for (let done = 0; done <= 135; done++) if (t.due(done, 135, 0)) due.push(done)
    // 10%, 20%, ... 100%: ten lines for 135 tiles, the first at 14 (10.4%).
    expect(due).toEqual([14, 27, 41, 54, 68, 81, 95, 108, 122, 135])
    const slow = new ProgressThrottle(0)
    expect(slow.due(1, 1000, 4999)).toBe(false)
    expect(slow.due(1, 1000, 5000)).toBe(true)
    // Not moving: no line however long it waits.
    expect(slow.due(1, 1000, 60_000)).toBe(false)
    expect(slow.due(2, 1000, 60_000)).toBe(true)
    expect(progressLine('photo.jpg', progress(54, 135, { etaMs: 12_000 }))).toBe('photo.jpg: 40% (54/135 tiles, 3 peers, about 12 s left)')
  })

  it('without a terminal: progress lines, then "wrote", no escape codes', () => {
    const stderr = sink(false)
    const stdout = sink(false)
    const r = new Reporter(pickMode({}, stderr), { stderr, stdout, now: () => 0 })
    expect(r.mode).toBe('lines')
    const t = r.track('photo.jpg')
    r.onEvent(t, { type: 'accepted', jobId: 'j1', tiles: 135, phases: 1, width: 100, height: 100, copies: 1 })
    for (let done = 0; done <= 135; done += 5) r.onEvent(t, progress(done, 135))
    r.onEvent(t, { type: 'result', jobId: 'j1', format: 'png', bytes: 10, width: 100, height: 100 })
    r.final('photo.jpg: wrote out/photo.png')
    r.stop()
    const lines = stderr.text().trim().split('\n')
    expect(lines[0]).toBe('photo.jpg: accepted as job j1 (100x100, 135 tiles)')
    expect(lines).toContain('photo.jpg: 40% (55/135 tiles, 3 peers)')
    expect(lines.at(-1)).toBe('photo.jpg: wrote out/photo.png')
    expect(lines.length).toBeLessThanOrEqual(13)
    expect(stderr.text()).not.toContain('\u001b')
    expect(stdout.text()).toBe('')
  })

  it('on a terminal the outcome lines come after the bars stop (they were lost in the bars\' buffer)', () => {
    const stderr = sink(true, 80)
    const stdout = sink(false)
    const r = new Reporter('bars', { stderr, stdout })
    const t = r.track('photo.jpg')
    r.onEvent(t, { type: 'accepted', jobId: 'j1', tiles: 135, phases: 1, width: 100, height: 100, copies: 1 })
    r.onEvent(t, progress(135, 135))
    r.onEvent(t, { type: 'result', jobId: 'j1', format: 'png', bytes: 10, width: 100, height: 100 })
    r.final('photo.jpg: wrote out/photo.png')
    r.stop()
    const text = stderr.text()
    expect(text).toContain('photo.jpg: accepted as job j1')
    expect(text).toMatch(/135\/135 tiles done/)
    expect(text.trimEnd().endsWith('photo.jpg: wrote out/photo.png')).toBe(true)
    // Every drawn line fits 80 columns.
    // eslint-disable-next-line no-control-regex
    const plain = text.replace(/\u001b\[[0-9;?]*[A-Za-z]|\u001b[78]/g, '')
    for (const line of plain.split(/[\r\n]/)) expect(line.length, line).toBeLessThan(80)
  })

  it('--json: one JSON object per line on stdout, nothing on stderr; --quiet: the final path on stdout alone', () => {
    const stderr = sink(true)
    const stdout = sink(false)
    const r = new Reporter(pickMode({ json: true }, stderr), { stderr, stdout, now: () => 0 })
    const t = r.track('photo.jpg')
    r.onEvent(t, { type: 'accepted', jobId: 'j1', tiles: 10, phases: 1, width: 100, height: 100, copies: 1 })
    for (let done = 0; done <= 10; done++) r.onEvent(t, progress(done, 10))
    r.final('photo.jpg: wrote out/photo.png')
    r.event({ event: 'result', jobId: 'j1', path: '/x/out/photo.png' })
    r.stop()
    expect(stderr.text()).toBe('')
    const events = stdout.text().trim().split('\n').map(l => JSON.parse(l) as { event: string })
    expect(events[0]).toMatchObject({ event: 'accepted', jobId: 'j1', name: 'photo.jpg', tiles: 10 })
    expect(events.filter(e => e.event === 'progress').length).toBe(10)
    expect(events.at(-1)).toEqual({ event: 'result', jobId: 'j1', path: '/x/out/photo.png' })

    const qerr = sink(false)
    const qout = sink(false)
    const q = new Reporter(pickMode({ quiet: true }, qerr), { stderr: qerr, stdout: qout })
    const qt = q.track('photo.jpg')
    q.onEvent(qt, { type: 'accepted', jobId: 'j1', tiles: 10, phases: 1, width: 100, height: 100, copies: 1 })
    q.onEvent(qt, progress(10, 10))
    q.final('photo.jpg: wrote out/photo.png')
    q.result('out/photo.png')
    q.final('b.jpg: FAILED: no', true)
    q.stop()
    expect(qout.text()).toBe('out/photo.png\n')
    expect(qerr.text()).toBe('b.jpg: FAILED: no\n')
  })

  it('colours on a terminal only, never with NO_COLOR', () => {
    expect(colourAllowed({ write: () => true, isTTY: true }, {})).toBe(true)
    expect(colourAllowed({ write: () => true, isTTY: true }, { NO_COLOR: '1' })).toBe(false)
    expect(colourAllowed({ write: () => true, isTTY: false }, {})).toBe(false)
    const stderr = sink(true)
    const r = new Reporter('lines', { stderr, stdout: sink(false), env: { NO_COLOR: '1' } })
    r.final('a.png: FAILED: broken', true)
    expect(stderr.text()).toBe('a.png: FAILED: broken\n')
  })
})
