// Randomised fault schedules from fixed seeds. A failure prints its seed and the trace; replay one with
// SWARM_SIM_SEED=<seed> npx vitest run test/sim/random-faults.sim.test.ts
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { SimSwarm } from './harness.ts'
import { pick, prng } from './prng.ts'
import { hogsFromEnv, startHogs, type Hogs } from './cpu-hogs.ts'

const only = process.env.SWARM_SIM_SEED
// 14 by default, for the 20-minute CI budget (20 took 92 s); SWARM_SIM_SCHEDULES=200 for more.
const count = Number(process.env.SWARM_SIM_SCHEDULES ?? 14)
const seeds = only != null ? [Number(only)] : Array.from({ length: count }, (_, i) => 1000 + i)

let sim: SimSwarm | undefined
afterEach(async () => { await sim?.close(); sim = undefined })
// SWARM_SIM_HOGS=2: the same schedules beside busy loops pinned to the cores (an overloaded machine).
let hogs: Hogs | undefined
beforeAll(() => { if (hogsFromEnv() > 0) hogs = startHogs(hogsFromEnv(), 30 * 60_000) })
afterAll(() => { hogs?.stop() })


// Faster timings than the defaults keep 20 schedules inside CI's budget; the ratios stay the same.
const timing = { heartbeatMs: 100, deadAfterMs: 400 }

describe('sim: random fault schedules', () => {
  for (const seed of seeds) {
    it(`seed ${seed}`, async () => {
      const rand = prng(seed)
      const s = sim = new SimSwarm(timing)
      await s.init()
      await s.add(5)
      s.note(`seed ${seed}`)
      try {
        await s.waitFor('first master', () => s.agreedMaster(), 3000)
        const steps = 4 + Math.floor(rand() * 3)
        for (let step = 0; step < steps; step++) {
          const kind = pick(rand, ['kill', 'kill-master', 'restart', 'partition', 'heal', 'wait'] as const)
          const up = s.running()
          const down = s.peers.filter(p => p.peer == null)
          if ((kind === 'kill' || kind === 'kill-master') && up.length > 2) {
            const masters = s.masters()
            const victim = kind === 'kill-master' && masters.length > 0 ? pick(rand, masters) : pick(rand, up)
            await s.kill(victim.index)
          } else if (kind === 'restart' && down.length > 0) {
            await s.restart(pick(rand, down).index)
          } else if (kind === 'partition') {
            const order = s.peers.map(p => p.index).sort(() => rand() - 0.5)
            const cut = 1 + Math.floor(rand() * (order.length - 1))
            await s.partition([order.slice(0, cut), order.slice(cut)])
          } else if (kind === 'heal') {
            s.heal()
          }
          // Let the swarm react for a random while, checking safety all along.
          const pause = 100 + Math.floor(rand() * 800)
          await s.waitFor('pause', () => false, pause).catch((err: Error) => {
            if (!err.message.startsWith('timed out')) throw err
          })
        }
        // After the last fault: heal, bring everyone back, and converge to one master.
        s.heal()
        for (const p of s.peers.filter(p => p.peer == null)) await s.restart(p.index)
        const { ms } = await s.waitFor('convergence to one master', () => s.agreedMaster(), 5000)
        s.note(`converged ${ms} ms after the last fault`)
        expect(s.masters()).toHaveLength(1)
      } catch (err) {
        throw new Error(`seed ${seed} failed (replay: SWARM_SIM_SEED=${seed}): ${(err as Error).message}`)
      }
    })
  }
})
