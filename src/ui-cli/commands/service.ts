// `swarm service unit|install`: run this device's peer at boot under systemd (a Raspberry Pi, a lab PC).
import type { Command } from 'commander'
import { keyOption } from '../shared-options.ts'
import type { ServiceOpts } from '../actions/service.ts'

export function registerServiceCommand (program: Command): void {
  const service = program.command('service').description('run this device\'s peer at boot, under systemd')
  const common = (c: Command): Command => c
    .option('--data-dir <dir>', 'the peer\'s data dir (default: the one `swarm start` would use for that user)')
    .addOption(keyOption())
    .option('--user <name>', 'the OS user the peer runs as (default: $SUDO_USER, else the current user)')
    .option('--start-args <args>', 'more `swarm start` arguments, e.g. "--slots 2 --max-memory 1G"')
  common(service.command('unit').description('print the systemd unit (to review it, or install it by hand)'))
    .action(async (opts: ServiceOpts) => { const { serviceUnit } = await import('../actions/service.ts'); serviceUnit(opts) })
  common(service.command('install').description('write /etc/systemd/system/swarm.service (as root), then: systemctl daemon-reload && systemctl enable --now swarm'))
    .option('--unit-path <path>', 'where to write it', '/etc/systemd/system/swarm.service')
    .action(async (opts: ServiceOpts) => { const { serviceInstall } = await import('../actions/service.ts'); await serviceInstall(opts) })
}
