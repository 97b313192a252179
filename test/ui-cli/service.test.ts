// The systemd unit `swarm service` writes: it runs this node and bin/swarm.js with the data dir and key
// file, as the user, restarts on failure, logs to the journal; words systemd would split or expand are
// quoted and escaped. `systemd-analyze verify` checks it where systemd is installed.
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { systemdUnit, unitWord } from '../../src/ui-cli/systemd-unit.ts'

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'swarm.js')
const dir = mkdtempSync(join(tmpdir(), 'swarm-service-'))
afterAll(() => { rmSync(dir, { recursive: true, force: true }) })

describe('swarm service', () => {
  it('a unit runs the peer with its data dir and key, restarts it on failure, and logs to the journal', () => {
    const unit = systemdUnit({ node: '/usr/bin/node', bin: '/opt/swarm/bin/swarm.js', dataDir: '/home/pi/.local/share/swarm', keyFile: '/home/pi/swarm.key', user: 'pi', args: ['--slots', '2'] })
    expect(unit).toContain('ExecStart=/usr/bin/node /opt/swarm/bin/swarm.js start --data-dir /home/pi/.local/share/swarm --key /home/pi/swarm.key --slots 2\n')
    expect(unit).toMatch(/^User=pi$/m)
    expect(unit).toMatch(/^Restart=on-failure$/m)
    expect(unit).toMatch(/^StandardOutput=journal$/m)
    expect(unit).toMatch(/^After=network-online.target$/m)
    expect(unit).toMatch(/^WantedBy=multi-user.target$/m)
  })

  it('quotes what systemd would split, and escapes its specifiers', () => {
    expect(unitWord('/home/pi/my swarm')).toBe('"/home/pi/my swarm"')
    expect(unitWord('100%')).toBe('100%%')
    expect(unitWord('a"b')).toBe('"a\\"b"')
    expect(unitWord('--max-memory=1G')).toBe('--max-memory=1G')
  })

  it('`swarm service install --unit-path` writes the unit with this node; key text instead of a file is refused', () => {
    const key = join(dir, 'swarm.key')
    writeFileSync(key, 'not checked here\n')
    const path = join(dir, 'swarm.service')
    const out = execFileSync(process.execPath, [BIN, 'service', 'install', '--unit-path', path, '--user', 'pi', '--data-dir', join(dir, 'data'), '--key', key, '--start-args', '--slots 1'], { encoding: 'utf8' })
    expect(out).toMatch(/systemctl enable --now swarm/)
    const unit = readFileSync(path, 'utf8')
    expect(unit).toContain(`--data-dir ${join(dir, 'data')} --key ${key} --slots 1`)
    expect(unit).toMatch(/ExecStart=\S*node\S* \S+bin\/swarm.js start/)
    const bad = spawnSync(process.execPath, [BIN, 'service', 'unit', '--key', 'bm90LWEtZmlsZQ=='], { encoding: 'utf8' })
    expect(bad.status).toBe(1)
    expect(bad.stderr).toMatch(/--key must be a key file for a service/)
  })
})
