// Runs the `swarm` CLI for tests that check what it refuses before it dials anyone.
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)
const bin = join(import.meta.dirname, '../../bin/swarm.js')

/** The CLI's exit code and stderr for `args` (bounded: 30 s), with no swarm key from the environment. */
export async function swarmCli (args: string[]): Promise<{ code: number, stderr: string }> {
  try {
    const { stderr } = await run(process.execPath, [bin, ...args], { timeout: 30_000, env: { ...process.env, SWARM_KEY: '' } })
    return { code: 0, stderr }
  } catch (err) {
    const e = err as { code?: number, stderr?: string }
    return { code: typeof e.code === 'number' ? e.code : -1, stderr: e.stderr ?? '' }
  }
}
