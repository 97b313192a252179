// 3. Against a broker queue: the same stream of 256x256 tile jobs (one image cut with the heavy
// pipeline's halo, as the master cuts it) through
//   - the swarm: 2 peer processes (--slots 1 each; the master works too), the image submitted with
//     --tile-size 256; tiles/s over the tile phase (from "accepted" to the last tile done);
//   - BullMQ with a real redis-server: 2 worker processes (concurrency 1) running runTile, a producer
//     (the bench process) that adds every tile (pixels as base64) with addBulk and waits for every
//     'completed' event with its result; tiles/s from the first add to the last result;
//   - bare compute: runTile on the same tiles in a pool of 2 worker threads, no queue.
// Same number of workers everywhere (2, one per core). Each side is warmed up first, and runs alone.
import type { BenchCase, Ctx } from '../lib/context.ts'
import { cpuMarkOf, cpuMsOf, type CpuMark } from '../lib/cgroup.ts'
import { photoLike } from '../lib/images.ts'
import { NODE, ROOT, stopProcess, type Proc } from '../lib/proc.ts'
import { ensureRedis, startRedis } from '../lib/redis.ts'
import { check, fmtMs, fmtNum, median, spread, type Row } from '../lib/stats.ts'
import { openClient, startSwarm, submitTimed } from '../lib/swarm.ts'
import {
  coreInTile, createPool, decodeImage, parsePipeline, pipelineHalo, planTiles, sliceTile, type RawImage
} from '../../src/ops/index.ts'
import { join } from 'node:path'

const OPS = ['blur', 'canny']
const TILE = 256
const WORKERS = 2

export const brokerCase: BenchCase = {
  name: 'broker',
  title: 'Against a broker queue: swarm vs BullMQ + redis vs bare compute, 256 px tiles, blur + canny',
  budgetMs: quick => quick ? 150_000 : 420_000,
  run: async (ctx: Ctx) => {
    const [width, height] = ctx.quick ? [4096, 2048] : [4096, 4096]
    const runs = ctx.quick ? 2 : 3
    const input = await photoLike(width, height, 'jpeg', 5)
    const warmInput = await photoLike(1024, 512, 'jpeg', 6)
    const pipeline = parsePipeline(OPS)
    const halo = pipelineHalo(pipeline)
    const raw = await decodeImage(input.path)
    const plan = planTiles(raw.width, raw.height, TILE, halo)
    const tiles = plan.map(t => ({ img: sliceTile(raw, t), core: coreInTile(t) }))
    ctx.log(`broker: ${width}x${height}, ${tiles.length} tiles of ${TILE} px (+${halo} px halo), ${WORKERS} workers, ${runs} run(s) each`)
    const notes: string[] = []

    // CPU-ms per tile, all threads of every process of a side (to say what limits each rate).
    const cpuPerTile = { bare: [] as number[], swarm: [] as number[], swarmMain: [] as number[], bull: [] as number[] }

    // ---- bare compute
    const bare: number[] = []
    {
      const pool = createPool({ size: WORKERS })
      ctx.scope.defer('close pool', async () => { await pool.close() })
      const runAll = async (list: typeof tiles): Promise<void> => {
        await Promise.all(list.map(async t => await pool.run(t.img, pipeline, { phase: 0, stats: [], core: t.core }, { transfer: false })))
      }
      await runAll(tiles.slice(0, 8))
      for (let r = 0; r < runs; r++) {
        ctx.check()
        const t0 = performance.now()
        const c0 = process.cpuUsage()
        await runAll(tiles)
        bare.push(tiles.length / ((performance.now() - t0) / 1000))
        const c = process.cpuUsage(c0)
        cpuPerTile.bare.push((c.user + c.system) / 1000 / tiles.length)
      }
      await pool.close()
      ctx.log(`broker: bare compute ${bare.map(x => fmtNum(x, 1)).join(', ')} tiles/s`)
    }

    // ---- swarm
    const swarm: number[] = []
    const swarmE2e: number[] = []
    {
      const peers = await startSwarm(ctx.scope, WORKERS, { prefix: 'broker', slots: 1 })
      const client = await openClient(ctx.scope, peers.map(p => p.addr))
      await submitTimed(client, warmInput.path, OPS, { tileSize: TILE })
      for (let r = 0; r < runs; r++) {
        ctx.check()
        // The peers' CPU in the tile phase alone (accepted -> last tile), whole processes and main threads.
        const marks: CpuMark[] = []
        const mark = (): void => { marks.push(peers.map(p => cpuMarkOf(p.pid)).reduce((a, m) => ({ all: a.all + m.all, main: a.main + m.main }))) }
        const t = await submitTimed(client, input.path, OPS, { tileSize: TILE, timeoutMs: 300_000, onStage: mark })
        if (marks.length === 2) {
          cpuPerTile.swarm.push((marks[1].all - marks[0].all) / t.tiles)
          cpuPerTile.swarmMain.push((marks[1].main - marks[0].main) / t.tiles)
        }
        if (t.tiles !== tiles.length) throw new Error(`the swarm cut ${t.tiles} tiles, the bench ${tiles.length}`)
        swarm.push(t.tiles / ((t.tilesDoneMs - t.acceptedMs) / 1000))
        swarmE2e.push(t.tiles / (t.totalMs / 1000))
        if (r === 0) notes.push(`swarm job stages: upload + decode + input copy to the standby until "accepted" ${fmtMs(t.acceptedMs)}, tiles ${fmtMs(t.tilesDoneMs - t.acceptedMs)}, stitch + encode + download ${fmtMs(t.totalMs - t.tilesDoneMs)}.`)
      }
      await Promise.all(peers.map(async p => { await stopProcess(p.proc, 5000) }))
      ctx.log(`broker: swarm ${swarm.map(x => fmtNum(x, 1)).join(', ')} tiles/s (tile phase)`)
    }

    // ---- BullMQ + redis
    const bull: number[] = []
    let redisVersion = ''
    let installed = false
    {
      let bullmq: typeof import('bullmq')
      try {
        bullmq = await import('bullmq')
      } catch {
        throw new Error('bullmq is not installed: add it (and ioredis) to devDependencies and run npm install')
      }
      const r = await ensureRedis(ctx.log)
      installed = r.installed
      const redis = await startRedis(ctx.scope, r.bin)
      redisVersion = redis.version
      const connection = { host: '127.0.0.1', port: redis.port, maxRetriesPerRequest: null }
      const queueName = `tiles-${process.pid}`
      const queue = new bullmq.Queue(queueName, { connection })
      const events = new bullmq.QueueEvents(queueName, { connection })
      ctx.scope.defer('close BullMQ queue', async () => { await queue.close(); await events.close() })
      await queue.waitUntilReady()
      await events.waitUntilReady()
      const workers: Proc[] = []
      for (let i = 0; i < WORKERS; i++) {
        const w = ctx.scope.spawn(`bullmq-worker-${i}`, NODE, [join(ROOT, 'bench', 'cases', 'bullmq-worker.ts'), String(redis.port), queueName, OPS.join(',')])
        workers.push(w)
      }
      await Promise.all(workers.map(async w => { await waitLine(w, 'ready', 30_000) }))
      const encoded = tiles.map(t => ({ w: t.img.width, h: t.img.height, c: t.img.channels, core: t.core, px: b64(t.img) }))
      let batch = 0
      const runBatch = async (list: typeof encoded): Promise<number> => {
        const tag = `b${batch++}-`
        let left = list.length
        let bytes = 0
        const done = new Promise<void>((resolve, reject) => {
          const onDone = ({ jobId, returnvalue }: { jobId: string, returnvalue: unknown }): void => {
            if (!jobId.startsWith(tag)) return
            const s = typeof returnvalue === 'string' ? returnvalue : String(returnvalue)
            bytes += Buffer.from(s.startsWith('"') ? JSON.parse(s) as string : s, 'base64').byteLength
            if (--left === 0) { events.off('completed', onDone); events.off('failed', onFail); resolve() }
          }
          const onFail = ({ jobId, failedReason }: { jobId: string, failedReason: string }): void => {
            if (jobId.startsWith(tag)) reject(new Error(`BullMQ job ${jobId} failed: ${failedReason}`))
          }
          events.on('completed', onDone)
          events.on('failed', onFail)
        })
        const t0 = performance.now()
        await queue.addBulk(list.map((data, i) => ({ name: 'tile', data, opts: { jobId: `${tag}${i}`, removeOnComplete: true, removeOnFail: true } })))
        await done
        const s = (performance.now() - t0) / 1000
        const want = list.reduce((a, t) => a + t.core.width * t.core.height, 0)
        if (bytes !== want) throw new Error(`BullMQ results: ${bytes} bytes, expected ${want}`)
        return list.length / s
      }
      await runBatch(encoded.slice(0, 8))
      for (let i = 0; i < runs; i++) {
        ctx.check()
        const pids = [...workers.map(w => w.pid), redis.pid]
        const c0 = pids.map(cpuMsOf)
        bull.push(await runBatch(encoded))
        cpuPerTile.bull.push(pids.reduce((a, pid, j) => a + cpuMsOf(pid) - c0[j], 0) / encoded.length)
      }
      ctx.log(`broker: BullMQ ${bull.map(x => fmtNum(x, 1)).join(', ')} tiles/s`)
    }

    const s = median(swarm)
    const b = median(bull)
    const c = median(bare)
    const rows: Row[] = [
      { case: 'broker', measure: 'swarm tiles/s / BullMQ tiles/s', value: `${fmtNum(s, 1)} tiles/s`, baseline: `${fmtNum(b, 1)} tiles/s (BullMQ)`, ratio: s / b, target: '>= 1.00', met: check(s / b, '>= 1.00'), runs: swarm.length },
      { case: 'broker', measure: 'swarm tiles/s / bare compute tiles/s', value: `${fmtNum(s, 1)} tiles/s`, baseline: `${fmtNum(c, 1)} tiles/s (bare)`, ratio: s / c, target: '>= 0.95', met: check(s / c, '>= 0.95'), runs: swarm.length },
      { case: 'broker', measure: 'BullMQ tiles/s / bare compute tiles/s', value: `${fmtNum(b, 1)} tiles/s`, baseline: `${fmtNum(c, 1)} tiles/s (bare)`, ratio: b / c, target: '', met: null, runs: bull.length }
    ]
    notes.unshift(`Stream: ${tiles.length} tiles of ${TILE} px cut from one ${width}x${height} image with the ${halo} px halo of blur + canny (up to ${TILE + 2 * halo}x${TILE + 2 * halo}x3 = ${((TILE + 2 * halo) ** 2 * 3 / 1024).toFixed(0)} KiB per tile sent, ${TILE}x${TILE}x1 back), ${WORKERS} workers for each of swarm / BullMQ / bare. Swarm: 2 peer processes with --slots 1 (the master is one of the workers). BullMQ: redis-server ${redisVersion}${installed ? ' (installed by the bench from Debian packages)' : ''} on 127.0.0.1, 2 worker processes (concurrency 1, runTile on their main thread), pixels as base64 in the job data; producer = the bench process. Bare: a KernelPool of 2 worker threads in the bench process.`)
    notes.push(`swarm tile phase: ${spread(swarm, x => `${fmtNum(x, 1)} tiles/s`)}; swarm end to end (upload to result): ${spread(swarmE2e, x => `${fmtNum(x, 1)} tiles/s`)}; BullMQ: ${spread(bull, x => `${fmtNum(x, 1)} tiles/s`)}; bare: ${spread(bare, x => `${fmtNum(x, 1)} tiles/s`)}.`)
    const cs = median(cpuPerTile.swarm)
    notes.push(`What limits the swarm's rate: CPU per tile, every thread of a side's processes (USER_HZ ticks, medians): swarm peers ${fmtNum(cs, 1)} ms in the tile phase, ${fmtNum(median(cpuPerTile.swarmMain), 1)} ms of it on their main threads (dispatch, the tile streams, result files, the queue's writes and replication, heartbeats: everything but the kernels and libvips); BullMQ workers + redis ${fmtNum(median(cpuPerTile.bull), 1)} ms; bare kernels ${fmtNum(median(cpuPerTile.bare), 1)} ms. With ${WORKERS} cores the best rate is ${WORKERS} x 1000 / CPU-ms per tile: swarm ${fmtNum(WORKERS * 1000 / cs, 0)}, bare ${fmtNum(WORKERS * 1000 / median(cpuPerTile.bare), 0)} tiles/s.`)
    return { rows, notes }
  }
}

function b64 (img: RawImage): string {
  return Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength).toString('base64')
}

async function waitLine (p: Proc, text: string, timeoutMs: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`${p.name}: no "${text}" within ${timeoutMs} ms; ${p.stderrTail.slice(-5).join(' | ')}`)) }, timeoutMs)
    p.onLine((l) => { if (l.includes(text)) { clearTimeout(timer); resolve() } })
    void p.exited.then(() => { clearTimeout(timer); reject(new Error(`${p.name} exited: ${p.stderrTail.slice(-5).join(' | ')}`)) })
  })
}
