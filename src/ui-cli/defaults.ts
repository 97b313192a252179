// The composition root's defaults that `swarm start --help` prints: here, importing nothing, so that help
// loads no peer. swarm-node.ts re-exports them.

export const DEFAULT_MASTER_WORK_LIMIT = 4

/**
 * How long a finished job's files are kept after their last use: a week, long enough to fetch a result after
 * a weekend away, short enough that a busy swarm's disk turns over. `swarm start --retain` changes it.
 */
export const DEFAULT_RETAIN_MS = 7 * 86_400_000
