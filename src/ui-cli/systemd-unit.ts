// The systemd unit that runs a peer at boot (`swarm service install`, or printed by `swarm service unit`):
// started once the network is up, restarted when it fails, logging to the journal. Pure: the paths come in.

export interface UnitOptions {
  /** The node binary to run (the one running now: Node 22 from the install). */
  node: string
  /** bin/swarm.js, absolute. */
  bin: string
  dataDir: string
  /** The swarm key file, if the swarm has one. */
  keyFile?: string
  /** The OS user the peer runs as (not root: it needs none of root's rights). */
  user: string
  /** More `swarm start` arguments, as given. */
  args: string[]
}

export const UNIT_NAME = 'swarm.service'
export const UNIT_PATH = `/etc/systemd/system/${UNIT_NAME}`
/** Between a failure and the restart: a peer that fails at once (a bad key file) does not spin. */
export const RESTART_SEC = 5

/** One ExecStart word: quoted when it must be, with systemd's own escapes (`%` is a specifier there). */
export function unitWord (s: string): string {
  const escaped = s.replace(/%/g, '%%')
  return /^[\w@%+=:,./-]+$/.test(escaped) ? escaped : `"${escaped.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`
}

export function systemdUnit (o: UnitOptions): string {
  const start = [o.node, o.bin, 'start', '--data-dir', o.dataDir, ...(o.keyFile != null ? ['--key', o.keyFile] : []), ...o.args]
  return `[Unit]
Description=swarm peer (peer-to-peer image processing)
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
User=${o.user}
ExecStart=${start.map(unitWord).join(' ')}
Restart=on-failure
RestartSec=${RESTART_SEC}
# SIGTERM: the peer hands its work over and leaves the swarm, then exits.
KillSignal=SIGTERM
TimeoutStopSec=30
StandardOutput=journal
StandardError=journal
# Below interactive work on the device: the swarm uses what is idle.
Nice=5

[Install]
WantedBy=multi-user.target
`
}
