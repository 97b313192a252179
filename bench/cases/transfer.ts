// 5. Transfer: 1 MiB tiles (1024x1024, 1 channel) through the swarm's tile protocol (noise + yamux
// streams, length-prefixed frames; the bench process dials a peer process with sendTile, the peer runs
// `invert`, the cheapest op, and sends the 1 MiB result back) vs the same bytes through a plain
// net.Socket echo server process on loopback: 1 MiB out, 1 MiB back, per tile. One tile at a time, and
// 4 in flight (4 streams on one connection / 4 sockets).
import { join } from 'node:path'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { createConnection, type Socket } from 'node:net'
import type { BenchCase, Ctx } from '../lib/context.ts'
import { NODE, ROOT, type Proc } from '../lib/proc.ts'
import { check, fmtMs, fmtNum, median, spread, type Row } from '../lib/stats.ts'
import { openClient, startSwarm } from '../lib/swarm.ts'
import { createPool, parsePipeline } from '../../src/ops/index.ts'
import { sendTile } from '../../src/transfer/tile-protocol.ts'
import type { TileRequest } from '../../src/transfer/messages.ts'

const SIDE = 1024
const BYTES = SIDE * SIDE
/** The protocol of bench/cases/libp2p-echo.ts. */
const ECHO_PROTOCOL = '/bench/echo/1.0.0'

/** Issue 13's target: a tile over the tile protocol moves at 0.8 of the rate of the libp2p stream it rides on. */
const TILE_VS_STREAMS = '>= 0.80'

export const transferCase: BenchCase = {
  name: 'transfer',
  title: 'Transfer: 1 MiB tiles over the tile protocol vs raw TCP on loopback',
  budgetMs: quick => quick ? 90_000 : 240_000,
  run: async (ctx: Ctx) => {
    const n = ctx.quick ? 48 : 200
    const runs = ctx.quick ? 3 : 5
    const tile = new Uint8Array(BYTES)
    for (let i = 0; i < BYTES; i++) tile[i] = (i * 31 + (i >> 10)) & 255
    const pipeline = parsePipeline(['invert'])

    // The swarm: one peer process; the bench dials it like a master does.
    const [peer] = await startSwarm(ctx.scope, 1, { prefix: 'xfer', slots: 1 })
    const client = await openClient(ctx.scope, [peer.addr])
    const pid = peerIdFromString(peer.peerId)
    await client.node.peerStore.merge(pid, { multiaddrs: [multiaddr(peer.addr.replace(/\/p2p\/.*$/, ''))] })
    let seq = 0
    const swarmOne = async (): Promise<void> => {
      const i = seq++
      const req: TileRequest = {
        jobId: 'bench-transfer', phase: 0, index: i, leaseId: `l${i}`, epoch: 2 ** 30, pipeline, width: SIDE, height: SIDE, channels: 1,
        core: { x: 0, y: 0, width: SIDE, height: SIDE }, stats: [], renewMs: 5000
      }
      const r = await sendTile(client.node, pid, req, tile, { signal: AbortSignal.timeout(60_000), onWorking: () => {}, readTimeoutMs: 30_000, commit: async () => {} })
      if (!('image' in r) || r.image.data.byteLength !== BYTES) throw new Error('unexpected tile result')
    }

    // libp2p streams alone: an echo peer process with the same transport stack, one stream per tile.
    const lecho = ctx.scope.spawn('libp2p-echo', NODE, [join(ROOT, 'bench', 'cases', 'libp2p-echo.ts')])
    const echoAddr = multiaddr(await lineValue(lecho, /^addr (\S+)/))
    const echoConn = await client.node.dial(echoAddr, { signal: AbortSignal.timeout(10_000) })
    const libp2pOne = async (): Promise<void> => {
      const stream = await echoConn.newStream(ECHO_PROTOCOL, { signal: AbortSignal.timeout(10_000) })
      await new Promise<void>((resolve, reject) => {
        let got = 0
        stream.addEventListener('message', (evt) => {
          got += evt.data.byteLength
          if (got >= BYTES) resolve()
        })
        stream.addEventListener('close', (evt) => { if (got < BYTES) reject(evt.error ?? new Error('echo stream closed early')) })
        stream.send(tile)
      })
      await stream.close()
    }

    // Raw TCP: an echo server process.
    const echo = ctx.scope.spawn('echo-server', NODE, [join(ROOT, 'bench', 'cases', 'echo-server.ts')])
    const port = Number(await lineValue(echo, /^port (\d+)/))
    const sockets: Socket[] = []
    for (let i = 0; i < 4; i++) {
      const s = await connect(port)
      sockets.push(s)
      ctx.scope.defer('close echo socket', () => { s.destroy() })
    }
    const echoOne = async (s: Socket): Promise<void> => {
      await new Promise<void>((resolve, reject) => {
        let got = 0
        const onData = (d: Buffer): void => {
          got += d.byteLength
          if (got >= BYTES) { s.off('data', onData); s.off('error', reject); resolve() }
        }
        s.on('data', onData)
        s.once('error', reject)
        s.write(tile)
      })
    }

    const measure = async (inFlight: number, one: (lane: number) => Promise<void>): Promise<number> => {
      const t0 = performance.now()
      let next = 0
      await Promise.all(Array.from({ length: inFlight }, async (_, lane) => {
        while (next < n) { next++; await one(lane) }
      }))
      return n / ((performance.now() - t0) / 1000)
    }

    // Warm up both paths, then alternate them.
    const raw = async (lane: number): Promise<void> => { await echoOne(sockets[lane]) }
    await measure(1, swarmOne)
    await measure(1, libp2pOne)
    await measure(1, raw)
    const res: Record<string, number[]> = { swarm1: [], libp2p1: [], raw1: [], swarm4: [], libp2p4: [], raw4: [] }
    for (let r = 0; r < runs; r++) {
      ctx.check()
      for (const k of [1, 4]) {
        res[`swarm${k}`].push(await measure(k, swarmOne))
        res[`libp2p${k}`].push(await measure(k, libp2pOne))
        res[`raw${k}`].push(await measure(k, raw))
      }
      ctx.log(`transfer #${r + 1} (tiles/s, 1 / 4 in flight): tile protocol ${fmtNum(res.swarm1[r], 1)} / ${fmtNum(res.swarm4[r], 1)}, libp2p echo ${fmtNum(res.libp2p1[r], 1)} / ${fmtNum(res.libp2p4[r], 1)}, raw TCP ${fmtNum(res.raw1[r], 1)} / ${fmtNum(res.raw4[r], 1)}`)
    }

    // The kernel alone (invert of 1 MiB in a worker thread), to tell compute from transfer.
    const pool = createPool({ size: 1 })
    ctx.scope.defer('close pool', async () => { await pool.close() })
    const img = { width: SIDE, height: SIDE, channels: 1 as const, data: tile }
    const core = { x: 0, y: 0, width: SIDE, height: SIDE }
    for (let i = 0; i < 5; i++) await pool.run(img, pipeline, { phase: 0, stats: [], core }, { transfer: false })
    const k0 = performance.now()
    for (let i = 0; i < 20; i++) await pool.run(img, pipeline, { phase: 0, stats: [], core }, { transfer: false })
    const kernelMs = (performance.now() - k0) / 20
    await pool.close()

    const rows: Row[] = []
    for (const k of [1, 4]) {
      const s = median(res[`swarm${k}`])
      const l = median(res[`libp2p${k}`])
      const t = median(res[`raw${k}`])
      rows.push({
        case: 'transfer',
        measure: `1 MiB tiles there and back, ${k} in flight: tile protocol / raw TCP echo (${fmtNum(s * 2, 0)} vs ${fmtNum(t * 2, 0)} MiB/s)`,
        value: `${fmtNum(s, 1)} tiles/s`,
        baseline: `${fmtNum(t, 1)} tiles/s`,
        ratio: s / t,
        target: '',
        met: null,
        runs: res[`swarm${k}`].length
      })
      rows.push({
        case: 'transfer',
        measure: `  of which libp2p streams alone (noise + yamux echo), ${k} in flight / raw TCP echo (${fmtNum(l * 2, 0)} MiB/s)`,
        value: `${fmtNum(l, 1)} tiles/s`,
        baseline: `${fmtNum(t, 1)} tiles/s`,
        ratio: l / t,
        target: '',
        met: null,
        runs: res[`libp2p${k}`].length
      })
      rows.push({
        case: 'transfer',
        measure: `1 MiB tiles there and back, ${k} in flight: tile protocol / libp2p streams alone`,
        value: `${fmtNum(s, 1)} tiles/s`,
        baseline: `${fmtNum(l, 1)} tiles/s (libp2p)`,
        ratio: s / l,
        target: TILE_VS_STREAMS,
        met: check(s / l, TILE_VS_STREAMS),
        runs: res[`swarm${k}`].length
      })
    }
    // Where a tile's time beyond the bare stream goes (1 / rate is the time per tile): the kernel, measured
    // alone above (one slot, so it is serial at any number in flight), and the protocol's own work.
    const extra = (k: number): string => {
      const perTile = 1000 / median(res[`swarm${k}`]) - 1000 / median(res[`libp2p${k}`])
      return `${k} in flight: ${fmtMs(perTile)} more per tile than the echo, of which the kernel ${fmtMs(kernelMs)} and the rest the tile protocol's own work: its JSON header and schema check, the copy of the pixels into the kernel thread and back, the result's header, the "working" renewals, and the peer's heartbeats beside it`
    }
    const notes = [
      `${n} tiles per run; MiB/s counts both directions (1 MiB out + 1 MiB back per tile). The swarm path: a client libp2p node in the bench process (tcp + noise + yamux, no swarm key) dials the peer process's tile protocol with sendTile (one stream per tile, JSON header + binary frames, "working" renewals); the peer (--slots 1) runs invert in its kernel worker thread (${fmtMs(kernelMs)} per 1 MiB tile measured alone, i.e. up to ${fmtNum(1000 / kernelMs, 0)} tiles/s of pure compute) and sends the result back. Raw: the same bytes through a net.Socket echo server process, persistent sockets.`,
      `libp2p echo: a separate process with the same transport stack as a peer (tcp + noise + yamux, 4 MiB stream window) and only an echo protocol; one new stream per tile on one connection, as the tile protocol does.`,
      ...Object.entries(res).map(([k, v]) => `${k.replace(/\d$/, '')}, ${k.slice(-1)} in flight: ${spread(v, x => `${fmtNum(x, 1)} tiles/s`)}.`),
      `What limits the tile protocol against the bare stream (medians): ${extra(1)}; ${extra(4)}.`
    ]
    return { rows, notes }
  }
}

async function lineValue (p: Proc, re: RegExp): Promise<string> {
  return await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`${p.name} did not start: ${p.stderrTail.join(' | ')}`)) }, 15_000)
    p.onLine((l) => { const m = re.exec(l); if (m != null) { clearTimeout(timer); resolve(m[1]) } })
  })
}

async function connect (port: number): Promise<Socket> {
  return await new Promise<Socket>((resolve, reject) => {
    const s = createConnection({ host: '127.0.0.1', port })
    s.setNoDelay(true)
    s.once('connect', () => { resolve(s) })
    s.once('error', reject)
  })
}
