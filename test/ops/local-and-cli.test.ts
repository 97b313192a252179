// `swarm run` end to end (file in, file out) and `swarm ops`.
import { mkdtemp, rm } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Command } from 'commander'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { registerOpsCommand } from '../../src/ui-cli/commands/ops.ts'
import { registerRunCommand } from '../../src/ui-cli/commands/run.ts'
import { ImageInputError, ImageOutputError, InvalidParameterError } from '../../src/ops/errors.ts'
import { decodeImage, encodeImage } from '../../src/ops/image-io.ts'
import { runLocal, runWholeInProcess } from '../../src/ops/local.ts'
import { parsePipeline } from '../../src/ops/pipeline.ts'
import { opNames } from '../../src/ops/catalogue.ts'
import { firstDifference, photoLike } from './helpers.ts'

let dir: string
let input: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'swarm-ops-run-'))
  input = join(dir, 'in.png')
  await encodeImage(photoLike(211, 143, 4, 2), input)
})
afterAll(async () => { await rm(dir, { recursive: true, force: true }) })

function program (): { cli: Command; out: string[] } {
  const out: string[] = []
  const cli = new Command().name('swarm').exitOverride().configureOutput({ writeOut: s => out.push(s), writeErr: s => out.push(s) })
  registerRunCommand(cli)
  registerOpsCommand(cli)
  return { cli, out }
}

async function runCli (...args: string[]): Promise<{ logged: string; out: string[] }> {
  const { cli, out } = program()
  const log = vi.spyOn(console, 'log').mockImplementation(() => {})
  try {
    await cli.parseAsync(['node', 'swarm', ...args])
    return { logged: log.mock.calls.map(c => c.join(' ')).join('\n'), out }
  } finally {
    log.mockRestore()
  }
}

describe('runLocal', () => {
  it('decodes, runs every phase in the pool, encodes; equals the in-process whole-image run', async () => {
    const p = parsePipeline(['blur:sigma=1', 'normalise', 'canny:low=30,high=90', 'dilate'])
    const out = join(dir, 'edges.png')
    const r = await runLocal(input, p, out)
    expect(r).toMatchObject({ width: 211, height: 143, inputChannels: 4, channels: 2, phases: 2 })
    const expected = runWholeInProcess(await decodeImage(input), p)
    expect(firstDifference(await decodeImage(out), expected)).toBeUndefined()
  })

  it('fails early and clearly on a bad output name or a bad input', async () => {
    const p = parsePipeline(['invert'])
    await expect(runLocal(input, p, join(dir, 'x.bmp'))).rejects.toBeInstanceOf(ImageOutputError)
    await expect(runLocal(join(dir, 'missing.png'), p, join(dir, 'x.png'))).rejects.toBeInstanceOf(ImageInputError)
    expect(existsSync(join(dir, 'x.png'))).toBe(false)
  })
})

describe('swarm run', () => {
  it('runs the --op pipeline and reports what it wrote', async () => {
    const out = join(dir, 'cli.webp')
    const { logged } = await runCli('run', input, '--op', 'grayscale', '--op', 'blur:sigma=2', '--op', 'threshold:method=otsu', '-o', out, '--threads', '1')
    expect(logged).toMatch(/^wrote .*cli\.webp: 211x143, 2 channels \(grayscale blur:sigma=2 threshold:method=otsu,level=128; 2 phases, \d+ ms\)$/)
    const back = await decodeImage(out)
    expect([back.width, back.height]).toEqual([211, 143])
  })

  it('explains what is wrong', async () => {
    await expect(runCli('run', input, '-o', join(dir, 'a.png'))).rejects.toThrow(/give at least one --op/)
    await expect(runCli('run', input, '--op', 'blur:sigma=-1', '-o', join(dir, 'a.png'))).rejects.toThrow(InvalidParameterError)
    await expect(runCli('run', input, '--op', 'blurr', '-o', join(dir, 'a.png'))).rejects.toThrow(/unknown op "blurr"; did you mean "blur"/)
    await expect(runCli('run', input, '--op', 'blur', '-o', join(dir, 'a.bmp'))).rejects.toThrow(/unknown output format "\.bmp"/)
    await expect(runCli('run', input, '--op', 'blur', '-o', join(dir, 'a.png'), '--threads', 'many')).rejects.toThrow(/--threads must be an integer/)
    await expect(runCli('run', input, '--op', 'blur')).rejects.toThrow(/required option '-o, --output <file>'/)
  })

  it('--help shows the op syntax with examples', async () => {
    const { cli, out } = program()
    await expect(cli.parseAsync(['node', 'swarm', 'run', '--help'])).rejects.toThrow()
    const help = out.join('')
    expect(help).toMatch(/--op <spec>/)
    expect(help).toMatch(/--op grayscale --op blur:sigma=2 --op canny:low=40,high=100/)
    expect(help).toMatch(/swarm ops/)
  })
})

describe('swarm ops', () => {
  it('lists every op with parameters, defaults and ranges', async () => {
    const { logged } = await runCli('ops')
    for (const name of opNames) expect(logged).toMatch(new RegExp(`^${name} `, 'm'))
    expect(logged).toMatch(/sigma +number 0\.3\.\.100 +default 2 /)
    expect(logged).toMatch(/method +fixed \| otsu +default fixed/)
  })

  it('--json gives the machine-readable catalogue', async () => {
    const { logged } = await runCli('ops', '--json')
    const ops = JSON.parse(logged) as Array<{ name: string; global: boolean; params: Array<{ name: string; default: unknown; min?: number; max?: number }> }>
    expect(ops.map(o => o.name)).toEqual([...opNames])
    const blur = ops.find(o => o.name === 'blur')
    expect(blur?.params).toEqual([expect.objectContaining({ name: 'sigma', default: 2, min: 0.3, max: 100 })])
    expect(ops.find(o => o.name === 'equalise')?.global).toBe(true)
  })
})
