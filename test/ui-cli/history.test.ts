// swarm history without a swarm: its options' parsing (dates, times ago, one sentence for anything else), the
// master's filter, and the table and JSON it prints from a reply; then the CLI refusing bad values itself.
import { describe, expect, it } from 'vitest'
import { swarmCli } from './cli.ts'
import { inHistory } from '../../src/scheduler/job-history.ts'
import type { JobsReply, JobSummary } from '../../src/transfer/messages.ts'
import { formatBytes, historyJson, historyRequest, renderHistory } from '../../src/ui-cli/actions/history.ts'
import { parseMoment, resolveMoment } from '../../src/ui-cli/time-options.ts'

const HOUR = 3_600_000
const DAY = 24 * HOUR

function job (id: string, over: Partial<JobSummary> = {}): JobSummary {
  return { id, name: `${id}.png`, state: 'done', done: 4, total: 4, phase: 0, phaseCount: 1, peers: [], submittedAt: 0, width: 640, height: 480, pipeline: 'invert', ...over }
}

describe('swarm history: moments', () => {
  it('takes times ago, local dates and dates with times, and resolves them against the given now', () => {
    const now = Date.UTC(2024, 4, 10, 12)
    expect(resolveMoment(parseMoment('--since', '2d'), now)).toBe(now - 2 * DAY)
    expect(resolveMoment(parseMoment('--since', '12h'), now)).toBe(now - 12 * HOUR)
    expect(resolveMoment(parseMoment('--since', '1.5h'), now)).toBe(now - 1.5 * HOUR)
    expect(resolveMoment(parseMoment('--since', '30m'), now)).toBe(now - 30 * 60_000)
    expect(parseMoment('--until', '2024-05-01')).toEqual({ at: new Date(2024, 4, 1).getTime() })
    expect(parseMoment('--until', '2024-05-01T14:30')).toEqual({ at: new Date(2024, 4, 1, 14, 30).getTime() })
    expect(parseMoment('--until', '2024-05-01 14:30:05')).toEqual({ at: new Date(2024, 4, 1, 14, 30, 5).getTime() })
    expect(parseMoment('--until', '2024-05-01T14:30:00Z')).toEqual({ at: Date.UTC(2024, 4, 1, 14, 30) })
    expect(parseMoment('--until', '2024-05-01T14:30+02:00')).toEqual({ at: Date.UTC(2024, 4, 1, 12, 30) })
  })

  it('refuses anything else in one sentence naming the option and the forms it takes', () => {
    for (const bad of ['yesterday', '2d ago', '2', '-2d', '2024-02-30', '2024-13-01', '2024-05-01T25:00', '2024/05/01', '', '5y']) {
      expect(() => parseMoment('--since', bad), bad).toThrow(`--since must be a date (2024-05-01, 2024-05-01T14:30, local time unless a zone such as Z follows) or a time ago (30m, 12h, 2d, 1w), got "${bad}"`)
    }
  })

  it('a window that holds no time is refused before anything is asked', () => {
    const now = Date.UTC(2024, 4, 10)
    expect(historyRequest({ limit: 5, since: { ago: 2 * DAY }, until: { ago: DAY }, state: ['failed'] }, now)).toEqual({ limit: 5, since: now - 2 * DAY, until: now - DAY, states: ['failed'] })
    expect(() => historyRequest({ limit: 5, since: { ago: DAY }, until: { ago: 2 * DAY } }, now)).toThrow(/^--since \(.*\) must be before --until \(.*\)$/)
  })
})

describe('swarm history: the master\'s filter', () => {
  it('selects by state and by the time of submission, since inclusive and until exclusive', () => {
    const j = { state: 'failed' as const, submittedAt: 1000 }
    expect(inHistory(j, {})).toBe(true)
    expect(inHistory(j, { states: ['done', 'failed'] })).toBe(true)
    expect(inHistory(j, { states: ['done'] })).toBe(false)
    expect(inHistory(j, { since: 1000 })).toBe(true)
    expect(inHistory(j, { since: 1001 })).toBe(false)
    expect(inHistory(j, { until: 1001 })).toBe(true)
    expect(inHistory(j, { until: 1000 })).toBe(false)
  })
})

describe('swarm history: what it prints', () => {
  const now = Date.UTC(2024, 4, 10)
  const reply: JobsReply = {
    master: 'M',
    epoch: 3,
    jobs: [
      job('old', { submittedAt: now - 2 * HOUR, startedAt: now - 2 * HOUR + 500, finishedAt: now - 2 * HOUR + 3000, workers: ['p1', 'p2'], inputBytes: 123_456, format: 'png', inputSha256: 'a'.repeat(64) }),
      job('bad', { state: 'failed', failure: 'tile 3 failed on 3 peers', submittedAt: now - HOUR, finishedAt: now - HOUR + 100 })
    ]
  }

  it('a table newest first with the input, outcome, duration, pipeline, format and workers', () => {
    const out = renderHistory(reply, now)
    const rows = out.split('\n').filter(l => l.includes('.png'))
    expect(rows.map(r => r.split('│')[1]!.trim())).toEqual(['bad', 'old'])
    const cells = rows[1]!.split('│').map(c => c.trim()).filter(c => c !== '')
    expect(cells).toEqual(['old', 'old.png', '121 KiB, 640x480', 'done', expect.stringMatching(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/), '2.5 s', 'invert', 'png', '2'])
    expect(rows[0]).toContain('failed: tile 3 failed on 3 peers')
    expect(out.split('\n').find(l => l.includes('state'))).toMatch(/job.*image.*input.*state.*submitted.*duration.*pipeline.*format.*workers/)
    expect(renderHistory({ ...reply, jobs: [] }, now, { states: ['failed'] })).toBe('no jobs match\n')
    expect(renderHistory({ ...reply, jobs: [] }, now)).toBe('no jobs yet\n')
  })

  it('--json: the full records newest first, each with its duration', () => {
    const json = historyJson(reply, now)
    expect(json.jobs.map(j => j.id)).toEqual(['bad', 'old'])
    expect(json.jobs[1]).toMatchObject({ inputBytes: 123_456, inputSha256: 'a'.repeat(64), format: 'png', workers: ['p1', 'p2'], startedAt: now - 2 * HOUR + 500, durationMs: 2500 })
    expect(json).toMatchObject({ master: 'M', epoch: 3 })
  })

  it('sizes in binary units', () => {
    expect([0, 1023, 1024, 1536, 5 * 1024 * 1024, 200 * 1024 * 1024, 3 * 1024 ** 3].map(formatBytes)).toEqual(['0 B', '1023 B', '1.0 KiB', '1.5 KiB', '5.0 MiB', '200 MiB', '3.0 GiB'])
  })
})

describe('swarm history: the CLI', () => {
  const swarm = swarmCli

  it('refuses a bad --since, --state or --limit, and a --since after --until, each in its sentence', async () => {
    const since = await swarm(['history', '--since', 'yesterday'])
    expect(since.code).not.toBe(0)
    expect(since.stderr).toContain('--since must be a date (2024-05-01, 2024-05-01T14:30, local time unless a zone such as Z follows) or a time ago (30m, 12h, 2d, 1w), got "yesterday"')
    const state = await swarm(['history', '--state', 'done,lost'])
    expect(state.code).not.toBe(0)
    expect(state.stderr).toContain('--state must be a comma-separated list of queued, running, done, failed, cancelled, got "done,lost"')
    const limit = await swarm(['history', '--limit', '501'])
    expect(limit.code).not.toBe(0)
    expect(limit.stderr).toContain('--limit must be a whole number from 1 to 500, got "501"')
    const window = await swarm(['history', '--since', '1d', '--until', '2d'])
    expect(window.code).toBe(1)
    expect(window.stderr).toMatch(/swarm: --since \(.*\) must be before --until \(.*\)\n/)
  })
})
