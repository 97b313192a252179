// The live log of `swarm start`: readable lines for people, or JSON lines (--log-json) for scripts
// and for the end-to-end tests, which read the same events.
import pino, { type Logger } from 'pino'
import pretty from 'pino-pretty'

/** Colours on a terminal only, and never with NO_COLOR set (https://no-color.org: any value but ""). */
export function useColour (stream: { isTTY?: boolean } = process.stdout, env: NodeJS.ProcessEnv = process.env): boolean {
  return stream.isTTY === true && (env.NO_COLOR ?? '') === ''
}

export function createLogger (json: boolean, level = process.env.SWARM_LOG_LEVEL ?? 'info'): Logger {
  if (json) return pino({ level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime })
  // Synchronous, in-process pretty printing: no worker thread, and lines appear at once.
  const stream = pretty({ sync: true, colorize: useColour(), colorizeObjects: useColour(), translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname', hideObject: true })
  return pino({ level, base: undefined }, stream)
}
