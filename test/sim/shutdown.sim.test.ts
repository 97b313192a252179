// Every peer stopped at once (Ctrl-C in every terminal, a classroom switched off): a peer whose neighbours
// said goodbye first must not be elected master in the middle of its own shutdown. It was: one logged
// "now MASTER at epoch 3", then "cannot act as master: Iterator is not open" (its store was closing).
import { afterEach, describe, expect, it } from 'vitest'
import type { SimSwarm } from './harness.ts'
import { startSwarm } from './jobs.ts'

let sim: SimSwarm | undefined
afterEach(async () => { await sim?.close(); sim = undefined })

describe('sim: the whole swarm stopped at once', () => {
  it('no peer takes the master role while it is stopping, and none fails to act as master', async () => {
    for (let round = 0; round < 3; round++) {
      const { s } = await startSwarm(3, { heartbeatMs: 100, deadAfterMs: 600 })
      sim = s
      let stopping = false
      const late: string[] = []
      for (const p of s.running()) {
        p.peer!.on('master', (e) => { if (stopping && e.self) late.push(`round ${round}: peer ${p.index} became master at epoch ${e.epoch} while stopping`) })
        p.node!.master.on('log', (l) => { if (/cannot act as master|Iterator is not open|role change failed/.test(l.msg)) late.push(`round ${round}: peer ${p.index}: ${l.msg}`) })
      }
      // The master first by a hair, as when its terminal gets the Ctrl-C first.
      const order = [...s.running()].sort((a, b) => Number(b.peer!.isMaster) - Number(a.peer!.isMaster))
      stopping = true
      await Promise.all(order.map(async p => { await p.node!.stop() }))
      for (const p of s.peers) { p.peer = null; p.node = null }
      expect(late).toEqual([])
      await s.close()
      sim = undefined
    }
  })
})
