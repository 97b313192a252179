// Failover with real processes: four `swarm start` peers in network namespaces (real mDNS), a
// multi-tile job submitted from a fifth host, and kill -9 of the master in the middle of it. The job
// completes with the reference output; the time from the kill to the new master serving is printed.
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { decodeImage } from '../../src/ops/index.ts'
import { makeImage } from '../sim/jobs.ts'
import { canMakeNamespaces, cleanupOnExit, NetnsLan, waitUntil } from './netns.ts'

const lan = canMakeNamespaces() ? new NetnsLan(5) : undefined
afterAll(cleanupOnExit(lan))

describe.skipIf(lan == null)('e2e: kill -9 the master mid-job (needs root)', () => {
  it('the job completes with the reference output after the master is killed', async () => {
    lan!.setup()
    const peers = lan!.peers.slice(0, 4)
    const laptop = lan!.peers[4]
    for (const p of peers) lan!.start(p, ['--slots', '1'], { SWARM_LOG_LEVEL: 'debug' })
    const first = await waitUntil('4 peers agree on a master', () => {
      const v = peers.map(p => p.lastMaster())
      return v.every(x => x?.master != null && x.master === v[0]?.master) ? v[0] : null
    }, 20_000)
    const master = peers.find(p => p.peerId() === first!.master)!
    const specs = ['--op', 'grayscale', '--op', 'median:radius=6']
    const img = await makeImage(lan!.root, 'big.png', 900, 700, 17)
    const out = join(lan!.root, 'out.png')
    const ref = join(lan!.root, 'ref.png')
    // The submit runs in the background; kill -9 the master once tiles are being done.
    const submitting = lan!.run(laptop, ['submit', img, ...specs, '--tile-size', '64', '-o', out, '--timeout', '30000'], 150_000)
    // Mid-job: once the master has handed out a third of the tiles.
    const tiles = Math.ceil(900 / 64) * Math.ceil(700 / 64)
    await waitUntil('tiles being done', () => master.events.filter(e => e.event === 'dispatched').length >= tiles / 3, 60_000)
    lan!.kill9(master)
    const killedAt = Date.now()
    const survivors = peers.filter(p => p !== master)
    const next = await waitUntil('a new master', () => {
      const s = survivors.find(p => p.events.some(e => e.event === 'master' && e.self === true && Number(e.epoch) > first!.epoch))
      return s
    }, 15_000)
    const sub = await submitting
    // Serving: the new master has loaded the queue and hands out tiles again.
    const servingAt = Date.parse(String(next.events.find(e => e.event === 'queue' && /master at epoch/.test(String(e.msg)) && e.time != null && Date.parse(String(e.time)) >= killedAt - 50)?.time ?? ''))
    expect(sub.stderr, sub.stderr).toContain('wrote')
    expect(sub.code, sub.stderr).toBe(0)
    execFileSync(process.execPath, [join(import.meta.dirname, '..', '..', 'bin', 'swarm.js'), 'run', img, ...specs, '-o', ref])
    const got = await decodeImage(out)
    const want = await decodeImage(ref)
    expect([got.width, got.height, got.channels]).toEqual([want.width, want.height, want.channels])
    expect(Buffer.compare(Buffer.from(got.data), Buffer.from(want.data))).toBe(0)
    if (Number.isFinite(servingAt)) console.log(`kill -9 of the master: the new master was serving ${servingAt - killedAt} ms later`)
    // The survivors' view of the failover, relative to the kill.
    for (const p of survivors) {
      const line = p.events.filter(e => e.time != null && Date.parse(String(e.time)) >= killedAt - 100 && ['peer-left', 'master', 'queue', 'warning'].includes(String(e.event)))
        .slice(0, 6).map(e => `${Date.parse(String(e.time)) - killedAt}ms ${String(e.event)} ${String(e.msg).slice(0, 60)}`)
      console.log(`peer ${p.index}: ${line.join(' | ')}`)
    }
    expect(Number.isFinite(servingAt)).toBe(true)
  })
})
