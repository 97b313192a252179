// 6. Memory: peak RSS (VmHWM from /proc/<pid>/status) of the master and of a worker, each a separate
// `swarm start` process, for a 24 MP and a 100 MP photo-like JPEG, against the decoded image size
// (width x height x 3 bytes). A fresh 2-peer swarm per input (VmHWM is a lifetime peak); cheap
// pipeline (grayscale -> JPEG), default 512 px tiles, --slots 1.
import type { BenchCase, Ctx } from '../lib/context.ts'
import { photoLike } from '../lib/images.ts'
import { Scope } from '../lib/proc.ts'
import { check, fmtMiB, fmtMs, fmtNum, median, spread, type Row } from '../lib/stats.ts'
import { memoryOf, openClient, startSwarm, submitTimed } from '../lib/swarm.ts'

const INPUTS = [
  { label: '24 MP', width: 6000, height: 4000 },
  { label: '100 MP', width: 10_000, height: 10_000 }
]

export const memoryCase: BenchCase = {
  name: 'memory',
  title: 'Memory: peak RSS of master and worker vs the decoded image',
  budgetMs: quick => quick ? 150_000 : 420_000,
  run: async (ctx: Ctx) => {
    const runs = ctx.quick ? 1 : 2
    const rows: Row[] = []
    const notes: string[] = []
    for (const inp of INPUTS) {
      const input = await photoLike(inp.width, inp.height, 'jpeg', 9)
      const decoded = inp.width * inp.height * 3
      const master: number[] = []
      const worker: number[] = []
      const idle: number[] = []
      for (let r = 0; r < runs; r++) {
        ctx.check()
        const sub = new Scope(`memory-${inp.label}-${r}`)
        ctx.scope.defer(`stop memory swarm ${inp.label}`, async () => { await sub.close() })
        try {
          const peers = await startSwarm(sub, 2, { prefix: `mem${r}`, slots: 1 })
          idle.push(...peers.map(p => memoryOf(p.pid).hwm))
          const client = await openClient(sub, [peers[0].addr])
          const t = await submitTimed(client, input.path, ['grayscale'], { format: 'jpeg', timeoutMs: 300_000 })
          const m = memoryOf(peers[0].pid).hwm
          const w = memoryOf(peers[1].pid).hwm
          master.push(m)
          worker.push(w)
          ctx.log(`memory ${inp.label} #${r + 1}: master peak ${fmtMiB(m)}, worker peak ${fmtMiB(w)}, decoded ${fmtMiB(decoded)} (job ${fmtMs(t.totalMs)})`)
        } finally {
          await sub.close()
        }
      }
      const m = median(master)
      const w = median(worker)
      const target = inp.label === '100 MP' ? '< 1.00' : ''
      rows.push({ case: 'memory', measure: `${inp.label}: master peak RSS / decoded image (${inp.width}x${inp.height}x3)`, value: fmtMiB(m), baseline: fmtMiB(decoded), ratio: m / decoded, target, met: target === '' ? null : check(m / decoded, target), runs: master.length })
      rows.push({ case: 'memory', measure: `${inp.label}: worker peak RSS / decoded image`, value: fmtMiB(w), baseline: fmtMiB(decoded), ratio: w / decoded, target: '', met: null, runs: worker.length })
      if (target !== '' && !check(m / decoded, target)) notes.push(`${inp.label}, what limits the master's peak: before any job a peer already holds ${fmtMiB(median(idle))} (${fmtNum(median(idle) / decoded, 2)} of the decoded size: Node, libp2p, sharp and libvips, the kernels' wasm memory), so the job itself has ${fmtMiB(Math.max(0, decoded - median(idle)))} to stay under the target and took ${fmtMiB(m - median(idle))}: the decode that checks the input at submit (libvips streams it, but keeps its own buffers and caches), the stitch's band of tiles and the encoder's buffers, and the tiles it works itself.`)
      notes.push(`${inp.label} (${(input.bytes / 1e6).toFixed(1)} MB JPEG): master ${spread(master, fmtMiB)}, worker ${spread(worker, fmtMiB)}; a peer's peak before any job: ${fmtMiB(median(idle))} (${fmtNum(median(idle) / decoded, 2)} of the decoded size); growth during the job: master ${fmtNum((m - median(idle)) / decoded, 2)}x, worker ${fmtNum((w - median(idle)) / decoded, 2)}x the decoded size.`)
    }
    notes.push('Peak = VmHWM of the `swarm start` process (all its threads: main, libvips, kernel worker), read after the job; the master also works tiles (it leases to itself), and the worker is the standby that receives the input copy.')
    return { rows, notes }
  }
}
