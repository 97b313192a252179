// The handover protocol between real libp2p nodes on 127.0.0.1: the giver's input reaches the taker
// whole, "known" jobs are answered as known, a refusal reaches the giver with its code, a peer that is not
// master says so, and stop unregisters the handler.
import { afterEach, describe, expect, it } from 'vitest'
import { RemoteError } from '../../src/transfer/errors.ts'
import { handOver, HandoverService, type HandoverHandler, type HandoverRequest } from '../../src/transfer/handover-protocol.ts'
import { JobRefusal } from '../../src/transfer/job-protocol.ts'
import { ErrorCodes } from '../../src/transfer/messages.ts'
import { bytes, Nodes } from './helpers.ts'

const nodes = new Nodes()
afterEach(async () => { await nodes.stopAll() })

/** A taker that keeps what it was given, and knows the jobs in `known`. */
function taker (opts: { serving?: boolean, known?: string[], refuse?: JobRefusal } = {}): HandoverHandler & { got: Map<string, { req: HandoverRequest, data: Uint8Array }> } {
  const got = new Map<string, { req: HandoverRequest, data: Uint8Array }>()
  return {
    got,
    serving: () => opts.serving ?? true,
    masterId: () => 'the-real-master',
    take: async (req, input) => {
      if (opts.known?.includes(req.jobId) === true) return 'known'
      const chunks: Uint8Array[] = []
      await input.read((c) => { chunks.push(c.slice()) })
      if (opts.refuse != null) throw opts.refuse
      got.set(req.jobId, { req, data: Buffer.concat(chunks) })
      return 'taken'
    }
  }
}

describe('handover protocol', () => {
  it('gives a job with its input (several frames) and says it was taken; a known job is answered as known', async () => {
    const [giver, winner] = [await nodes.start(), await nodes.start()]
    const handler = taker({ known: ['j-known'] })
    const service = new HandoverService({ libp2p: winner }, { handler })
    await service.start()
    const input = bytes(3 * 1024 * 1024 + 17, 5)
    await giver.dial(winner.getMultiaddrs()[0])
    expect(await handOver(giver, winner.peerId, 'j1', { name: 'a.png', tileSize: 64 }, input)).toBe(true)
    const got = handler.got.get('j1')
    expect(got?.req.meta).toEqual({ name: 'a.png', tileSize: 64 })
    expect(Buffer.compare(Buffer.from(got!.data), Buffer.from(input))).toBe(0)
    expect(await handOver(giver, winner.peerId, 'j-known', {}, bytes(1000))).toBe(false)
    await service.stop()
    await expect(handOver(giver, winner.peerId, 'j2', {}, bytes(10))).rejects.toThrow()
  })

  it('a refusal reaches the giver with its code; a peer that is not master names the master', async () => {
    const [giver, busy, follower] = [await nodes.start(), await nodes.start(), await nodes.start()]
    const s1 = new HandoverService({ libp2p: busy }, { handler: taker({ refuse: new JobRefusal(ErrorCodes.busy, 'no standby could store the input of j1') }) })
    const s2 = new HandoverService({ libp2p: follower }, { handler: taker({ serving: false }) })
    await s1.start()
    await s2.start()
    await giver.dial(busy.getMultiaddrs()[0])
    await giver.dial(follower.getMultiaddrs()[0])
    const refused = await handOver(giver, busy.peerId, 'j1', {}, bytes(5000)).catch((err: Error) => err)
    expect(refused).toBeInstanceOf(RemoteError)
    expect(refused).toMatchObject({ code: ErrorCodes.busy, message: expect.stringContaining('no standby') })
    const notMaster = await handOver(giver, follower.peerId, 'j1', {}, bytes(5000)).catch((err: Error) => err)
    expect(notMaster).toMatchObject({ code: ErrorCodes.notMaster, message: expect.stringContaining('the-real-master') })
    await s1.stop()
    await s2.stop()
  })
})
