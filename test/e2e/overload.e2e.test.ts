// A slow swarm is not a broken one: four `swarm start` peers in network namespaces (real mDNS) on a
// machine whose CPU is oversubscribed about 3x (two busy loops per core beside the peers), submitting
// jobs one after another from a fifth host. No peer may be declared dead, the master must stay the
// same, and every job must finish. SWARM_E2E_OVERLOAD_MS sets how long (default 90 s; the issue's
// bar is 5 minutes: SWARM_E2E_OVERLOAD_MS=300000).
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { makeImage } from '../sim/jobs.ts'
import { startHogs, type Hogs } from '../sim/cpu-hogs.ts'
import { canMakeNamespaces, cleanupOnExit, NetnsLan, waitUntil } from './netns.ts'

const DURATION_MS = Number(process.env.SWARM_E2E_OVERLOAD_MS ?? 90_000)
/** Bounds the loop whatever the duration: a job here takes a few seconds even when starved. */
const MAX_JOBS = 500

const lan = canMakeNamespaces() ? new NetnsLan(5) : undefined
let hogs: Hogs | undefined
afterAll(() => { hogs?.stop(); cleanupOnExit(lan)() })

describe.skipIf(lan == null)('e2e: 4 peers on an oversubscribed CPU (needs root)', () => {
  it(`keeps one master and finishes every job for ${Math.round(DURATION_MS / 1000)} s`, { timeout: DURATION_MS + 180_000 }, async () => {
    lan!.setup()
    const peers = lan!.peers.slice(0, 4)
    const laptop = lan!.peers[4]
    for (const p of peers) lan!.start(p, ['--slots', '1'])
    const agreed = await waitUntil('4 peers agree on a master', () => {
      const v = peers.map(p => p.lastMaster())
      return v.every(x => x?.master != null && x.master === v[0]?.master) ? v[0] : null
    }, 30_000)
    const marks = peers.map(p => p.events.length)
    hogs = startHogs(2 * availableParallelism(), DURATION_MS + 120_000)
    const img = await makeImage(lan!.root, 'load.png', 320, 240, 23)
    const started = Date.now()
    const failures: string[] = []
    let jobs = 0
    for (; jobs < MAX_JOBS && Date.now() - started < DURATION_MS; jobs++) {
      const out = join(lan!.root, `out-${jobs}.png`)
      const r = await lan!.run(laptop, ['submit', img, '--op', 'grayscale', '--op', 'median:radius=2', '--tile-size', '64', '-o', out, '--timeout', '60000'], 120_000)
      if (r.code !== 0) failures.push(`job ${jobs}: exit ${r.code}: ${r.stderr.trim().split('\n').slice(-2).join(' | ')}`)
    }
    hogs.stop()
    const seconds = Math.round((Date.now() - started) / 1000)
    // What each peer said about the others while loaded: no departures, no other master.
    const changes = peers.flatMap(p => p.events.slice(marks[p.index]).filter(e =>
      e.event === 'peer-left' || (e.event === 'master' && (e.master !== agreed!.master || e.epoch !== agreed!.epoch))
    ).map(e => `peer ${p.index}: ${String(e.event)} ${String(e.msg ?? '').slice(0, 80)}`))
    console.log(`overload: ${jobs} jobs in ${seconds} s beside ${hogs.count} busy loops; ${failures.length} failed; ${changes.length} membership or master changes`)
    expect(jobs).toBeGreaterThan(0)
    expect(failures).toEqual([])
    expect(changes).toEqual([])
  })
})
