// `swarm submit` and `swarm result` as a person or a script sees them, run as processes against an
// in-process sim swarm on 127.0.0.1 (--peer, no multicast): a pipe gets progress lines and "wrote" with no
// escape codes, --json NDJSON only, --quiet the path only, an existing output is refused before anything is
// queued, Ctrl-C says which job goes on and how to get it, and on a terminal "wrote" follows the bars.
import { spawn, spawnSync } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cancelJob, findMaster } from '../../src/transfer/job-protocol.ts'
import type { SimSwarm } from '../sim/harness.ts'
import { clientFor, expectReference, makeImage, startSwarm } from '../sim/jobs.ts'

const bin = join(import.meta.dirname, '../../bin/swarm.js')

interface Run { code: number | null, signal: string | null, stdout: string, stderr: string }

/**
 * The CLI in its own process group (as a shell runs it), ended by the test in every case: `onStderr` may
 * act on it (Ctrl-C), and after `timeoutMs` the group is killed.
 */
async function swarm (args: string[], opts: { cwd: string, env?: NodeJS.ProcessEnv, timeoutMs?: number, onStderr?: (text: string, pid: number) => void } ): Promise<Run> {
  // The same image is submitted again and again here: each must be computed, not answered by the cache.
  if (args[0] === 'submit') args = [...args, '--no-cache']
  const child = spawn(process.execPath, [bin, ...args], { cwd: opts.cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SWARM_KEY: '', ...opts.env } })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); opts.onStderr?.(stderr, child.pid!) })
  const timer = setTimeout(() => { try { process.kill(-child.pid!, 'SIGKILL') } catch { /* gone */ } }, opts.timeoutMs ?? 60_000)
  return await new Promise<Run>((resolve) => {
    child.on('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr }) })
  })
}

let dir: string
let sim: SimSwarm
let peer: string
let small: string
let big: string
const queued = (): number => sim.running().reduce((n, p) => Math.max(n, p.node?.master.queue?.state.jobs.size ?? 0), 0)

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'swarm-submit-cli-'))
  ;({ s: sim } = await startSwarm(2, { heartbeatMs: 200, deadAfterMs: 800, verify: 0 }))
  peer = sim.running()[0].peer!.addrs()[0].toString()
  small = await makeImage(dir, 'small.png', 320, 240, 1)
  // Slow enough to be interrupted mid-way on any machine: 120 tiles of a wide median.
  big = await makeImage(dir, 'big.png', 960, 800, 3)
})
afterAll(async () => {
  await sim?.close()
  await rm(dir, { recursive: true, force: true })
})

describe('swarm submit / result feedback', () => {
  it('on a pipe: accepted, progress lines, "wrote", and no escape code (NO_COLOR or not)', async () => {
    for (const [i, env] of [{}, { NO_COLOR: '1' }].entries()) {
      const r = await swarm(['submit', 'small.png', '--op', 'invert', '--tile-size', '32', '-o', `pipe-${i}/`, '--peer', peer], { cwd: dir, env })
      expect(r.code, r.stderr).toBe(0)
      expect(r.stderr).toMatch(/^small\.png: accepted as job \S+ \(320x240, 80 tiles\)$/m)
      expect(r.stderr).toMatch(/^small\.png: \d+% \(\d+\/80 tiles, \d+ peers?/m)
      expect(r.stderr).toContain(`small.png: wrote ${join(`pipe-${i}`, 'small.png')}`)
      expect(r.stderr + r.stdout).not.toContain('\u001b')
      expect(r.stdout).toBe('')
      await expectReference(await readFile(join(dir, `pipe-${i}`, 'small.png')), small, ['invert'])
    }
  })

  it('--json: NDJSON events on stdout only (accepted, progress, result with the path); --quiet: the path only', async () => {
    const r = await swarm(['submit', 'small.png', '--op', 'invert', '--tile-size', '32', '-o', 'json.png', '--json', '--peer', peer], { cwd: dir })
    expect(r.code, r.stderr).toBe(0)
    const events = r.stdout.trim().split('\n').map(l => JSON.parse(l) as { event: string, [k: string]: unknown })
    expect(events[0]).toMatchObject({ event: 'accepted', name: 'small.png', tiles: 80 })
    expect(events.some(e => e.event === 'progress')).toBe(true)
    expect(events.filter(e => e.event === 'progress').length).toBeLessThanOrEqual(11)
    expect(events.at(-1)).toMatchObject({ event: 'result', name: 'small.png', path: join(dir, 'json.png'), width: 320, height: 240 })
    expect(r.stderr).toBe('')

    const q = await swarm(['submit', 'small.png', '--op', 'invert', '-o', 'quiet.png', '--quiet', '--peer', peer], { cwd: dir })
    expect(q.code, q.stderr).toBe(0)
    expect(q.stdout).toBe('quiet.png\n')
    expect(q.stderr).toBe('')

    // And `swarm result` the same way, on the job just done.
    const jobId = events[0].jobId as string
    const res = await swarm(['result', jobId, '-o', 'fetched.png', '--json', '--peer', peer], { cwd: dir })
    expect(res.code, res.stderr).toBe(0)
    expect(res.stdout.trim().split('\n').map(l => JSON.parse(l) as { event: string }).at(-1)).toMatchObject({ event: 'result', jobId, path: join(dir, 'fetched.png') })
    const again = await swarm(['result', jobId, '-o', 'fetched.png', '--peer', peer], { cwd: dir })
    expect(again.code).toBe(1)
    expect(again.stderr).toContain('swarm: fetched.png exists; pass --force to overwrite')
    const forced = await swarm(['result', jobId, '-o', 'fetched.png', '--force', '--quiet', '--peer', peer], { cwd: dir })
    expect(forced.code, forced.stderr).toBe(0)
    expect(forced.stdout).toBe('fetched.png\n')
  })

  it('an existing output is refused before anything is queued, and overwritten with --force', async () => {
    await writeFile(join(dir, 'taken.png'), 'keep me')
    const before = queued()
    const r = await swarm(['submit', 'small.png', '--op', 'invert', '-o', 'taken.png', '--peer', peer], { cwd: dir })
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('swarm: refused small.png: taken.png exists; pass --force to overwrite')
    expect(queued()).toBe(before)
    expect(await readFile(join(dir, 'taken.png'), 'utf8')).toBe('keep me')
    const forced = await swarm(['submit', 'small.png', '--op', 'invert', '-o', 'taken.png', '--force', '--peer', peer], { cwd: dir })
    expect(forced.code, forced.stderr).toBe(0)
    await expectReference(await readFile(join(dir, 'taken.png')), small, ['invert'])
  })

  it('Ctrl-C: says the job goes on as job <id>, with `swarm result` and `swarm cancel`, and exits 130', async () => {
    let sent = false
    const r = await swarm(['submit', big, '--op', 'median:radius=6', '--tile-size', '80', '-o', 'interrupted.png', '--peer', peer], {
      cwd: dir,
      onStderr: (text, pid) => {
        if (sent || !/accepted as job/.test(text)) return
        sent = true
        // As a terminal's Ctrl-C does: to the whole foreground group (the wrapper and its Node 22).
        process.kill(-pid, 'SIGINT')
      }
    })
    const id = /accepted as job (\S+)/.exec(r.stderr)?.[1]
    expect(id, r.stderr).toBeDefined()
    try {
      expect(r.code, r.stderr).toBe(130)
      expect(r.stderr).toContain(`big.png: still running on the swarm as job ${id}; \`swarm result ${id}\` fetches it later (\`swarm cancel ${id}\` stops it)`)
      await expect(stat(join(dir, 'interrupted.png'))).rejects.toThrow()
    } finally {
      // The job did go on: end it, so the swarm closes idle.
      const client = await clientFor(sim)
      try {
        const reply = await cancelJob(client.node, await findMaster(client.node, client.targets, 10_000), id!)
        expect(reply.jobId).toBe(id)
      } finally { await client.close() }
    }
  })

  it('an output that cannot be written after the work: the path and the job named, no "master changed", the others written', async () => {
    let made = false
    const r = await swarm(['submit', 'small.png', big, '--op', 'median:radius=6', '--tile-size', '80', '-o', 'late/', '--peer', peer], {
      cwd: dir,
      onStderr: (text) => {
        if (made || !/big\.png: accepted as job/.test(text)) return
        made = true
        // Checked free before the work; taken (by a directory) while the job runs.
        mkdirSync(join(dir, 'late', 'big.png'), { recursive: true })
      }
    })
    const id = /big\.png: accepted as job (\S+)/.exec(r.stderr)?.[1]
    expect(r.code, r.stderr).toBe(1)
    expect(r.stderr).toContain(`big.png: FAILED: ${join('late', 'big.png')} exists; pass --force to overwrite; it stays on the swarm: \`swarm result ${id} -o <path>\` fetches it again`)
    expect(r.stderr).not.toContain('master changed')
    await expectReference(await readFile(join(dir, 'late', 'small.png')), small, ['median:radius=6'])
  })

  const hasScript = spawnSync('script', ['--version']).status === 0
  it.skipIf(!hasScript)('on an 80-column terminal: bars that fit, then "wrote" after them', async () => {
    // script(1) gives the command a pseudo-terminal; stty sets its width.
    const cmd = `stty cols 80; ${JSON.stringify(process.execPath)} ${JSON.stringify(bin)} submit small.png --op invert --tile-size 32 -o tty.png --no-cache --peer ${peer}`
    const tty = await new Promise<Run>((resolve) => {
      const child = spawn('script', ['-qec', cmd, '/dev/null'], { cwd: dir, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SWARM_KEY: '' } })
      let stdout = ''
      child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
      const timer = setTimeout(() => { try { process.kill(-child.pid!, 'SIGKILL') } catch { /* gone */ } }, 60_000)
      child.on('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr: '' }) })
    })
    expect(tty.code, tty.stdout).toBe(0)
    // Each redraw starts with a cursor move: the pieces between escape codes and line ends are what shows on a line.
    // eslint-disable-next-line no-control-regex
    const pieces = tty.stdout.split(/\u001b\[[0-9;?]*[A-Za-z]|\u001b[78]|\r|\n/).filter(l => l.trim() !== '')
    expect(pieces.some(l => /80\/80 tiles done/.test(l)), tty.stdout).toBe(true)
    expect(pieces.at(-1)).toBe('small.png: wrote tty.png')
    for (const l of pieces) expect(l.length, l).toBeLessThan(80)
    await expectReference(await readFile(join(dir, 'tty.png')), small, ['invert'])
  })
})
