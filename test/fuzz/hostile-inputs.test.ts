// The hostile-input corpus (corpus.ts, generated into a temp dir) against the checks a master runs on a
// submitted image (probeImage, checkImage, decodeToFile, as the submit path uses them) and the whole decode:
// each file is refused with one line naming it, quickly, leaving no file; then random mutations of a small
// valid PNG and JPEG either decode to consistent pixels or are refused, never crash or hang the process.
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ImageInputError } from '../../src/ops/errors.ts'
import { checkImage, decodeImage, probeImage } from '../../src/ops/image-io.ts'
import { decodeToFile } from '../../src/ops/decoded-file.ts'
import { fixCrcs, smallImage, writeHostileCorpus, type HostileFile } from './corpus.ts'
import { applyByteMutation, byteMutation } from './mutate.ts'
import { filesUnder, openFds, settledFds } from './leaks.ts'
import { fuzz, fuzzTimeout } from './runs.ts'

let dir: string
let corpus: HostileFile[]
let fdsBefore: number | undefined
beforeAll(async () => {
  fdsBefore = openFds()
  dir = await mkdtemp(join(tmpdir(), 'swarm-fuzz-corpus-'))
  await mkdir(join(dir, 'corpus'))
  await mkdir(join(dir, 'decoded'))
  corpus = await writeHostileCorpus(join(dir, 'corpus'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
  // libvips and the decoders closed every file they opened.
  const fds = await settledFds(fdsBefore, 4)
  if (fdsBefore != null) expect(fds).toBeLessThanOrEqual(fdsBefore + 4)
})

/** The refusal of `p`, within `ms` (a hang fails the test rather than stalling it). */
async function refusal (p: Promise<unknown>, ms = 15_000): Promise<Error> {
  let timer: NodeJS.Timeout | undefined
  const r = await Promise.race([
    p.then(() => 'accepted' as const, (e: Error) => e),
    new Promise<'hung'>(resolve => { timer = setTimeout(() => { resolve('hung') }, ms) })
  ])
  clearTimeout(timer)
  if (!(r instanceof Error)) throw new Error(`expected a refusal, the call ${r}`)
  return r
}

function expectRefusal (e: Error, f: HostileFile, what: string): void {
  expect(e, `${what} ${f.name}: ${e.stack ?? e.message}`).toBeInstanceOf(ImageInputError)
  expect(e.message.startsWith(`${f.path}: `), `${what} ${f.name}: ${e.message}`).toBe(true)
  expect(e.message).not.toMatch(/\n/)
  expect(e.message.length).toBeLessThan(600)
  expect(e.message.slice(f.path.length + 2), `${what} ${f.name}`).toMatch(f.problem)
}

describe('hostile input corpus', () => {
  it('every file is refused by the submit checks with one line naming it, in bounded time, leaving no file', async () => {
    expect(corpus.length).toBeGreaterThanOrEqual(12)
    for (const f of corpus) {
      const t0 = Date.now()
      const probe = await probeImage(f.path).then(() => undefined, (e: Error) => e)
      // A header may pass the cheap probe (a bomb under the pixel limit); the full check must then refuse it.
      if (probe != null) expectRefusal(probe, f, 'probeImage')
      expectRefusal(await refusal(checkImage(f.path)), f, 'checkImage')
      expectRefusal(await refusal(decodeToFile(f.path, join(dir, 'decoded', `${f.name}.v`))), f, 'decodeToFile')
      if (f.decodeWhole) expectRefusal(await refusal(decodeImage(f.path)), f, 'decodeImage')
      expect(Date.now() - t0, `${f.name} took long to refuse`).toBeLessThan(15_000)
    }
    // Nothing was left by the refused decodes (no .part, no .v).
    expect(await filesUnder(join(dir, 'decoded'))).toEqual([])
    expect((await filesUnder(join(dir, 'corpus'))).length).toBe(corpus.length)
  }, fuzzTimeout(120_000))

  it('mutated PNGs and JPEGs (CRCs fixed or not) decode to consistent pixels or are refused with one line', async () => {
    const bases = await Promise.all([smallImage('png'), smallImage('png', 9, 7, 4), smallImage('jpeg')])
    const maxPixels = 1_000_000 // what a mutated header may claim is bounded, as a peer's limit bounds it
    await fc.assert(fc.asyncProperty(
      fc.nat({ max: bases.length - 1 }),
      fc.array(byteMutation, { minLength: 1, maxLength: 4 }),
      fc.boolean(),
      async (which, mutations, fix) => {
        let bytes = mutations.reduce(applyByteMutation, bases[which])
        if (fix && which < 2) bytes = fixCrcs(bytes)
        const name = `mutant-${which}`
        for (const [what, run] of [['decodeImage', decodeImage], ['checkImage', checkImage]] as const) {
          let timer: NodeJS.Timeout | undefined
          const r = await Promise.race([
            run(bytes, { name, maxPixels }).then(v => v, (e: Error) => e),
            new Promise<'hung'>(resolve => { timer = setTimeout(() => { resolve('hung') }, 10_000) })
          ])
          clearTimeout(timer)
          expect(r, what).not.toBe('hung')
          if (r instanceof Error) {
            expect(r, `${what}: ${r.stack ?? r.message}`).toBeInstanceOf(ImageInputError)
            expect(r.message.startsWith(`${name}: `)).toBe(true)
            expect(r.message).not.toMatch(/\n/)
          } else if (what === 'decodeImage') {
            const img = r as Awaited<ReturnType<typeof decodeImage>>
            expect(img.width * img.height).toBeLessThanOrEqual(maxPixels)
            expect(img.data.byteLength).toBe(img.width * img.height * img.channels)
          }
        }
      }
    ), fuzz(150))
  }, fuzzTimeout())
})
