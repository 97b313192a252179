// Moments on the command line (`swarm history --since 2d`, `--until 2024-05-01`): a date, a date and time,
// or a time ago. Parsed when the options are read, resolved against the clock when the command runs, so
// the parsing is pure and a test gives its own "now".
import { InvalidArgumentError } from 'commander'

/** A moment as given: an absolute time (ms since the epoch) or a span before now (ms). */
export type Moment = { at: number } | { ago: number }

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }
const SPAN = /^(\d+(?:\.\d+)?)([smhdw])$/
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/
// A date and a time, with seconds and a zone optional (without a zone it is local time, as Date.parse reads it).
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})?$/

/** The sentence refusing `value` for `flag`, with what it takes. */
function refusal (flag: string, value: string): string {
  return `${flag} must be a date (2024-05-01, 2024-05-01T14:30, local time unless a zone such as Z follows) or a time ago (30m, 12h, 2d, 1w), got "${value}"`
}

/** A real calendar day: Date would roll 2024-02-31 over into March. */
function isDay (y: number, m: number, d: number): boolean {
  return m >= 1 && m <= 12 && d >= 1 && d <= new Date(y, m, 0).getDate()
}

export function parseMoment (flag: string, value: string): Moment {
  const text = value.trim()
  const span = SPAN.exec(text)
  if (span != null) return { ago: Math.round(Number(span[1]) * UNITS[span[2]!]!) }
  const day = DATE.exec(text)
  // A date alone is its start, local time: `--since 2024-05-01 --until 2024-05-02` is that one day.
  if (day != null && isDay(Number(day[1]), Number(day[2]), Number(day[3]))) return { at: new Date(Number(day[1]), Number(day[2]) - 1, Number(day[3])).getTime() }
  const dt = DATE_TIME.exec(text)
  if (dt != null && isDay(Number(dt[1]), Number(dt[2]), Number(dt[3])) && Number(dt[4]) < 24 && Number(dt[5]) < 60 && Number(dt[6] ?? 0) < 60) {
    const at = Date.parse(text.replace(' ', 'T'))
    if (Number.isFinite(at)) return { at }
  }
  throw new InvalidArgumentError(refusal(flag, value))
}

/** A commander parser for a moment option. */
export function momentOption (flag: string) {
  return (value: string): Moment => parseMoment(flag, value)
}

/** The moment as a time, `now` being the command's. */
export function resolveMoment (m: Moment, now: number): number {
  return 'at' in m ? m.at : now - m.ago
}
