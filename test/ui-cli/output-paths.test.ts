// Where submit, result and run write, checked before the work: these used to be found after it (ENOENT on
// /proc, EEXIST and a false "master changed" with two images and -o file.png, a silent directory named
// e2.png, an error naming the `.partial` temporary), or never (an existing file overwritten).
import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import sharp from 'sharp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { checkOutputFile, checkWritableDir, planOutputs, writeOutput } from '../../src/ui-cli/output-paths.ts'

const exec = promisify(execFile)
const bin = join(import.meta.dirname, '../../bin/swarm.js')
/** Nothing listens there: a command that got as far as dialing would fail differently (and only on loopback). */
const NOWHERE = ['--peer', '/ip4/127.0.0.1/tcp/9', '--timeout', '2000']

async function swarm (args: string[], cwd: string): Promise<{ code: number, stdout: string, stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [bin, ...args], { cwd, timeout: 30_000, env: { ...process.env, SWARM_KEY: '' } })
    return { code: 0, stdout, stderr }
  } catch (err) {
    const e = err as { code?: number, stdout?: string, stderr?: string }
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' }
  }
}

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'swarm-out-'))
  await sharp({ create: { width: 32, height: 24, channels: 3, background: '#336699' } }).png().toFile(join(dir, 'a.png'))
  await sharp({ create: { width: 32, height: 24, channels: 3, background: '#996633' } }).jpeg().toFile(join(dir, 'b.jpg'))
  await writeFile(join(dir, 'file.txt'), 'not a directory')
  await writeFile(join(dir, 'existing.png'), 'keep me')
})
afterAll(async () => { await rm(dir, { recursive: true, force: true }) })

describe('output paths', () => {
  it('one image: -o a file (its extension the format) or a directory; several: -o must be a directory', async () => {
    expect(await planOutputs(['x/a.png'], 'out.webp')).toEqual([{ input: 'x/a.png', out: 'out.webp', format: 'webp' }])
    expect(await planOutputs(['x/a.png'], 'out')).toEqual([{ input: 'x/a.png', out: join('out', 'a.png'), format: 'png' }])
    expect(await planOutputs(['x/a.png'], 'out/', 'jpeg')).toEqual([{ input: 'x/a.png', out: join('out', 'a.jpg'), format: 'jpeg' }])
    expect((await planOutputs(['a.png', 'b.jpg'], join(dir, 'new-dir'), 'webp')).map(p => p.out)).toEqual([join(dir, 'new-dir', 'a.webp'), join(dir, 'new-dir', 'b.webp')])
    // An existing directory, even named like an image.
    await mkdir(join(dir, 'looks.png'), { recursive: true })
    expect((await planOutputs(['a.png'], join(dir, 'looks.png')))[0].out).toBe(join(dir, 'looks.png', 'a.png'))
    await expect(planOutputs(['a.png', 'b.jpg'], 'e2.png')).rejects.toThrow('-o e2.png names one file, but 2 images were given: with several images -o must be a directory')
    await expect(planOutputs(['a.png', 'b.jpg'], join(dir, 'existing.png'))).rejects.toThrow('is a file, and several images were given')
    await expect(planOutputs(['a/x.png', 'b/x.jpg'], 'out/')).rejects.toThrow('a/x.png and b/x.jpg would both be written to out/x.png')
    await expect(planOutputs(['a.png'], 'out.png', 'webp')).rejects.toThrow('--format webp does not match -o out.png (png)')
    await expect(planOutputs(['a.png'], 'out.bmp')).rejects.toThrow('-o out.bmp: unknown output format ".bmp"')
  })

  it('a directory that cannot hold the output is refused, naming the output; one that can be made is fine', async () => {
    await expect(checkWritableDir('/proc', '/proc/x.png')).rejects.toThrow('cannot write /proc/x.png: no file can be created in /proc')
    await expect(checkWritableDir(join(dir, 'file.txt', 'sub'), 'file.txt/sub/x.png')).rejects.toThrow(`cannot write file.txt/sub/x.png: ${join(dir, 'file.txt')} is not a directory`)
    await checkWritableDir(join(dir, 'to', 'be', 'made'), 'x')
    // Checked, not made: nothing is left behind if the work is refused later.
    await expect(stat(join(dir, 'to'))).rejects.toThrow()
  })

  it('an existing file is refused without --force, the input as its own output always', async () => {
    await expect(checkOutputFile(join(dir, 'existing.png'), { force: false })).rejects.toThrow(`${join(dir, 'existing.png')} exists; pass --force to overwrite`)
    await checkOutputFile(join(dir, 'existing.png'), { force: true })
    await expect(checkOutputFile(join(dir, 'a.png'), { input: join(dir, '.', 'a.png'), force: true })).rejects.toThrow(`the output ${join(dir, 'a.png')} is the input itself; choose another -o`)
    // Written without --force, a file that appeared since the check is kept.
    await expect(writeOutput(join(dir, 'existing.png'), Buffer.from('new'), false)).rejects.toThrow('exists; pass --force to overwrite')
    expect(await readFile(join(dir, 'existing.png'), 'utf8')).toBe('keep me')
    await writeOutput(join(dir, 'made', 'deep', 'o.png'), Buffer.from('x'), false)
    expect(await readFile(join(dir, 'made', 'deep', 'o.png'), 'utf8')).toBe('x')
  })

  it('swarm run: the output is checked before the work, its errors name the path given (not a .partial), and --format works', async () => {
    const noDir = await swarm(['run', 'a.png', '--op', 'invert', '-o', 'file.txt/x.png'], dir)
    expect(noDir.code).toBe(1)
    expect(noDir.stderr).toContain('cannot write file.txt/x.png:')
    expect(noDir.stderr).not.toContain('.partial')
    const proc = await swarm(['run', 'a.png', '--op', 'invert', '-o', '/proc/x.png'], dir)
    expect(proc.stderr).toContain('swarm: cannot write /proc/x.png: no file can be created in /proc')
    const exists = await swarm(['run', 'a.png', '--op', 'invert', '-o', 'existing.png'], dir)
    expect(exists.code).toBe(1)
    expect(exists.stderr).toContain('swarm: existing.png exists; pass --force to overwrite')
    expect(await readFile(join(dir, 'existing.png'), 'utf8')).toBe('keep me')
    const self = await swarm(['run', 'a.png', '--op', 'invert', '-o', './a.png', '--force'], dir)
    expect(self.stderr).toContain('swarm: the output ./a.png is the input itself; choose another -o')
    const format = await swarm(['run', 'a.png', '--op', 'invert', '-o', 'run-out', '--format', 'webp'], dir)
    expect(format.code, format.stderr).toBe(0)
    expect((await sharp(join(dir, 'run-out', 'a.webp')).metadata()).format).toBe('webp')
    const forced = await swarm(['run', 'a.png', '--op', 'invert', '-o', 'run-out/a.webp', '--force'], dir)
    expect(forced.code, forced.stderr).toBe(0)
  })

  it('swarm submit: -o refused before any dialing (several images and a file, an existing file, /proc, the input)', async () => {
    const two = await swarm(['submit', 'a.png', 'b.jpg', '--op', 'invert', '-o', 'e2.png', ...NOWHERE], dir)
    expect(two.code).toBe(1)
    expect(two.stderr).toContain('swarm: -o e2.png names one file, but 2 images were given')
    await expect(stat(join(dir, 'e2.png'))).rejects.toThrow()
    const onFile = await swarm(['submit', 'a.png', 'b.jpg', '--op', 'invert', '-o', 'existing.png', ...NOWHERE], dir)
    expect(onFile.stderr).toContain('swarm: -o existing.png is a file, and several images were given')
    expect(onFile.stderr).not.toMatch(/EEXIST|master changed/)
    const proc = await swarm(['submit', 'a.png', '--op', 'invert', '-o', '/proc/x.png', ...NOWHERE], dir)
    expect(proc.stderr).toContain('swarm: cannot write /proc/x.png: no file can be created in /proc')
    const exists = await swarm(['submit', 'a.png', '--op', 'invert', '-o', 'existing.png', ...NOWHERE], dir)
    expect(exists.stderr).toContain('swarm: refused a.png: existing.png exists; pass --force to overwrite')
    const self = await swarm(['submit', 'a.png', '--op', 'invert', '-o', 'a.png', '--force', ...NOWHERE], dir)
    expect(self.stderr).toContain('the output a.png is the input itself; choose another -o')
    expect(self.stderr).not.toContain('pass -o')
    // None of them got as far as looking for the swarm.
    for (const r of [two, onFile, proc, exists, self]) expect(r.stderr).not.toMatch(/searching|no peer|dial/i)
  })

  it('swarm result: an existing -o is refused before dialing, and written only with --force', async () => {
    const r = await swarm(['result', 'jobid1', '-o', 'existing.png', ...NOWHERE], dir)
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('swarm: existing.png exists; pass --force to overwrite')
    const json = await swarm(['result', 'jobid1', '-o', '/proc/x.png', '--json', ...NOWHERE], dir)
    expect(JSON.parse(json.stdout.trim())).toEqual({ event: 'error', jobId: 'jobid1', message: 'cannot write /proc/x.png: no file can be created in /proc (ENOENT: no such file or directory)' })
  })

  it('submit: the images come first, then --op; the op syntax in submit\'s help and no "(default: [])"', async () => {
    const none = await swarm(['submit'], dir)
    expect(none.stderr).toContain("error: missing required argument 'images'")
    const noOp = await swarm(['submit', 'a.png'], dir)
    expect(noOp.code).toBe(1)
    expect(noOp.stderr).toContain('error: swarm submit needs at least one --op (see `swarm ops`)')
    const submitHelp = await swarm(['submit', '--help'], dir)
    expect(submitHelp.stdout).toContain('--op name:key=value,key=value  parameters, e.g. canny:low=40,high=100')
    expect(submitHelp.stdout).toContain('--force')
    expect(submitHelp.stdout).toContain('--json')
    const runHelp = await swarm(['run', '--help'], dir)
    expect(runHelp.stdout).not.toContain('(default: [])')
    expect(runHelp.stdout).toContain('--format <format>')
    expect(runHelp.stdout).toContain('Op syntax')
  })
})
