// Peers may be x64 PCs or arm64 Raspberry Pis, and a job's tiles go to both: every op must give the same
// bytes on each. This runs test/arm64/digests.ts under this machine's x64 node and under the arm64 node in
// qemu-user (prepared by scripts/arm64-env.sh) and compares the digest maps. Where the arm64 environment
// cannot be had (no network for the downloads, not an x86_64 Linux host), the test is skipped and says why.
import { cpSync, mkdtempSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { endGroup, ENV_TIMEOUT, prepare, ROOT, run, running, type Done, type Env } from './env.ts'

const DIGEST_TIMEOUT = 4 * 60_000

function digests (label: string, r: Done): Record<string, string> {
  if (r.timedOut) throw new Error(`${label}: digests.ts did not finish within ${DIGEST_TIMEOUT / 60_000} minutes`)
  if (r.code !== 0) throw new Error(`${label}: digests.ts exited with ${r.code ?? r.signal}: ${r.stderr.trim().slice(-2000)}`)
  return JSON.parse(r.stdout) as Record<string, string>
}

describe('arm64 under qemu-user', () => {
  let env: Env | string = 'not prepared'
  let copy: string | undefined

  beforeAll(async () => { env = await prepare() }, ENV_TIMEOUT + 30_000)

  afterAll(() => {
    for (const pid of running) endGroup(pid)
    if (copy) rmSync(copy, { recursive: true, force: true })
  })

  it('computes the same bytes as x64 for every op of the catalogue, whole and tiled', async ctx => {
    if (typeof env === 'string') {
      console.warn(`arm64 test skipped: ${env}`)
      ctx.skip(env)
      return
    }
    // arm64 node must resolve sharp from the arm64 node_modules: it runs a copy of the sources placed
    // under the prepared project (modules resolve upwards from there), taken now so both runs see one tree.
    copy = mkdtempSync(join(env.project, 'run-'))
    for (const dir of ['src', 'test']) cpSync(join(ROOT, dir), join(copy, dir), { recursive: true })
    const script = 'test/arm64/digests.ts'
    const [x64, arm64] = await Promise.all([
      run(process.execPath, [script], ROOT, DIGEST_TIMEOUT),
      run(env.qemu, ['-L', env.sysroot, env.node, script], copy, DIGEST_TIMEOUT)
    ])
    console.log(`arm64 digests: ${x64.stderr.trim()}; ${arm64.stderr.trim()}`)
    const a = digests('x64', x64)
    const b = digests('arm64', arm64)
    const names = [...new Set([...Object.keys(a), ...Object.keys(b)])]
    const differ = names.filter(k => a[k] !== b[k])
    const shown = differ.map(k => `${k}: x64 ${a[k]?.slice(0, 12) ?? 'missing'}, arm64 ${b[k]?.slice(0, 12) ?? 'missing'}`)
    expect(shown, `${differ.length} of ${names.length} cases differ between x64 and arm64`).toEqual([])
    expect(names.length).toBeGreaterThan(100)
  }, 2 * DIGEST_TIMEOUT)
})
