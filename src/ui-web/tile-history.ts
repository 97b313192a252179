// Which peer did which tile of the jobs this master finished: the queue forgets a job's tiles when it
// ends (src/scheduler/records.ts), the dashboard's tile map still wants to show them. Kept in memory for
// the newest jobs only; a new master starts without it (its map then shows the tiles as done, by whom
// unknown), which is said in the README.
import type { MasterEvents, MasterRuntime } from '../scheduler/master.ts'

/** Jobs remembered: the ones a person looks at are the latest. */
export const HISTORY_JOBS = 64
/** Tiles remembered per job: past this a job's map is not drawn anyway (MAX_CELLS). */
export const HISTORY_TILES = 16_384

type TileDone = MasterEvents['tileDone'][0]

type Emitter = Pick<MasterRuntime, 'on' | 'off'>

export class TileHistory {
  readonly #jobs = new Map<string, Map<number, string>>()
  readonly #onDone = (d: TileDone): void => { this.record(d.jobId, d.index, d.peer) }

  follow (master: Emitter): void { master.on('tileDone', this.#onDone) }
  unfollow (master: Emitter): void { master.off('tileDone', this.#onDone) }

  record (jobId: string, index: number, peer: string): void {
    let tiles = this.#jobs.get(jobId)
    if (tiles == null) {
      if (this.#jobs.size >= HISTORY_JOBS) this.#jobs.delete(this.#jobs.keys().next().value!)
      tiles = new Map()
      this.#jobs.set(jobId, tiles)
    }
    if (tiles.size < HISTORY_TILES || tiles.has(index)) tiles.set(index, peer)
  }

  of (jobId: string): ReadonlyMap<number, string> | undefined { return this.#jobs.get(jobId) }
}
