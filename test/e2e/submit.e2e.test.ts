// The user's path, with real processes: `swarm start` on three hosts, `swarm submit` from a fourth that
// finds the swarm by mDNS, and the result compared with `swarm run` on the same image; then `swarm cancel`.
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { decodeImage } from '../../src/ops/index.ts'
import { makeImage } from '../sim/jobs.ts'
import { canMakeNamespaces, cleanupOnExit, NetnsLan, waitUntil } from './netns.ts'

const lan = canMakeNamespaces() ? new NetnsLan(4) : undefined
afterAll(cleanupOnExit(lan))

describe.skipIf(lan == null)('e2e: swarm submit from a fourth device (needs root)', () => {
  it('three peers process a job submitted over mDNS; the output equals swarm run', async () => {
    lan!.setup()
    const [a, b, c, laptop] = lan!.peers
    for (const p of [a, b, c]) lan!.start(p)
    await waitUntil('a master', () => [a, b, c].every(p => p.lastMaster()?.master != null), 15_000)
    const img = await makeImage(lan!.root, 'photo.png', 640, 480, 3)
    const out = join(lan!.root, 'edges.png')
    const ref = join(lan!.root, 'edges-ref.png')
    const sub = await lan!.run(laptop, ['submit', img, '--op', 'grayscale', '--op', 'canny', '--tile-size', '128', '-o', out], 60_000)
    expect(sub.stderr).toContain('wrote')
    expect(sub.code).toBe(0)
    execFileSync(process.execPath, [join(import.meta.dirname, '..', '..', 'bin', 'swarm.js'), 'run', img, '--op', 'grayscale', '--op', 'canny', '-o', ref])
    const got = await decodeImage(out)
    const want = await decodeImage(ref)
    expect([got.width, got.height, got.channels]).toEqual([want.width, want.height, want.channels])
    expect(Buffer.compare(Buffer.from(got.data), Buffer.from(want.data))).toBe(0)
    // `swarm jobs` and `swarm status` from the fourth device see the swarm too.
    const jobs = await lan!.run(laptop, ['jobs', '--json'], 20_000)
    expect(JSON.parse(jobs.stdout).jobs.map((j: { state: string }) => j.state)).toEqual(['done'])
    const status = await lan!.run(laptop, ['status', '--json'], 20_000)
    expect(JSON.parse(status.stdout).peers.filter((p: { alive: boolean }) => p.alive)).toHaveLength(3)
    // `swarm cancel` from the fourth device ends a detached job that would run for a long while.
    const big = await makeImage(lan!.root, 'big.png', 2400, 1800, 5)
    const detached = await lan!.run(laptop, ['submit', big, '--op', 'median:radius=12', '--tile-size', '96', '--detach'], 60_000)
    expect(detached.code).toBe(0)
    const id = detached.stdout.trim()
    const cancelled = await lan!.run(laptop, ['cancel', id], 20_000)
    expect(cancelled.stdout).toContain(`job ${id} cancelled`)
    expect(cancelled.code).toBe(0)
    const after = await lan!.run(laptop, ['jobs', '--json'], 20_000)
    expect(JSON.parse(after.stdout).jobs.find((j: { id: string }) => j.id === id)?.state).toBe('cancelled')
    const unknown = await lan!.run(laptop, ['cancel', 'no-such-job'], 20_000)
    expect(unknown.stderr).toContain('no job no-such-job in the queue')
    expect(unknown.code).toBe(1)
  })
})
