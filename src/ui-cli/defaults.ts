// The composition root's defaults that `swarm start --help` prints: here, importing nothing, so that help
// loads no peer. swarm-node.ts re-exports them.

export const DEFAULT_MASTER_WORK_LIMIT = 4
