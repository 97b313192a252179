// Copies of a job's files on other peers. The master puts the input on standbys before it says
// "accepted", and each tile result and the output before the queue records them, so the next master
// finds them; it gets what it lacks from the standbys first, then from any live peer.
import { peerIdFromString } from '@libp2p/peer-id'
import type { SwarmPeer } from '../node/peer.ts'
import { candidateBeats } from '../node/election.ts'
import { dropBlobs, getBlobInto, hasBlob, putBlob } from '../transfer/blob.ts'
import type { JobFiles } from './job-files.ts'

/**
 * How many times a new standby's copy lists the job's files again for ones stored meanwhile. Each round
 * copies only what was stored during the one before (a few tiles), so rounds shrink fast; the bound stops
 * a job that keeps storing faster than the copy runs from holding the standby's setup open forever.
 */
const STANDBY_COPY_ROUNDS = 4

/** A file of a job that no reachable peer has (yet). */
export class MissingFileError extends Error {
  override name = 'MissingFileError'
}

export class JobCopies {
  private readonly peer: SwarmPeer
  private readonly files: JobFiles
  private readonly epoch: () => number
  private readonly warn: (msg: string) => void

  constructor (peer: SwarmPeer, files: JobFiles, epoch: () => number, warn: (msg: string) => void) {
    this.peer = peer
    this.files = files
    this.epoch = epoch
    this.warn = warn
  }

  /** The other live peers. */
  live (): string[] {
    return this.peer.liveView().map(h => h.peerId)
  }

  /**
   * Puts the input of a new job on up to `want` peers, most likely successor first: eligible peers in
   * the election's order (most complete replica, then PeerId), then the others. Returns those that took it.
   */
  async placeInput (jobId: string, want: number): Promise<string[]> {
    const data = await this.files.openBlob(jobId, 'input')
    const peers = this.peer.liveView()
    peers.sort((a, b) => a.eligible !== b.eligible ? (a.eligible ? -1 : 1) : candidateBeats(a, b) ? -1 : 1)
    const got: string[] = []
    for (const h of peers) {
      if (got.length >= want) break
      try {
        await putBlob(this.peer.libp2p, peerIdFromString(h.peerId), jobId, 'input', data, this.epoch())
        got.push(h.peerId)
      } catch (err) {
        this.warn(`standby ${h.peerId.slice(-8)} did not take the input of ${jobId}: ${(err as Error).message}`)
      }
    }
    return got
  }

  /**
   * Makes up to `want` more peers a job's standbys, none of `exclude`: each gets every file this peer holds
   * for the job (its input, the results and statistics stored here, its output), in the order placeInput
   * ranks them. Returns the peers that took all of them. Used when a job's standbys died or became its
   * master, so what was accepted stays on two live peers. `only`: just these files (a stitched output,
   * whose tiles are about to go).
   */
  async addStandbys (jobId: string, want: number, exclude: string[], only?: string[]): Promise<string[]> {
    const names = only ?? await this.files.names(jobId)
    if (names.length === 0 || want <= 0) return []
    const skip = new Set(exclude)
    const peers = this.peer.liveView().filter(h => !skip.has(h.peerId))
    peers.sort((a, b) => a.eligible !== b.eligible ? (a.eligible ? -1 : 1) : candidateBeats(a, b) ? -1 : 1)
    const got: string[] = []
    for (const h of peers) {
      if (got.length >= want) break
      try {
        // Results stored here while the copy runs go to the standbys known then, not yet to this one: the
        // names are listed again and what is new is copied too, so no tile is left on this peer alone.
        const sent = new Set<string>()
        let fresh = names
        for (let round = 0; round < STANDBY_COPY_ROUNDS && fresh.length > 0; round++) {
          for (const name of fresh) {
            // A file dropped meanwhile (the job finished and its tiles went) is not needed any more.
            const data = await this.files.openBlob(jobId, name).catch(() => undefined)
            if (data != null) await putBlob(this.peer.libp2p, peerIdFromString(h.peerId), jobId, name, data, this.epoch())
            sent.add(name)
          }
          fresh = only != null ? [] : (await this.files.names(jobId)).filter(n => !sent.has(n))
        }
        got.push(h.peerId)
      } catch (err) {
        this.warn(`${h.peerId.slice(-8)} did not take the files of ${jobId} as a new standby: ${(err as Error).message}`)
      }
    }
    return got
  }

  /**
   * Of `peers`, the live ones that hold the file once this returns: each is asked (no bytes move) and
   * given a copy when it has none. A peer that fails either is left out (logged).
   */
  async ensureOn (jobId: string, peers: string[], name: string): Promise<string[]> {
    const live = new Set(this.live())
    const held: string[] = []
    for (const p of peers.filter(p => live.has(p))) {
      try {
        if (!await hasBlob(this.peer.libp2p, peerIdFromString(p), jobId, name)) {
          await putBlob(this.peer.libp2p, peerIdFromString(p), jobId, name, await this.files.openBlob(jobId, name), this.epoch())
        }
        held.push(p)
      } catch (err) {
        this.warn(`cannot check ${jobId}/${name} on ${p.slice(-8)}: ${(err as Error).message}`)
      }
    }
    return held
  }

  /**
   * Copies one file to the job's live standbys. A standby that fails is skipped (logged): the job goes
   * on with fewer copies rather than stalling.
   */
  async toStandbys (jobId: string, standbys: string[], name: string): Promise<number> {
    return (await this.toPeers(jobId, standbys, name)).length
  }

  /**
   * Copies one file to those of `peers` that are live; resolves the ones that took it. `epoch`: the
   * master's epoch the copy is made for (a worker copying a result gives its lease's), so a peer that
   * follows a newer master refuses it.
   */
  async toPeers (jobId: string, peers: string[], name: string, epoch = this.epoch()): Promise<string[]> {
    const live = new Set(this.live())
    const targets = peers.filter(p => live.has(p))
    if (targets.length === 0) return []
    const data = await this.files.openBlob(jobId, name)
    const results = await Promise.allSettled(targets.map(async p => { await putBlob(this.peer.libp2p, peerIdFromString(p), jobId, name, data, epoch); return p }))
    for (const r of results) if (r.status === 'rejected') this.warn(`cannot copy ${jobId}/${name} to a standby: ${(r.reason as Error).message}`)
    return results.flatMap(r => r.status === 'fulfilled' ? [r.value] : [])
  }

  /**
   * Makes sure the file is here, fetching it from the standbys, then from any live peer. With `sha256`,
   * a copy that does not match it is not kept, and the next peer is tried.
   */
  async ensureLocal (jobId: string, standbys: string[], name: string, sha256?: string): Promise<void> {
    if (await this.files.has(jobId, name)) return
    const live = this.live()
    const order = [...standbys.filter(p => live.includes(p)), ...live.filter(p => !standbys.includes(p))]
    let why = `no live peer has ${name} of job ${jobId}`
    for (const p of order) {
      try {
        // To a temporary file as it comes, hashed on the way: an input or an output may be gigabytes.
        const got = await getBlobInto(this.peer.libp2p, peerIdFromString(p), jobId, name, async (fill) => await this.files.receive(jobId, name, fill))
        if (sha256 != null && got.sha256 !== sha256) {
          await got.discard()
          why = `${p.slice(-8)} sent a copy of ${name} of job ${jobId} whose SHA-256 is ${got.sha256.slice(0, 12)}…, not ${sha256.slice(0, 12)}…`
          continue
        }
        await got.commit()
        return
      } catch { /* the next peer may have it */ }
    }
    throw new MissingFileError(why)
  }

  /** The output is stored: every peer may drop its copies of the input and tiles. */
  dropEverywhere (jobId: string): void {
    for (const p of this.live()) void dropBlobs(this.peer.libp2p, peerIdFromString(p), jobId, this.epoch()).catch(() => {})
  }
}
