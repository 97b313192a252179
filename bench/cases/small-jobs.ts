// 8. Many small jobs: the same 256x256 JPEG submitted as 1000 separate jobs (200 with --quick), blur +
// canny -> PNG, IN_FLIGHT at a time, through
//   - the swarm: 2 peer processes (--slots 1 each; the master works too), each job submitted from the
//     in-process client as `swarm submit` does it (find the master, upload, follow, download);
//   - BullMQ with a real redis-server: 2 worker processes (concurrency 1) that each do what `swarm run`
//     does (decode, pipeline, encode), the image and the result as base64 in the job; producer = the
//     bench process, which adds a job whenever one of its IN_FLIGHT finishes.
// jobs/s from the first submit to the last result. Each side is warmed up first, and runs alone.
// BENCH_PROFILE=1 also profiles the swarm's peers (V8 --cpu-prof) and puts their hottest functions in
// the notes; BENCH_PROFILE=<dir> keeps the .cpuprofile files there (open them in Chrome DevTools).
import { readFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import type { BenchCase, Ctx } from '../lib/context.ts'
import { cpuMsOf } from '../lib/cgroup.ts'
import { photoLike } from '../lib/images.ts'
import { NODE, ROOT, Scope, stopProcess, waitForLine, type Proc } from '../lib/proc.ts'
import { cpuProfEnv, mainThreadProfile, summariseProfile } from '../lib/profile.ts'
import { ensureRedis, startRedis } from '../lib/redis.ts'
import { fmtMs, fmtNum, median, type Row } from '../lib/stats.ts'
import { openClient, startSwarm, submitTimed, tempDir } from '../lib/swarm.ts'

const OPS = ['blur', 'canny']
const FORMAT = 'png'
const SIDE = 256
const WORKERS = 2
/** Jobs submitted and not yet finished, on both sides: enough to keep 2 workers and the queue busy. */
const IN_FLIGHT = 16
/** A side that kept this share of the cores busy is bound by its CPU. */
const CPU_BOUND_SHARE = 0.85
/** Warm-up jobs per side (kernels compiled, connections open) before the timed ones. */
const WARM_JOBS = 32

export const smallJobsCase: BenchCase = {
  name: 'small-jobs',
  title: `Many small jobs: ${SIDE}x${SIDE} images, blur + canny -> PNG, ${IN_FLIGHT} in flight, swarm of 2 vs BullMQ + redis`,
  budgetMs: quick => quick ? 150_000 : 420_000,
  run: async (ctx: Ctx) => {
    const jobs = ctx.quick ? 200 : 1000
    const input = await photoLike(SIDE, SIDE, 'jpeg', 11)
    const profileTo = process.env.BENCH_PROFILE ?? ''
    const profile = profileTo !== '' && profileTo !== '0'
    ctx.log(`small-jobs: ${jobs} jobs of ${SIDE}x${SIDE} (${input.bytes} B JPEG), ${IN_FLIGHT} in flight, ${WORKERS} workers${profile ? ', peers profiled' : ''}`)
    const notes: string[] = []

    // ---- swarm
    let swarmRate = NaN
    let swarmSample: Uint8Array | undefined
    /** CPU-ms per job of every process on each side, and the cores they kept busy together. */
    const perJob = { swarm: NaN, bull: NaN, swarmCores: NaN, bullCores: NaN, bullWorker: NaN }
    {
      const sub = new Scope('small-jobs-swarm')
      ctx.scope.defer('stop the small-jobs swarm', async () => { await sub.close() })
      try {
        const profDir = !profile ? '' : profileTo === '1' ? await tempDir(sub, 'small-jobs-prof') : profileTo
        const peers = await startSwarm(sub, WORKERS, { prefix: 'small', slots: 1, env: profile ? cpuProfEnv(profDir) : undefined })
        const client = await openClient(sub, peers.map(p => p.addr))
        const one = async (): Promise<number> => {
          const t = await submitTimed(client, input.path, OPS, { format: FORMAT, timeoutMs: 120_000 })
          swarmSample ??= t.outcome.data
          return t.totalMs
        }
        await bounded(WARM_JOBS, IN_FLIGHT, ctx, one)
        const cpu0 = peers.map(p => cpuMsOf(p.pid))
        const own0 = process.cpuUsage()
        const t0 = performance.now()
        const lat = await bounded(jobs, IN_FLIGHT, ctx, one)
        const s = (performance.now() - t0) / 1000
        const own = process.cpuUsage(own0)
        const cpu = peers.map((p, i) => cpuMsOf(p.pid) - cpu0[i])
        swarmRate = jobs / s
        const swarmCpu = cpu[0] + cpu[1] + (own.user + own.system) / 1000
        perJob.swarm = swarmCpu / jobs
        perJob.swarmCores = swarmCpu / (s * 1000)
        ctx.log(`small-jobs: swarm ${fmtNum(swarmRate, 1)} jobs/s (${fmtMs(s * 1000)} for ${jobs})`)
        notes.push(`swarm: ${jobs} jobs in ${fmtMs(s * 1000)}; time per job submit -> result, median ${fmtMs(median(lat))}; CPU per job: master ${fmtNum(cpu[0] / jobs, 1)} ms, worker ${fmtNum(cpu[1] / jobs, 1)} ms, client (bench process) ${fmtNum((own.user + own.system) / 1000 / jobs, 1)} ms; CPU used while the jobs ran: master ${fmtNum(cpu[0] / (s * 1000))}, worker ${fmtNum(cpu[1] / (s * 1000))}, client ${fmtNum((own.user + own.system) / 1000 / (s * 1000))} of a core (2 cores).`)
        await Promise.all(peers.map(async p => { await stopProcess(p.proc, 10_000) }))
        if (profile) notes.push(...profileNotes(profDir, peers[0].pid, 'master'), ...profileNotes(profDir, peers[1].pid, 'worker'))
      } finally {
        await sub.close()
      }
    }

    // ---- BullMQ + redis
    let bullRate = NaN
    let bullSample: Uint8Array | undefined
    {
      let bullmq: typeof import('bullmq')
      try {
        bullmq = await import('bullmq')
      } catch {
        throw new Error('bullmq is not installed: add it (and ioredis) to devDependencies and run npm install')
      }
      const sub = new Scope('small-jobs-bullmq')
      ctx.scope.defer('stop the small-jobs BullMQ side', async () => { await sub.close() })
      try {
        const r = await ensureRedis(ctx.log)
        const redis = await startRedis(sub, r.bin)
        const connection = { host: '127.0.0.1', port: redis.port, maxRetriesPerRequest: null }
        const queueName = `images-${process.pid}`
        const queue = new bullmq.Queue(queueName, { connection })
        const events = new bullmq.QueueEvents(queueName, { connection })
        sub.defer('close BullMQ queue', async () => { await queue.close(); await events.close() })
        await queue.waitUntilReady()
        await events.waitUntilReady()
        const workers: Proc[] = []
        for (let i = 0; i < WORKERS; i++) {
          workers.push(sub.spawn(`bullmq-image-worker-${i}`, NODE, [join(ROOT, 'bench', 'cases', 'bullmq-image-worker.ts'), String(redis.port), queueName, OPS.join(','), FORMAT]))
        }
        await Promise.all(workers.map(async w => { await waitForLine(w, 'ready', 30_000) }))
        const waiting = new Map<string, { resolve: (b64: string) => void, reject: (e: Error) => void }>()
        events.on('completed', ({ jobId, returnvalue }: { jobId: string, returnvalue: unknown }) => {
          const w = waiting.get(jobId)
          if (w == null) return
          waiting.delete(jobId)
          const s = typeof returnvalue === 'string' ? returnvalue : String(returnvalue)
          w.resolve(s.startsWith('"') ? JSON.parse(s) as string : s)
        })
        events.on('failed', ({ jobId, failedReason }: { jobId: string, failedReason: string }) => {
          const w = waiting.get(jobId)
          if (w == null) return
          waiting.delete(jobId)
          w.reject(new Error(`BullMQ job ${jobId} failed: ${failedReason}`))
        })
        // The producer reads the file for every job, as the swarm's client does.
        let seq = 0
        const one = async (): Promise<number> => {
          const t0 = performance.now()
          const jobId = `j${seq++}`
          const done = new Promise<string>((resolve, reject) => { waiting.set(jobId, { resolve, reject }) })
          await queue.add('image', { img: readFileSync(input.path).toString('base64') }, { jobId, removeOnComplete: true, removeOnFail: true })
          const out = Buffer.from(await done, 'base64')
          if (out.byteLength === 0) throw new Error(`BullMQ job ${jobId}: empty result`)
          bullSample ??= out
          return performance.now() - t0
        }
        await bounded(WARM_JOBS, IN_FLIGHT, ctx, one)
        const pids = [...workers.map(w => w.pid), redis.pid]
        const cpu0 = pids.map(cpuMsOf)
        const own0 = process.cpuUsage()
        const t0 = performance.now()
        const lat = await bounded(jobs, IN_FLIGHT, ctx, one)
        const s = (performance.now() - t0) / 1000
        const own = process.cpuUsage(own0)
        const cpu = pids.map((p, i) => cpuMsOf(p) - cpu0[i])
        bullRate = jobs / s
        const bullCpu = cpu.reduce((a, b) => a + b, 0) + (own.user + own.system) / 1000
        perJob.bull = bullCpu / jobs
        perJob.bullCores = bullCpu / (s * 1000)
        perJob.bullWorker = cpu.slice(0, WORKERS).reduce((a, b) => a + b, 0) / jobs
        ctx.log(`small-jobs: BullMQ ${fmtNum(bullRate, 1)} jobs/s (${fmtMs(s * 1000)} for ${jobs})`)
        notes.push(`BullMQ: redis-server ${redis.version}${r.installed ? ' (installed by the bench from Debian packages)' : ''}; ${jobs} jobs in ${fmtMs(s * 1000)}; time per job add -> result, median ${fmtMs(median(lat))}; CPU per job: workers ${cpu.slice(0, WORKERS).map(c => fmtNum(c / jobs, 1)).join(' + ')} ms, redis ${fmtNum(cpu[WORKERS] / jobs, 1)} ms, producer (bench process) ${fmtNum((own.user + own.system) / 1000 / jobs, 1)} ms; CPU used while the jobs ran: workers ${cpu.slice(0, WORKERS).map(c => fmtNum(c / (s * 1000))).join(' + ')}, redis ${fmtNum(cpu[WORKERS] / (s * 1000))}, producer ${fmtNum((own.user + own.system) / 1000 / (s * 1000))} of a core.`)
      } finally {
        await sub.close()
      }
    }

    const same = swarmSample != null && bullSample != null && Buffer.from(swarmSample).equals(Buffer.from(bullSample))
    notes.unshift(`Each job: one ${SIDE}x${SIDE} photo-like JPEG (${input.bytes} B) -> blur + canny -> PNG; ${jobs} jobs timed after ${WARM_JOBS} warm-up jobs, ${IN_FLIGHT} in flight on each side (a new one starts when one finishes), ${WORKERS} workers on each side. Swarm: 2 \`swarm start\` processes with --slots 1 (the master is one of the workers), one tile per job; each job = find the master (status query), upload, follow, download, as \`swarm submit\`. BullMQ: 2 worker processes (concurrency 1, a pool of 1 kernel thread each) that decode, run the pipeline and encode like \`swarm run\`; the image and the result travel as base64 in redis. The outputs of the two sides are ${same ? 'byte for byte the same' : 'NOT the same bytes'}.`)
    const cores = availableParallelism()
    const bound = (used: number): string => used >= CPU_BOUND_SHARE * cores ? 'CPU-bound' : 'not CPU-bound'
    notes.push(`What limits the rate: CPU per job, all processes of a side together (peers or workers + redis, and the client or producer): swarm ${fmtNum(perJob.swarm, 1)} ms, BullMQ ${fmtNum(perJob.bull, 1)} ms (${fmtNum(perJob.swarm / perJob.bull, 1)}x), with ${fmtNum(perJob.swarmCores)} and ${fmtNum(perJob.bullCores)} of the ${cores} cores busy: the swarm was ${bound(perJob.swarmCores)}, BullMQ ${bound(perJob.bullCores)} (CPU-bound = at least ${fmtNum(CPU_BOUND_SHARE * cores, 1)} cores busy; below that a side waited on something else, or other load on the machine took the cores: see the case's last note). Where both are CPU-bound the ratio of rates is the ratio of CPU per job. A BullMQ worker's whole job (decode, blur + canny, encode) is ${fmtNum(perJob.bullWorker, 1)} ms; the rest of the swarm's is its per-job machinery (status query, submit and watch streams, input copy to the standby, queue writes and their replication, tile and result files, stitch). BENCH_PROFILE=1 adds where the peers' time goes.`)
    const rows: Row[] = [{
      case: 'small-jobs',
      measure: `${jobs} jobs of ${SIDE}x${SIDE}, blur + canny -> PNG, ${IN_FLIGHT} in flight: swarm (2 peers) jobs/s / BullMQ (2 workers) jobs/s`,
      value: `${fmtNum(swarmRate, 1)} jobs/s`,
      baseline: `${fmtNum(bullRate, 1)} jobs/s (BullMQ)`,
      ratio: swarmRate / bullRate,
      target: '',
      met: null,
      runs: 1
    }]
    return { rows, notes }
  }
}

/** Runs fn `count` times, at most `inFlight` at once; resolves with each call's result, in order of start. */
async function bounded<T> (count: number, inFlight: number, ctx: Ctx, fn: () => Promise<T>): Promise<T[]> {
  const out: T[] = new Array<T>(count)
  let next = 0
  const lane = async (): Promise<void> => {
    while (next < count) {
      ctx.check()
      const i = next++
      out[i] = await fn()
    }
  }
  await Promise.all(Array.from({ length: Math.min(inFlight, count) }, lane))
  return out
}

function profileNotes (dir: string, pid: number, role: string): string[] {
  const file = mainThreadProfile(dir, pid)
  if (file == null) return [`${role} profile: none written (the process did not exit normally?)`]
  const p = summariseProfile(file, 12)
  return [
    `${role} main thread, V8 CPU profile of its whole life (start-up and warm-up included): ${fmtMs(p.busyMs)} busy of ${fmtMs(p.totalMs)}; busy self time by area: ${p.byArea.slice(0, 10).map(a => `${a.area} ${fmtNum(a.share * 100, 1)}%`).join(', ')}.`,
    `${role} hottest functions (self time, of busy): ${p.top.map(f => `${f.name} ${fmtNum(f.share * 100, 1)}%`).join('; ')}.`,
    `${role} own code by inclusive time (itself and all it calls, of busy): ${p.ownInclusive.map(f => `${f.name} ${fmtNum(f.share * 100, 1)}%`).join('; ')}.`
  ]
}
