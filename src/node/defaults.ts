// The peer's timing defaults that `swarm start --help` prints: here, importing nothing, so that help loads
// no libp2p. peer-options.ts re-exports them.

export const DEFAULT_HEARTBEAT_MS = 500
export const DEFAULT_DEAD_AFTER_MS = 2000
