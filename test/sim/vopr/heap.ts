// The simulator's agenda: events ordered by (time, insertion number), so simultaneous events run in the
// order they were scheduled and a run never depends on sort stability.
export interface Scheduled { at: number, n: number, run: () => void }

export class Agenda {
  private readonly items: Scheduled[] = []
  private count = 0

  get size (): number { return this.items.length }

  push (at: number, run: () => void): void {
    const it = { at, n: this.count++, run }
    const h = this.items
    h.push(it)
    let i = h.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!less(it, h[p] as Scheduled)) break
      h[i] = h[p] as Scheduled
      i = p
    }
    h[i] = it
  }

  pop (): Scheduled | undefined {
    const h = this.items
    const top = h[0]
    const last = h.pop()
    if (top === undefined || last === undefined || h.length === 0) return top
    let i = 0
    for (;;) {
      const l = 2 * i + 1
      if (l >= h.length) break
      const r = l + 1
      const c = r < h.length && less(h[r] as Scheduled, h[l] as Scheduled) ? r : l
      if (!less(h[c] as Scheduled, last)) break
      h[i] = h[c] as Scheduled
      i = c
    }
    h[i] = last
    return top
  }

  peekAt (): number | undefined { return this.items[0]?.at }
}

function less (a: Scheduled, b: Scheduled): boolean {
  return a.at !== b.at ? a.at < b.at : a.n < b.n
}
