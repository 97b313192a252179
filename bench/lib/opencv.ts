// OpenCV as a baseline: makes sure `import cv2` works in python3 (installing opencv-python-headless with
// pip if it does not), and drives bench/lib/opencv.py, a long-lived Python process that times one op per
// request, so OpenCV and our kernels are measured close together in time.
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { join } from 'node:path'
import type { Ctx } from './context.ts'
import { ROOT } from './proc.ts'

export const OPENCV_PY = join(ROOT, 'bench', 'lib', 'opencv.py')
export const PYTHON = process.env.BENCH_PYTHON ?? 'python3'

/** Runs a short command; resolves with its exit code and output (a missing program is code -1). */
async function run (cmd: string, args: string[], timeoutMs: number): Promise<{ code: number, stdout: string, stderr: string }> {
  return await new Promise((resolve) => {
    execFile(cmd, args, { cwd: ROOT, timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err == null ? 0 : typeof err.code === 'number' ? err.code : -1
      resolve({ code, stdout, stderr: stderr || (err?.message ?? '') })
    })
  })
}

/** The OpenCV version, or why OpenCV cannot be used (the case then reports our timings only). */
export async function ensureOpenCv (ctx: Ctx): Promise<{ version: string } | { error: string }> {
  const probe = async (): Promise<string | null> => {
    const r = await run(PYTHON, ['-c', 'import cv2, numpy; print(cv2.__version__)'], 60_000)
    return r.code === 0 ? r.stdout.trim() : null
  }
  const have = await probe()
  if (have != null) return { version: have }
  ctx.log(`ops: ${PYTHON} cannot import cv2; pip install --quiet opencv-python-headless`)
  let why = ''
  for (const [cmd, args] of [['pip', []], [PYTHON, ['-m', 'pip']]] as const) {
    const r = await run(cmd, [...args, 'install', '--quiet', 'opencv-python-headless'], 300_000)
    if (r.code === 0) break
    why = r.stderr.trim().split('\n').pop() ?? `exit ${r.code}`
  }
  const after = await probe()
  return after != null ? { version: after } : { error: `${PYTHON} cannot import cv2 and pip install opencv-python-headless failed (${why || 'import still fails'})` }
}

interface Answer { ok?: boolean, ms?: number[], error?: string }

/** One `opencv.py serve` process: requests go one at a time, in order. */
export class OpenCvServer {
  private readonly child: ChildProcess
  private readonly waiting: Array<{ resolve: (a: Answer) => void, reject: (e: Error) => void }> = []
  private exited: string | null = null
  private stderr = ''
  private loaded = ''

  constructor (ctx: Ctx) {
    this.child = spawn(PYTHON, [OPENCV_PY, 'serve'], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] })
    const child = this.child
    ctx.scope.defer('stop opencv.py', async () => {
      if (child.exitCode != null || child.signalCode != null) return
      child.stdin?.end()
      const gone = new Promise(resolve => child.once('exit', resolve))
      const timer = setTimeout(() => { try { child.kill('SIGKILL') } catch {} }, 3000)
      await gone
      clearTimeout(timer)
    })
    child.stderr!.setEncoding('utf8')
    child.stderr!.on('data', (s: string) => { this.stderr = (this.stderr + s).slice(-2000) })
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const w = this.waiting.shift()
      if (w == null) return
      try { w.resolve(JSON.parse(line) as Answer) } catch { w.reject(new Error(`opencv.py answered ${line.slice(0, 200)}`)) }
    })
    const fail = (why: string): void => {
      this.exited = why
      for (const w of this.waiting.splice(0)) w.reject(new Error(`opencv.py ${why}: ${this.stderr.trim().split('\n').slice(-3).join(' ')}`))
    }
    child.once('exit', (code, signal) => { fail(`exited (${code ?? signal})`) })
    child.once('error', (err) => { fail(`could not start (${err.message})`) })
  }

  private async ask (req: object, timeoutMs: number): Promise<Answer> {
    if (this.exited != null) throw new Error(`opencv.py ${this.exited}`)
    const answer = new Promise<Answer>((resolve, reject) => { this.waiting.push({ resolve, reject }) })
    this.child.stdin!.write(`${JSON.stringify(req)}\n`)
    let timer: NodeJS.Timeout | undefined
    const bound = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => { reject(new Error(`opencv.py took more than ${timeoutMs / 1000} s`)); this.child.kill('SIGKILL') }, timeoutMs)
    })
    try {
      const a = await Promise.race([answer, bound])
      if (a.error != null) throw new Error(`opencv.py: ${a.error}`)
      return a
    } finally {
      clearTimeout(timer)
    }
  }

  /** Loads a raw RGB file (no header) as the image every following op runs on. */
  async load (path: string, width: number, height: number): Promise<void> {
    if (this.loaded === path) return
    await this.ask({ load: path, width, height }, 60_000)
    this.loaded = path
  }

  /** CPU ms of each timed run of the OpenCV equivalent of op(params) (after one warm-up run). */
  async time (op: string, params: object, runs: number, maxMs: number): Promise<number[]> {
    return (await this.ask({ op, params, runs, maxMs }, 120_000 + 4 * maxMs)).ms ?? []
  }
}
