// A Raspberry Pi in the swarm: two x64 peers and one arm64 peer (arm64 Node under qemu-user, 12-15x
// slower: a stand-in for a slow Pi), each in its own network namespace, find each other by real mDNS; a
// job submitted from a fourth host is worked by the arm64 peer too, and its output equals `swarm run`'s
// byte for byte. The arm64 peer is not master (an arm device is not, unless --master). Skipped, saying
// why, where namespaces (root) or the arm64 environment (scripts/arm64-env.sh) cannot be had.
import { execFileSync } from 'node:child_process'
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ENV_TIMEOUT, prepare, ROOT, type Env } from '../arm64/env.ts'
import { makeImage } from '../sim/jobs.ts'
import { canMakeNamespaces, cleanupOnExit, NetnsLan, waitUntil } from './netns.ts'

const lan = canMakeNamespaces() ? new NetnsLan(4) : undefined
afterAll(cleanupOnExit(lan))
let env: Env | string = 'not prepared'
let copy: string | undefined
beforeAll(async () => { if (lan != null) env = await prepare() }, ENV_TIMEOUT + 30_000)
afterAll(() => { if (copy != null) rmSync(copy, { recursive: true, force: true }) })

describe.skipIf(lan == null)('e2e: an arm64 peer (qemu-user) in a swarm of x64 peers (needs root)', () => {
  it('finds the others by mDNS, takes tiles, and the output is byte-identical to swarm run', async (ctx) => {
    if (typeof env === 'string') {
      console.warn(`arm64 peer test skipped: ${env}`)
      ctx.skip(env)
      return
    }
    // arm64 node resolves sharp and LevelDB from the arm64 node_modules: it runs a copy of the sources
    // placed under the prepared project.
    copy = mkdtempSync(join(env.project, 'peer-'))
    for (const dir of ['src', 'bin']) cpSync(join(ROOT, dir), join(copy, dir), { recursive: true })
    cpSync(join(ROOT, 'package.json'), join(copy, 'package.json'))
    lan!.setup()
    const [x1, x2, pi, laptop] = lan!.peers
    // debug: the master logs each tile it hands out, and to whom.
    lan!.start(x1, ['--slots', '1', '--name', 'x1'], { SWARM_LOG_LEVEL: 'debug' })
    lan!.start(x2, ['--slots', '1', '--name', 'x2'], { SWARM_LOG_LEVEL: 'debug' })
    // MALLOC_ARENA_MAX set here: bin/swarm.js would otherwise re-exec the arm64 node without qemu.
    // --no-yield-to-load: the host's load here is the other peers' and the test's, not a person's at a Pi.
    lan!.start(pi, ['--slots', '1', '--name', 'pi', '--no-yield-to-load'], { MALLOC_ARENA_MAX: '2' }, { command: [env.qemu, '-L', env.sysroot, env.node], bin: join(copy, 'bin', 'swarm.js'), cwd: copy })
    const debug = (): string => [x1, x2, pi].map(p => `--- ${p.index}\n${p.output.slice(-2500)}`).join('\n')
    const master = await waitUntil('3 peers agree on a master', () => {
      const v = [x1, x2, pi].map(p => p.lastMaster()?.master)
      return v.every(m => m != null && m === v[0]) ? v[0] : null
    }, 120_000, debug)
    expect(master).not.toBe(pi.peerId())
    expect(pi.events.some(e => e.event === 'no-master'), 'the arm64 peer says it will not be master').toBe(true)
    // Enough tiles that the slow peer, once warmed up (its first tile fetches and decodes the input under
    // qemu), is handed some while the x64 peers are still busy.
    const img = await makeImage(lan!.root, 'pi.png', 960, 720, 11)
    const specs = ['--op', 'grayscale', '--op', 'median:radius=3']
    const out = join(lan!.root, 'out.png')
    const sub = await lan!.run(laptop, ['submit', img, ...specs, '--tile-size', '48', '-o', out, '--timeout', '30000'], 240_000)
    expect(sub.code, `${sub.stderr}\n${debug()}`).toBe(0)
    const masterPeer = [x1, x2].find(p => p.peerId() === master)!
    const toPi = masterPeer.events.filter(e => e.event === 'dispatched' && e.peer === pi.peerId()).length
    const jobs = JSON.parse((await lan!.run(laptop, ['jobs', '--json'], 60_000)).stdout) as { jobs: Array<{ workers?: string[], total: number }> }
    // Taken: handed tiles (a tile it was slow on may have been finished first by a speculative copy elsewhere).
    console.log(`arm64 peer: ${toPi} of ${jobs.jobs[0].total} tiles handed to it; its results counted: ${jobs.jobs[0].workers?.includes(pi.peerId()!) === true ? 'yes' : 'no'}`)
    expect(toPi, 'tiles handed to the arm64 peer').toBeGreaterThan(0)
    const ref = join(lan!.root, 'ref.png')
    execFileSync(process.execPath, [join(ROOT, 'bin', 'swarm.js'), 'run', img, ...specs, '-o', ref])
    expect(Buffer.compare(readFileSync(out), readFileSync(ref)), 'the output equals swarm run\'s, byte for byte').toBe(0)
  }, 8 * 60_000)
})
