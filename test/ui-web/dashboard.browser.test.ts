// The dashboard in a real browser (Debian's chromium-headless-shell driven by playwright-core, no browser
// download): three `swarm start` peers on 127.0.0.1. The page is opened on a peer that is NOT master, so
// everything about jobs crosses the HTTP tunnel to the master. It sees the 3 peers and the master,
// submits an image with a 2-op pipeline through the form (after a refused one that queues nothing),
// watches progress reach 100%, downloads the result and checks it equals `swarm run`; /metrics is
// scraped; the master is killed and the page follows the new one; a peer serving its dashboard beyond
// loopback refuses a page without the token. Screenshots of each page: test-artifacts/dashboard/.
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type Browser, type Page } from 'playwright-core'
import { afterAll, describe, expect, it } from 'vitest'
import { decodeImage } from '../../src/ops/index.ts'
import { makeImage } from '../sim/jobs.ts'
import { LocalPeer, waitFor } from './local-peers.ts'

const CHROMIUM = process.env.SWARM_CHROMIUM ?? '/usr/bin/chromium-headless-shell'
const ARTEFACTS = join(import.meta.dirname, '..', '..', 'test-artifacts', 'dashboard')
const BIN = join(import.meta.dirname, '..', '..', 'bin', 'swarm.js')

const peers: LocalPeer[] = []
let browser: Browser | undefined
let root = ''
afterAll(async () => {
  await browser?.close().catch(() => {})
  await Promise.all(peers.map(async p => { await p.stop() }))
  if (root !== '') await rm(root, { recursive: true, force: true, maxRetries: 5 })
})

const debug = (): string => peers.map((p, i) => `peer ${i}: exited=${p.exited} ${p.stderr.slice(-800)} ${JSON.stringify(p.events.slice(-5))}`).join('\n')

async function shot (page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(ARTEFACTS, `${name}.png`), fullPage: true })
}

describe.skipIf(!existsSync(CHROMIUM))(`dashboard in a real browser (${CHROMIUM})`, () => {
  it('shows the swarm, runs a job from the form, follows a failover and keeps strangers out', { timeout: 300_000 }, async () => {
    root = await mkdtemp(join(tmpdir(), 'swarm-dash-'))
    await mkdir(ARTEFACTS, { recursive: true })
    const a = new LocalPeer(join(root, 'a'), ['--name', 'alpha', '--dashboard', '127.0.0.1:0'])
    peers.push(a)
    await waitFor('peer alpha is master', () => a.master() != null && a.master() === a.peerId() && a.url() != null, 30_000, debug)
    const b = new LocalPeer(join(root, 'b'), ['--name', 'bravo', '--dashboard', '127.0.0.1:0', '--peer', a.addr()!])
    peers.push(b)
    await waitFor('peer bravo started', () => b.addr(), 30_000, debug)
    // Served beyond loopback: the token is asked. (Listening on every interface; the test connects on 127.0.0.1 only.)
    const c = new LocalPeer(join(root, 'c'), ['--name', 'charlie', '--dashboard', '0.0.0.0:0', '--peer', a.addr()!, '--peer', b.addr()!])
    peers.push(c)
    await waitFor('3 peers follow alpha', () => peers.every(p => p.master() === a.peerId() && p.url() != null), 30_000, debug)
    const bravo = b.url()!
    const charlie = `http://127.0.0.1:${new URL(c.url()!).port}/`

    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] })
    const page = await browser.newPage({ viewport: { width: 1280, height: 860 }, reducedMotion: 'reduce' })
    const errors: string[] = []
    page.on('pageerror', (e) => { errors.push(e.message) })

    // Peers: the three, and the master, on a follower's page.
    await page.goto(`${bravo}#/peers`)
    await waitFor('3 peer rows', async () => await page.locator('[data-testid=peer-row]').count() === 3, 30_000)
    const ids = await page.locator('[data-testid=peer-row]').evaluateAll(rows => rows.map(r => r.getAttribute('data-peer-id')))
    expect(new Set(ids)).toEqual(new Set([a.peerId(), b.peerId(), c.peerId()]))
    await waitFor('the master shown', async () => await page.locator('[data-testid=master-id]').getAttribute('data-peer-id') === a.peerId(), 20_000)
    expect(await page.locator(`[data-testid=peer-row][data-peer-id="${a.peerId()}"]`).getAttribute('data-role')).toBe('master')
    await shot(page, 'peers')

    // Submit: a refused parameter is shown next to its field and queues nothing.
    const img = await makeImage(root, 'photo.png', 640, 420, 5)
    await page.goto(`${bravo}#/submit`)
    await page.locator('[data-testid=submit-file]').setInputFiles(img)
    await waitFor('the op catalogue', async () => await page.locator('[data-testid=add-op-select] option').count() > 5, 20_000)
    await page.locator('[data-testid=add-op-select]').selectOption('grayscale')
    await page.locator('[data-testid=add-op]').click()
    await page.locator('[data-testid=add-op-select]').selectOption('blur')
    await page.locator('[data-testid=add-op]').click()
    expect(await page.locator('[data-testid=op-card]').count()).toBe(2)
    await page.locator('[data-testid=format]').selectOption('png')
    await page.locator('[data-testid=tile-size]').fill('128')
    const sigma = page.locator('[name="ops.1.sigma"]')
    await sigma.fill('500')
    await page.locator('[data-testid=submit-button]').click()
    await waitFor('the sigma field refused', async () => await page.locator('[data-testid=field-error][data-field="ops.1.sigma"]').count() > 0, 20_000)
    expect(await page.locator('[data-testid=field-error][data-field="ops.1.sigma"]').innerText()).toMatch(/sigma/)
    const listed = await (await fetch(`${bravo}api/jobs`)).json() as { jobs: unknown[] }
    expect(listed.jobs).toHaveLength(0)
    await shot(page, 'submit-refused')

    await sigma.fill('2')
    await page.locator('[data-testid=submit-button]').click()
    const jobId = await waitFor('the job page', () => /#\/jobs\/([\w-]+)/.exec(page.url())?.[1], 30_000)
    await waitFor('job page loaded', async () => await page.locator(`[data-testid=job-page][data-job-id="${jobId}"]`).count() === 1, 20_000)
    // 5 x 4 tiles of 128 px: the live tile map has a cell for each.
    await waitFor('the tile map', async () => await page.locator('[data-testid=tile-map] [data-testid=tile]').count() === 20, 30_000)
    await waitFor('progress at 100%', async () => {
      const p = page.locator('[data-testid=job-progress]')
      const done = await p.getAttribute('data-done')
      return done != null && done === await p.getAttribute('data-total') && (await p.innerText()).includes('100%') && await page.locator('[data-testid=job-state]').innerText() === 'done'
    }, 120_000, debug)
    expect(await page.locator('[data-testid=tile-map] [data-testid=tile][data-state=done]').count()).toBe(20)
    await waitFor('the preview', async () => await page.locator('[data-testid=preview]').evaluate(el => (el as unknown as { naturalWidth: number }).naturalWidth > 0).catch(() => false), 20_000)
    await shot(page, 'job')

    // The download equals `swarm run` of the same image and pipeline.
    const [download] = await Promise.all([page.waitForEvent('download'), page.locator('[data-testid=download]').click()])
    const got = join(root, 'got.png')
    await download.saveAs(got)
    const ref = join(root, 'ref.png')
    execFileSync(process.execPath, [BIN, 'run', img, '--op', 'grayscale', '--op', 'blur:sigma=2', '-o', ref])
    const [x, y] = [await decodeImage(got), await decodeImage(ref)]
    expect([x.width, x.height, x.channels]).toEqual([y.width, y.height, y.channels])
    expect(Buffer.compare(Buffer.from(x.data), Buffer.from(y.data))).toBe(0)

    await page.goto(`${bravo}#/jobs`)
    await waitFor('the job listed as done', async () => await page.locator(`[data-testid=job-row][data-job-id="${jobId}"][data-state=done]`).count() === 1, 20_000)
    await shot(page, 'jobs')
    await page.goto(`${bravo}#/events`)
    await waitFor('events listed', async () => await page.locator('[data-testid=event]').count() > 0, 20_000)
    await shot(page, 'events')

    // Metrics: the master's, through the Prometheus text format.
    const metrics = await (await fetch(`${a.url()!}metrics`)).text()
    expect(metrics).toMatch(/^# TYPE \w+/m)
    expect(metrics).toMatch(/swarm_\w+/)
    expect(metrics).toMatch(/process_cpu_user_seconds_total/)

    // kill -9 the master: the page (on bravo) follows the new one without a reload.
    await page.goto(`${bravo}#/peers`)
    await waitFor('peers page', async () => await page.locator('[data-testid=peer-row]').count() === 3, 20_000)
    a.kill9()
    const next = await waitFor('a new master on the page', async () => {
      const m = await page.locator('[data-testid=master-id]').getAttribute('data-peer-id')
      return m != null && m !== '' && m !== a.peerId() ? m : undefined
    }, 60_000, debug)
    expect([b.peerId(), c.peerId()]).toContain(next)
    await shot(page, 'failover')
    // The job, replicated, is still listed by the new master through the same page.
    await page.goto(`${bravo}#/jobs`)
    await waitFor('the job listed by the new master', async () => await page.locator(`[data-testid=job-row][data-job-id="${jobId}"]`).count() === 1, 30_000)

    // A dashboard served beyond loopback: no page, no API without the token.
    expect((await fetch(`${charlie}api/swarm`)).status).toBe(401)
    const stranger = await browser.newPage({ viewport: { width: 390, height: 844 }, reducedMotion: 'reduce' })
    await stranger.goto(charlie)
    expect(new URL(stranger.url()).pathname).toBe('/login')
    await stranger.locator('[data-testid=login-token]').fill('not-the-token')
    await stranger.locator('[data-testid=login-submit]').click()
    await waitFor('refused', async () => /not this swarm's dashboard token/.test(await stranger.locator('[data-testid=login-error]').innerText()), 10_000)
    expect(new URL(stranger.url()).pathname).toBe('/login')
    await shot(stranger, 'login-refused')
    const token = (await readFile(join(c.dataDir, 'dashboard-token'), 'utf8')).trim()
    await stranger.locator('[data-testid=login-token]').fill(token)
    await stranger.locator('[data-testid=login-submit]').click()
    await waitFor('in, on a phone screen', async () => await stranger.locator('[data-testid=peer-row]').count() >= 2, 30_000)
    await shot(stranger, 'phone-peers')
    expect(errors).toEqual([])
  })
})
