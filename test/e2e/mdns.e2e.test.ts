// Three real `swarm start` processes, one per network namespace, on a bridge the test makes: real mDNS
// discovery, an election, a cut cable and a kill -9 of the master.
import { afterAll, describe, expect, it } from 'vitest'
import { canMakeNamespaces, cleanupOnExit, NetnsLan, type NetnsPeer, waitUntil } from './netns.ts'

const lan = canMakeNamespaces() ? new NetnsLan(3) : undefined
// Namespaces must not outlive the test, even when vitest is interrupted.
afterAll(cleanupOnExit(lan))

function agreed (peers: NetnsPeer[]): { master: string, epoch: number } | null {
  const views = peers.map(p => p.lastMaster())
  const first = views[0]
  if (first?.master == null) return null
  return views.every(v => v?.master === first.master && v.epoch === first.epoch) ? { master: first.master, epoch: first.epoch } : null
}

const debug = (): string => (lan?.peers ?? []).map(p => `--- peer ${p.index} (${p.running ? 'running' : 'down'})\n${p.output.split('\n').slice(-15).join('\n')}`).join('\n')

describe.skipIf(lan == null)('e2e: real mDNS in network namespaces (needs root)', () => {
  it('3 peers discover each other, elect one master, and re-elect after a cut cable and a kill -9', async () => {
    lan!.setup()
    for (const p of lan!.peers) lan!.start(p)
    const peers = lan!.peers
    const first = await waitUntil('3 peers agree on a master', () => agreed(peers), 15_000, debug)
    // Everyone found everyone by mDNS alone: each peer logged the other two joining.
    for (const p of peers) {
      expect(new Set(p.events.filter(e => e.event === 'peer-joined').map(e => e.peerId)).size).toBe(2)
    }
    const master1 = peers.find(p => p.peerId() === first.master)!

    // Unplug the master: no socket closes, so only the heartbeat timeout can notice.
    lan!.cut(master1)
    const rest1 = peers.filter(p => p !== master1)
    const cutAt = Date.now()
    const second = await waitUntil('a new master after the cable is cut', () => {
      const a = agreed(rest1)
      return a != null && a.epoch > first.epoch && a.master !== first.master ? a : null
    }, 8000, debug)
    console.log(`cut cable: new master agreed ${Date.now() - cutAt} ms after the master's link went down`)

    // Plug it back: one master again, the higher epoch.
    lan!.plug(master1)
    const healed = await waitUntil('one master after the cable is back', () => {
      const a = agreed(peers)
      return a != null && a.epoch >= second.epoch ? a : null
    }, 10_000, debug)
    expect(healed.master).toBe(second.master)

    // kill -9 the master process.
    const master2 = peers.find(p => p.peerId() === healed.master)!
    lan!.kill9(master2)
    const killedAt = Date.now()
    const rest2 = peers.filter(p => p !== master2)
    const third = await waitUntil('the other two agree on a new master after kill -9', () => {
      const a = agreed(rest2)
      return a != null && a.epoch > healed.epoch ? a : null
    }, 8000, debug)
    console.log(`kill -9: new master agreed ${Date.now() - killedAt} ms after the kill`)
    expect(third.master).not.toBe(healed.master)
    expect(rest2.map(p => p.peerId())).toContain(third.master)
  })
})
