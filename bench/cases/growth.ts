// 9. Growth: how job time and the master's CPU grow with the work. Photo-like JPEGs of 1, 24, 100 and
// 400 MP through swarms of 1, 2, 4 and 8 peer processes (--quick: up to 100 MP and 4 peers), a light
// pipeline (grayscale -> JPEG) so the data path, not the kernels, is what grows. One swarm per size of
// swarm (formed, warmed up, then every image in turn); job time = submit -> result received at the
// in-process client; master CPU = user + system CPU-ms of the master's process (all its threads)
// over the job. Peers are not capped: on 2 cores, more than 2 peers share the cores, so this shows
// the growth of the costs, not a speedup (that is the scaling case).
import type { BenchCase, Ctx } from '../lib/context.ts'
import { cpuMsOf } from '../lib/cgroup.ts'
import { photoLike, type Input } from '../lib/images.ts'
import { AUTO_TILE_MAX, decodeImage } from '../../src/ops/index.ts'
import { WHOLE_INPUT_MAX_BYTES } from '../../src/scheduler/master-planner.ts'
import { Scope } from '../lib/proc.ts'
import { fmtMiB, fmtMs, fmtNum, median, type Row } from '../lib/stats.ts'
import { memoryOf, openClient, startSwarm, submitTimed } from '../lib/swarm.ts'

const OPS = ['grayscale']
const FORMAT = 'jpeg'
const IMAGES = [
  { mp: 1, width: 1000, height: 1000, runs: 3 },
  { mp: 24, width: 6000, height: 4000, runs: 2 },
  { mp: 100, width: 10_000, height: 10_000, runs: 1 },
  { mp: 400, width: 20_000, height: 20_000, runs: 1 }
]
const PEERS = [1, 2, 4, 8]
/** --quick stops here (the brief's 2-minute bound). */
const QUICK_MAX_MP = 100
const QUICK_MAX_PEERS = 4
/** The size the growth rows compare against: large enough that a job's fixed costs are small. */
const REFERENCE_MP = 24
/** A job bigger than its slowest measured rate allows is a failure, not a wait (ms per MP, generous). */
const JOB_MS_PER_MP = 3000
const JOB_MIN_MS = 60_000

interface Cell {
  times: number[]
  masterCpu: number[]
  workersCpu: number[]
  tiles: number
  /** The master's peak RSS (VmHWM, a lifetime peak) after this size's jobs: sizes run smallest first. */
  masterPeak: number
  error?: string
}

export const growthCase: BenchCase = {
  name: 'growth',
  title: 'Growth: job time and master CPU for 1-400 MP on 1-8 peers, grayscale -> JPEG',
  budgetMs: quick => quick ? 150_000 : 420_000,
  run: async (ctx: Ctx) => {
    const images = IMAGES.filter(i => !ctx.quick || i.mp <= QUICK_MAX_MP)
    const sizes = PEERS.filter(n => !ctx.quick || n <= QUICK_MAX_PEERS)
    const inputs: Input[] = []
    for (const img of images) {
      const t0 = performance.now()
      inputs.push(await photoLike(img.width, img.height, 'jpeg', 21))
      const ms = performance.now() - t0
      if (ms > 1000) ctx.log(`growth: made the ${img.mp} MP input in ${fmtMs(ms)} (cached for later runs)`)
    }
    const warm = await photoLike(1024, 512, 'jpeg', 4)
    const cells = new Map<string, Cell>()
    const key = (n: number, mp: number): string => `${n}/${mp}`
    for (const n of sizes) {
      ctx.check()
      const sub = new Scope(`growth-${n}`)
      ctx.scope.defer(`stop the ${n}-peer growth swarm`, async () => { await sub.close() })
      try {
        const peers = await startSwarm(sub, n, { prefix: `grow${n}`, slots: 1 })
        const client = await openClient(sub, peers.map(p => p.addr))
        await submitTimed(client, warm.path, OPS, { format: FORMAT })
        for (const [i, img] of images.entries()) {
          const cell: Cell = { times: [], masterCpu: [], workersCpu: [], tiles: 0, masterPeak: NaN }
          cells.set(key(n, img.mp), cell)
          for (let r = 0; r < (ctx.quick ? Math.min(img.runs, 2) : img.runs); r++) {
            ctx.check()
            const cpu0 = peers.map(p => cpuMsOf(p.pid))
            try {
              const t = await submitTimed(client, inputs[i].path, OPS, { format: FORMAT, timeoutMs: Math.max(JOB_MIN_MS, img.mp * JOB_MS_PER_MP) })
              const cpu = peers.map((p, j) => cpuMsOf(p.pid) - cpu0[j])
              cell.times.push(t.totalMs)
              cell.masterCpu.push(cpu[0])
              cell.workersCpu.push(cpu.slice(1).reduce((a, b) => a + b, 0))
              cell.tiles = t.tiles
              cell.masterPeak = memoryOf(peers[0].pid).hwm
              ctx.log(`growth n=${n} ${img.mp} MP #${r + 1}: ${fmtMs(t.totalMs)}, ${t.tiles} tiles, master ${fmtNum(cpu[0], 0)} CPU-ms (${fmtNum(cpu[0] / t.tiles, 1)} per tile)`)
            } catch (err) {
              if (ctx.signal.aborted) throw err
              cell.error = (err as Error).message
              ctx.log(`growth n=${n} ${img.mp} MP: FAILED: ${cell.error}`)
              for (const p of peers) if (p.proc.exit != null) throw new Error(`${p.name} exited (${JSON.stringify(p.proc.exit)}) during the ${img.mp} MP job: ${p.proc.stderrTail.slice(-3).join(' | ')}`)
              break
            }
          }
        }
      } finally {
        await sub.close()
      }
    }
    const notes = notesOf(cells, sizes, images, inputs)
    notes.push(await regionDecodeNote(images[images.length - 1], inputs[inputs.length - 1], images))
    return { rows: rowsOf(cells, sizes, images.map(i => i.mp)), notes }
  }
}

function rowsOf (cells: Map<string, Cell>, sizes: number[], mps: number[]): Row[] {
  const rows: Row[] = []
  for (const n of sizes) {
    const ok = mps.filter(mp => (cells.get(`${n}/${mp}`)?.times.length ?? 0) > 0)
    const ref = cells.get(`${n}/${REFERENCE_MP}`)
    const top = ok[ok.length - 1]
    if (ref == null || ref.times.length === 0 || top == null || top <= REFERENCE_MP) continue
    const big = cells.get(`${n}/${top}`)!
    const perMp = (c: Cell, mp: number): number => median(c.times) / mp
    rows.push({
      case: 'growth',
      measure: `${n} peer${n > 1 ? 's' : ''}: job time per MP, ${top} MP / ${REFERENCE_MP} MP (1.00 = linear in pixels)`,
      value: `${fmtNum(perMp(big, top), 1)} ms/MP`,
      baseline: `${fmtNum(perMp(ref, REFERENCE_MP), 1)} ms/MP`,
      ratio: perMp(big, top) / perMp(ref, REFERENCE_MP),
      target: '',
      met: null,
      runs: big.times.length
    })
    const cpuPerMp = (c: Cell, mp: number): number => median(c.masterCpu) / mp
    rows.push({
      case: 'growth',
      measure: `${n} peer${n > 1 ? 's' : ''}: master CPU per MP, ${top} MP (${big.tiles} tiles) / ${REFERENCE_MP} MP (${ref.tiles} tiles) (1.00 = flat)`,
      value: `${fmtNum(cpuPerMp(big, top), 1)} ms/MP`,
      baseline: `${fmtNum(cpuPerMp(ref, REFERENCE_MP), 1)} ms/MP`,
      ratio: cpuPerMp(big, top) / cpuPerMp(ref, REFERENCE_MP),
      target: '',
      met: null,
      runs: big.times.length
    })
  }
  return rows
}

function notesOf (cells: Map<string, Cell>, sizes: number[], images: typeof IMAGES, inputs: Input[]): string[] {
  const head = '| peers | image | tiles | MP per tile | job time | ms per MP | master CPU-ms | master CPU-ms per tile | master CPU-ms per MP | workers CPU-ms per tile | master peak RSS | runs |'
  const lines = [head, '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |']
  for (const n of sizes) {
    for (const img of images) {
      const c = cells.get(`${n}/${img.mp}`)
      if (c == null) { lines.push(`| ${n} | ${img.mp} MP | not run (time bound) | | | | | | | | | 0 |`); continue }
      if (c.times.length === 0) { lines.push(`| ${n} | ${img.mp} MP | **failed**: ${(c.error ?? '').replace(/\|/g, '\\|').slice(0, 240)} | | | | | | | | | 0 |`); continue }
      const t = median(c.times)
      const m = median(c.masterCpu)
      const w = median(c.workersCpu)
      lines.push(`| ${n} | ${img.mp} MP | ${c.tiles} | ${fmtNum(img.mp / c.tiles, 2)} | ${fmtMs(t)} | ${fmtNum(t / img.mp, 1)} | ${fmtNum(m, 0)} | ${fmtNum(m / c.tiles, 1)} | ${fmtNum(m / img.mp, 1)} | ${n > 1 ? fmtNum(w / c.tiles, 1) : ''} | ${fmtMiB(c.masterPeak)} | ${c.times.length}${c.error != null ? ` (then failed: ${c.error.replace(/\|/g, '\\|').slice(0, 120)})` : ''} |`)
    }
  }
  return [
    `Inputs: photo-like JPEGs (quality 90) ${images.map((img, i) => `${img.mp} MP = ${img.width}x${img.height}, ${(inputs[i].bytes / 1e6).toFixed(1)} MB`).join('; ')}. Pipeline grayscale -> JPEG (no halo, cheap kernel: what grows is decode, cut, transfer, stitch, encode). Each peer is a \`swarm start\` process with --slots 1, not CPU-capped (the bench's own cgroup only keeps other load off): with 4 and 8 peers on 2 cores the peers share the cores, so times show the cost of the work, not a speedup. Tile size left to the master (about 8 tiles per slot, 512 to 2048 px). Master CPU = user + system time of the master process (all threads: main, libvips, kernel thread; it also works tiles itself while fewer than 4 other peers take them); workers CPU = the other peers together. Master peak RSS = VmHWM after that image's jobs (a lifetime peak; images run smallest first). Medians over the runs shown. The rows of the results table compare per MP, not per tile: the master's tile size grows with the image (0.25 MP tiles at 1 MP, 4 MP at 400 MP), and most of the master's CPU (decode, stitch, encode) is per pixel, so its CPU per tile grows with the tile's area.`,
    lines.join('\n')
  ]
}

/**
 * Why the workers' CPU per tile grows with the image: above WHOLE_INPUT_MAX_BYTES a worker decodes each
 * tile's rectangle in one sequential pass, which reads the file from the top down to the tile's last
 * row. Measured here, in the bench process, on the largest input: a tile at the top, one in the middle,
 * one at the bottom, and the whole decode the master does once.
 */
async function regionDecodeNote (img: typeof IMAGES[number], input: Input, images: typeof IMAGES): Promise<string> {
  const edge = Math.min(AUTO_TILE_MAX, img.width, img.height)
  const x = Math.floor((img.width - edge) / 2)
  const at = async (y: number | null): Promise<number> => {
    const c0 = process.cpuUsage()
    await decodeImage(input.path, { maxPixels: img.width * img.height, region: y == null ? undefined : { x, y, width: edge, height: edge } })
    const c = process.cpuUsage(c0)
    return (c.user + c.system) / 1000
  }
  const top = await at(0)
  const mid = await at(Math.floor((img.height - edge) / 2))
  const bottom = await at(img.height - edge)
  const whole = await at(null)
  const cut = images.filter(i => i.width * i.height * 3 > WHOLE_INPUT_MAX_BYTES).map(i => `${i.mp} MP`).join(', ')
  return `Workers' CPU per tile: above WHOLE_INPUT_MAX_BYTES (${fmtMiB(WHOLE_INPUT_MAX_BYTES)} decoded: here ${cut}) a worker decodes each tile's rectangle in one sequential pass, which decodes the file from its top down to the tile's last row. Measured in the bench process on the ${img.mp} MP input, one ${edge}x${edge} rectangle: at the top ${fmtNum(top, 0)} CPU-ms, in the middle ${fmtNum(mid, 0)}, at the bottom ${fmtNum(bottom, 0)}; the whole image (the master's one decode) ${fmtNum(whole, 0)}. So the workers' decode work is about tiles x half the image, and grows faster than the pixels once the tile edge stops growing at ${AUTO_TILE_MAX} px.`
}
