// Pi-friendly defaults: who may be master by default, and how a hot or loaded device backs off (a table of
// cases for the pure decision; the sensor read from a fake sysfs dir, as a Pi lays it out).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { backoff, COOL_C, HOT_C, masterEligibility, SMALL_DEVICE_BYTES, yieldsToLoad } from '../../src/node/device-profile.ts'
import { PeerPressure, readTemperatureC } from '../../src/node/peer-pressure.ts'

const GiB = 1024 ** 3
const dirs: string[] = []
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }) })

/** A sysfs thermal dir with these zones (°C), written as the kernel does: millidegrees. */
function fakeThermal (...temps: Array<number | string>): string {
  const root = mkdtempSync(join(tmpdir(), 'swarm-thermal-'))
  dirs.push(root)
  temps.forEach((t, i) => {
    mkdirSync(join(root, `thermal_zone${i}`))
    writeFileSync(join(root, `thermal_zone${i}`, 'temp'), typeof t === 'number' ? `${Math.round(t * 1000)}\n` : t)
  })
  mkdirSync(join(root, 'cooling_device0'))
  return root
}

describe('master eligibility', () => {
  it.each([
    [undefined, 'x64', 16 * GiB, true, 'default'],
    [undefined, 'arm64', 8 * GiB, false, 'arm64 device'],
    [undefined, 'arm', 8 * GiB, false, 'arm device'],
    [undefined, 'x64', SMALL_DEVICE_BYTES - 1, false, 'under 2 GiB'],
    [undefined, 'x64', SMALL_DEVICE_BYTES, true, 'default'],
    [true, 'arm64', 1 * GiB, true, '--master'],
    [false, 'x64', 64 * GiB, false, '--no-master']
  ] as const)('asked %s on %s with %d bytes: eligible %s (%s)', (asked, arch, totalMem, eligible, why) => {
    const e = masterEligibility(asked, { arch, totalMem })
    expect(e.eligible).toBe(eligible)
    expect(e.why).toContain(why)
  })
})

describe('yielding to other load', () => {
  it('is on for arm and small devices, off on a PC, as asked when asked', () => {
    expect(yieldsToLoad(undefined, { arch: 'arm64', totalMem: 8 * GiB })).toBe(true)
    expect(yieldsToLoad(undefined, { arch: 'x64', totalMem: 1 * GiB })).toBe(true)
    expect(yieldsToLoad(undefined, { arch: 'x64', totalMem: 16 * GiB })).toBe(false)
    expect(yieldsToLoad(true, { arch: 'x64', totalMem: 16 * GiB })).toBe(true)
    expect(yieldsToLoad(false, { arch: 'arm64', totalMem: 1 * GiB })).toBe(false)
  })

  it('a peer that does not yield keeps its slots under load, and still backs off when hot', () => {
    expect(backoff({ load1: 9, cores: 4, busy: 0, yieldToLoad: false }, 4, false).freeSlots).toBe(4)
    expect(backoff({ tempC: 90, load1: 9, cores: 4, busy: 0, yieldToLoad: false }, 4, false).freeSlots).toBe(0)
  })

  it('its own tiles of the last minute count as its own load: the load average lags', () => {
    let now = 0
    let load = 5
    const p = new PeerPressure({ cores: 4, thermalDir: join(tmpdir(), 'no-such-thermal-dir-swarm'), load: () => load, now: () => now })
    expect(p.offer(0, 4).freeSlots).toBe(0)
    // Its 4 tiles just ended; the load average still holds them: only the 1 of other work is another's.
    now = 30_000
    expect(p.offer(4, 0).freeSlots).toBe(3)
    // A minute on, the same load is someone else's: it gives way.
    now = 95_000
    load = 6
    expect(p.offer(4, 0)).toMatchObject({ freeSlots: 0, reason: expect.stringMatching(/busy with other work/) })
  })
})

describe('back-off', () => {
  it.each([
    // tempC, load1, cores, busy, free asked, was hot -> free offered, hot, reason
    [undefined, 0.2, 4, 0, 4, false, 4, false, undefined],
    [60, 3.9, 4, 4, 0, false, 0, false, undefined],
    [HOT_C, 1, 4, 0, 4, false, 0, true, /hot: 80 °C/],
    [COOL_C + 1, 1, 4, 0, 4, true, 0, true, /hot: 76 °C/],
    [COOL_C + 1, 1, 4, 0, 4, false, 4, false, undefined],
    [COOL_C, 1, 4, 0, 4, true, 4, false, undefined],
    // others load 4 of 4 cores: nothing left for more tiles
    [undefined, 6, 4, 2, 2, false, 0, false, /busy with other work: load 6.0 on 4 cores/],
    // others load 2.5: 1 core left of the 2 free slots asked
    [undefined, 4.5, 4, 2, 2, false, 1, false, /busy with other work/],
    // its own tiles are the load: no back-off
    [undefined, 4.5, 4, 4, 0, false, 0, false, undefined]
  ] as const)('%s °C, load %s on %s cores, %s busy, %s free (hot before: %s) -> %s free', (tempC, load1, cores, busy, free, wasHot, want, hot, reason) => {
    const b = backoff({ tempC, load1, cores, busy }, free, wasHot)
    expect(b.freeSlots).toBe(want)
    expect(b.hot).toBe(hot)
    if (reason == null) expect(b.reason).toBeUndefined()
    else expect(b.reason).toMatch(reason)
  })
})

describe('the sensors', () => {
  it('reads the hottest zone, skips unreadable ones, and has none where there is no thermal dir', () => {
    expect(readTemperatureC(fakeThermal(48.3, 61.05, 'garbage'))).toBeCloseTo(61.05, 2)
    expect(readTemperatureC(join(tmpdir(), 'no-such-thermal-dir-swarm'))).toBeUndefined()
    expect(readTemperatureC(fakeThermal())).toBeUndefined()
  })

  it('a peer heating up past 80 °C offers no slots, and offers them again once it cools below 75 °C', () => {
    const root = fakeThermal(50)
    const zone = join(root, 'thermal_zone0', 'temp')
    const p = new PeerPressure({ cores: 4, thermalDir: root, load: () => 0.5 })
    expect(p.offer(4, 0)).toEqual({ freeSlots: 4 })
    expect(p.tempC).toBe(50)
    writeFileSync(zone, '82000\n')
    expect(p.offer(4, 0)).toMatchObject({ freeSlots: 0, reason: expect.stringMatching(/hot: 82 °C/) })
    writeFileSync(zone, '77000\n')
    expect(p.offer(4, 0).freeSlots, 'still above 75 °C: still held back').toBe(0)
    writeFileSync(zone, '74000\n')
    expect(p.offer(4, 0)).toEqual({ freeSlots: 4 })
  })
})
