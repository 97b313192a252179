// The dashboard's default address, which `swarm start --help` prints: here, importing nothing, so that help
// loads no web server. server.ts re-exports them.

export const DEFAULT_DASHBOARD_HOST = '127.0.0.1'
export const DEFAULT_DASHBOARD_PORT = 7070
