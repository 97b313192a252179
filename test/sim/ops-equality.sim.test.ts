// Every op, mixed pipelines, input formats and output formats through one 3-peer swarm: the swarm's
// tiled, distributed output must equal the whole-image local reference (`swarm run`'s code path) byte
// for byte (lossy output formats: the right format, size and close pixels).
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import sharp from 'sharp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { describeOps, outputFormatFor, parsePipeline, phaseCount, type RawImage } from '../../src/ops/index.ts'
import { SimSwarm } from './harness.ts'
import { decodeOutput, makeImage, reference, submit, type Submitted } from './jobs.ts'
import {
  catalogueCases, imageDifference, makeFormatFiles, meanAbsDiff, sniffFormat, worstBlockMeanAbsDiff, type FormatFile
} from './ops-equality-helpers.ts'

let dir: string
let sim: SimSwarm
let formats: FormatFile[]
const images: Record<string, string> = {}
const bigReferences = new Map<string, RawImage>()

const SMALL = { w: 97, h: 61 }
const MID = { w: 131, h: 89 }
const BIG = { w: 1001, h: 997 }

const PIPELINES: string[][] = [
  ['grayscale', 'blur:sigma=2', 'threshold:method=otsu', 'dilate'],
  ['normalise', 'sharpen', 'equalise'],
  ['sepia', 'median:radius=2', 'contours'],
  ['adjust:brightness=20,contrast=1.3', 'gamma:gamma=0.8', 'normalise:lower=2,upper=98', 'emboss', 'erode:radius=2', 'invert'],
  // A halo of 34 px: more than two 16 px tiles on every side.
  ['equalise', 'blur:sigma=4', 'median:radius=3', 'canny:reach=12']
]
/** 16 = the minimum; 128 < 131 leaves a 3-pixel-wide last column; 200 is larger than the image. */
const MID_TILES = [16, 40, 128, 200]
/**
 * The big cases (kept to two for time): 64 tiles x 2 phases, and 16 tiles x 3 phases. The noisy 1001x997 PNG
 * is about 2.4 MB, more than FrameStream's 2 MiB high-water mark, so the upload can pause the master's reader
 * mid-frame: before the frames.ts fix (BUG 2 in test/transfer/frames.bugs.test.ts) about 1 upload in 30 of
 * this file stalled for 30 s and the job failed with a stream reset.
 */
const BIG_CASES = [{ specs: PIPELINES[0], tileSize: 128 }, { specs: PIPELINES[1], tileSize: 300 }]

const key = (specs: string[], tileSize: number): string => `${specs.join(' ')}@${tileSize}`
const tilesFor = (w: number, h: number, ts: number): number => Math.ceil(w / ts) * Math.ceil(h / ts)

let via = 0
/** Submits through a different peer each time (the client asks that peer for the master, then goes there). */
async function run (path: string, specs: string[], tileSize: number, format: 'png' | 'jpeg' | 'webp' = 'png'): Promise<Submitted> {
  const out = await submit(sim, path, specs, { tileSize, format, via: via++ % sim.peers.length })
  expect(out.failure, 'the job failed').toBeUndefined()
  expect(out.data, 'the job returned no output').toBeDefined()
  return out
}

function accepted (out: Submitted): { tiles: number, phases: number, width: number, height: number } {
  const e = out.events.find(ev => ev.type === 'accepted')
  if (e == null || e.type !== 'accepted') throw new Error('no accepted event')
  return e
}

/** The job's output equals reference() of the same file byte for byte; returns the decoded output. */
async function expectEqualsReference (out: Submitted, path: string, specs: string[], want?: RawImage): Promise<RawImage> {
  const got = await decodeOutput(out.data!)
  const ref = want ?? await reference(path, parsePipeline(specs))
  expect(imageDifference(got, ref), `${specs.join(' ')} on ${path.split('/').pop()}`).toBeNull()
  return got
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'swarm-ops-eq-'))
  images.small = await makeImage(dir, 'small.png', SMALL.w, SMALL.h, 5)
  images.mid = await makeImage(dir, 'mid.png', MID.w, MID.h, 6)
  images.one = await makeImage(dir, 'one.png', 1, 1, 7)
  images.strip = await makeImage(dir, 'strip.png', 1, 50, 8)
  images.big = await makeImage(dir, 'big.png', BIG.w, BIG.h, 9)
  formats = await makeFormatFiles(dir, SMALL.w, SMALL.h)
  // The big references block the event loop for a few hundred ms each: compute them before the peers
  // start, so their heartbeats are not delayed into a false death and a re-election.
  for (const c of BIG_CASES) bigReferences.set(key(c.specs, c.tileSize), await reference(images.big, parsePipeline(c.specs)))
  sim = new SimSwarm({ heartbeatMs: 200, deadAfterMs: 800 })
  await sim.init()
  await sim.add(3)
  await sim.waitFor('an agreed master', () => sim.agreedMaster(), 5000)
})

afterAll(async () => {
  await sim?.close()
  if (dir != null) await rm(dir, { recursive: true, force: true })
})

describe('sim: every catalogue op through 3 peers equals the local reference byte for byte', () => {
  const cases = catalogueCases()

  it('the comparison used here catches one wrong byte and a wrong size (negative control)', () => {
    const a: RawImage = { width: 3, height: 2, channels: 3, data: new Uint8Array(18).fill(7) }
    const b: RawImage = { ...a, data: Uint8Array.from(a.data) }
    expect(imageDifference(a, b)).toBeNull()
    b.data[17] ^= 1
    expect(imageDifference(a, b)).toMatch(/^1 of 18 bytes differ; first at pixel \(2, 1\) channel 2/)
    expect(imageDifference(a, { ...a, width: 2, height: 3 })).toMatch(/^got 3x2x3, want 2x3x3/)
  })

  it('covers every op in describeOps() and every non-default enum value (e.g. threshold:method=otsu)', () => {
    const names = new Set(cases.map(c => c.specs[0].split(':')[0]))
    expect([...names].sort()).toEqual(describeOps().map(o => o.name).sort())
    expect(cases.map(c => c.specs[0])).toContain('threshold:method=otsu')
  })

  for (const c of cases) {
    it(`${c.label}: ${SMALL.w}x${SMALL.h} in 32 px tiles (${tilesFor(SMALL.w, SMALL.h, 32)} tiles, 1-px last column)`, async () => {
      const out = await run(images.small, c.specs, 32)
      const a = accepted(out)
      expect(a.tiles).toBe(tilesFor(SMALL.w, SMALL.h, 32))
      expect(a.phases).toBe(phaseCount(parsePipeline(c.specs)))
      expect(out.result?.format).toBe('png')
      expect(sniffFormat(out.data!)).toBe('png')
      await expectEqualsReference(out, images.small, c.specs)
    })
    it(`${c.label}: a 1x1 image`, async () => {
      const out = await run(images.one, c.specs, 16)
      expect(accepted(out).tiles).toBe(1)
      const got = await expectEqualsReference(out, images.one, c.specs)
      expect([got.width, got.height]).toEqual([1, 1])
    })
  }
})

describe('sim: mixed pipelines (global-statistics ops in the middle) equal the reference at any tile size', () => {
  for (const specs of PIPELINES) {
    for (const ts of MID_TILES) {
      it(`${specs.join(' ')}: ${MID.w}x${MID.h} in ${ts} px tiles (${tilesFor(MID.w, MID.h, ts)} tiles)`, async () => {
        const out = await run(images.mid, specs, ts)
        const a = accepted(out)
        expect(a.tiles).toBe(tilesFor(MID.w, MID.h, ts))
        expect(a.phases).toBe(phaseCount(parsePipeline(specs)))
        await expectEqualsReference(out, images.mid, specs)
      })
    }
  }

  for (const specs of PIPELINES) {
    it(`${specs.join(' ')}: a 1x1 image (one tile)`, async () => {
      const out = await run(images.one, specs, 16)
      expect(accepted(out).tiles).toBe(1)
      const got = await expectEqualsReference(out, images.one, specs)
      expect([got.width, got.height]).toEqual([1, 1])
    })
    it(`${specs.join(' ')}: a 1x50 strip in 16 px tiles (4 one-pixel-wide tiles)`, async () => {
      const out = await run(images.strip, specs, 16)
      expect(accepted(out).tiles).toBe(4)
      await expectEqualsReference(out, images.strip, specs)
    })
  }

  for (const c of BIG_CASES) {
    const n = tilesFor(BIG.w, BIG.h, c.tileSize)
    it(`${c.specs.join(' ')}: ${BIG.w}x${BIG.h} in ${c.tileSize} px tiles (${n} tiles, ${phaseCount(parsePipeline(c.specs))} phases, a >2 MiB upload), every peer worked`, async () => {
      expect((await stat(images.big)).size, 'the big input no longer exceeds the 2 MiB high-water mark').toBeGreaterThan(2 * 1024 * 1024)
      const out = await run(images.big, c.specs, c.tileSize)
      const a = accepted(out)
      expect(a.tiles).toBe(n)
      expect(a.phases).toBe(phaseCount(parsePipeline(c.specs)))
      await expectEqualsReference(out, images.big, c.specs, bigReferences.get(key(c.specs, c.tileSize)))
      const workers = new Set(out.events.flatMap(e => e.type === 'progress' ? e.peers : []))
      expect(workers.size).toBe(3)
    })
  }
})

describe('sim: input formats decode in the swarm exactly as `swarm run` decodes them', () => {
  const specs = ['blur:sigma=1.5', 'normalise', 'sharpen']
  // The fixtures are made in beforeAll; the labels are fixed here so each format is its own test.
  const labels = ['JPEG', 'WebP (lossy)', 'WebP with alpha (lossless)', '16-bit PNG', 'PNG with alpha (RGBA)', 'grey + alpha PNG', 'TIFF',
    'JPEG with EXIF orientation 6', 'JPEG with EXIF orientation 3', 'JPEG with EXIF orientation 5']

  it('the fixtures cover the formats listed here', () => {
    expect(formats.map(f => f.label)).toEqual(labels)
  })

  for (const label of labels) {
    it(`${label}: output equals reference() of the same file (${specs.join(' ')}, 32 px tiles)`, async () => {
      const f = formats.find(x => x.label === label)!
      const meta = await sharp(f.path).metadata()
      expect(meta.format).toBe(f.expect.format)
      if (f.expect.depth != null) expect(meta.depth).toBe(f.expect.depth)
      if (f.expect.hasAlpha != null) expect(meta.hasAlpha).toBe(f.expect.hasAlpha)
      if (f.expect.orientation != null) expect(meta.orientation).toBe(f.expect.orientation)
      const out = await run(f.path, specs, 32)
      expect(accepted(out).tiles).toBe(tilesFor(f.width, f.height, 32))
      const got = await expectEqualsReference(out, f.path, specs)
      // Orientation applied (5..8 swap width and height), alpha and grey kept.
      expect({ width: got.width, height: got.height, channels: got.channels }).toEqual({ width: f.width, height: f.height, channels: f.expect.channels })
    })
  }
})

describe('sim: the output format follows the output file extension', () => {
  // Smooth output (lossy codecs are close on it) with a global op, so a wrong statistic would show.
  const specs = ['blur:sigma=2', 'normalise']
  for (const file of ['result.jpg', 'result.webp']) {
    it(`${file}: the swarm returns ${outputFormatFor(file)} of the right size, close to the reference`, async () => {
      const format = outputFormatFor(file)
      const out = await run(images.small, specs, 32, format as 'jpeg' | 'webp')
      expect(out.result?.format).toBe(format)
      expect(sniffFormat(out.data!)).toBe(format)
      const got = await decodeOutput(out.data!)
      expect({ width: got.width, height: got.height, channels: got.channels }).toEqual({ width: SMALL.w, height: SMALL.h, channels: 3 })
      const want = await reference(images.small, parsePipeline(specs))
      // Quality 90 gives ~2.5 levels off on average and ~4.5 in the worst 32 px block; a wrong
      // normalisation is ~25 off, a missing or misplaced tile far more in its block.
      expect(meanAbsDiff(got, want)).toBeLessThan(4)
      expect(worstBlockMeanAbsDiff(got, want, 32)).toBeLessThan(10)
    })
  }
})
