// The master's defaults that `swarm start --help` prints: here, importing nothing, so that help loads no
// scheduler. master-planner.ts re-exports them.

/**
 * The share of tiles a second peer computes again to check the first (`swarm start --verify`): one in
 * twenty costs 5% more work and catches a peer that lies on a tenth of its tiles within a few jobs.
 */
export const DEFAULT_VERIFY = 0.05
