// `swarm history`: the jobs the swarm has run, newest first, with what each was and how it went.
import { InvalidArgumentError, type Command } from 'commander'
import type { JobsRequest } from '../../transfer/messages.ts'
import { intInRange, keyOption, peerOption, positiveInt } from '../shared-options.ts'
import { momentOption } from '../time-options.ts'
import type { HistoryOpts } from '../actions/history.ts'

/**
 * The most jobs one history lists: the reply is one frame of at most 1 MiB, and a job's summary with a few
 * workers is under 1 KiB; older ones are reached with --until.
 */
export const HISTORY_MAX_LIMIT = 500
/** The queue's states, here and not imported: messages.ts brings zod, and a mistyped option is told before anything loads. */
const JOB_STATES = ['queued', 'running', 'done', 'failed', 'cancelled'] as const satisfies NonNullable<JobsRequest['states']>
/** A screenful, as `swarm jobs` lists. */
const HISTORY_DEFAULT_LIMIT = 50

function states (value: string): string[] {
  const list = value.split(',').map(s => s.trim()).filter(Boolean)
  const bad = list.find(s => !(JOB_STATES as readonly string[]).includes(s))
  if (list.length === 0 || bad != null) throw new InvalidArgumentError(`--state must be a comma-separated list of ${JOB_STATES.join(', ')}, got "${value}"`)
  return [...new Set(list)]
}

export function registerHistoryCommand (program: Command): void {
  program.command('history')
    .description('list the jobs the swarm has run, newest first: input, outcome, times, pipeline and the peers that worked them')
    .option('--state <states>', `only jobs in these states, comma-separated (${JOB_STATES.join(', ')})`, states)
    .option('--since <when>', 'only jobs submitted at or after this: a date (2024-05-01, 2024-05-01T14:30) or a time ago (12h, 2d)', momentOption('--since'))
    .option('--until <when>', 'only jobs submitted before this (same forms as --since)', momentOption('--until'))
    .option('--limit <n>', `the newest n jobs that match (at most ${HISTORY_MAX_LIMIT})`, intInRange('--limit', 1, HISTORY_MAX_LIMIT), HISTORY_DEFAULT_LIMIT)
    .option('--json', 'print the full records as JSON (times in ms since the epoch)', false)
    .addOption(keyOption())
    .addOption(peerOption())
    .option('--timeout <ms>', 'how long to look for the swarm and its master', positiveInt('--timeout'), 15_000)
    .addHelpText('after', `
Columns: job, image, input (size and pixels), state (a failure with its reason), submitted (local time),
duration (first tile to end), pipeline, format, workers (peers whose results made its tiles).
\`swarm result <job>\` writes a done job's output again; \`swarm resubmit <job>\` runs a job again.

Examples:
  swarm history                               the last ${HISTORY_DEFAULT_LIMIT} jobs
  swarm history --state failed --since 2d     what failed in the last two days
  swarm history --since 2024-05-01 --until 2024-05-02 --json`)
    .action(async (opts: HistoryOpts) => { const { history } = await import('../actions/history.ts'); await history(opts) })
}
