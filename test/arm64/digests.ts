// Prints {case: sha256 of the output bytes} for every op of the catalogue, on the architecture of the node
// that runs it. test/arm64/arm64.test.ts runs it under x64 node and under arm64 node (qemu-user) and
// expects the same map: peers of both kinds must compute the same bytes for a tile.
//   node test/arm64/digests.ts > digests.json
// Cases: the decoded fixtures themselves, then each op with several parameter sets and two multi-op
// pipelines, run as one whole-image tile and as tiles of 37 pixels. Small images: under qemu, arm64
// node runs about 12-15x slower than natively.
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { decodeImage, listOps, parsePipeline, runTiledInProcess, runWholeInProcess } from '../../src/ops/index.ts'
import type { RawImage } from '../../src/ops/index.ts'

/** Parameter sets per op ('' = the defaults). Every op of the catalogue must have an entry. */
const variants: Record<string, string[]> = {
  grayscale: [''],
  invert: [''],
  adjust: ['', 'brightness=-40,contrast=1.7', 'brightness=60,contrast=0.4'],
  gamma: ['', 'gamma=0.5'],
  sepia: [''],
  threshold: ['', 'level=90', 'method=otsu'],
  normalise: ['', 'lower=10,upper=60'],
  equalise: [''],
  blur: ['sigma=0.5', '', 'sigma=7'],
  sharpen: ['', 'amount=3', 'sigma=2,amount=3'],
  median: ['radius=1', 'radius=2', 'radius=3', 'radius=4', 'radius=5'],
  erode: ['', 'radius=3'],
  dilate: ['', 'radius=2'],
  edge: ['', 'scale=0.5'],
  emboss: ['', 'strength=3'],
  canny: ['', 'sigma=0,low=20,high=60', 'low=10,high=200,reach=3'],
  contours: ['', 'colour=#00ff00,thickness=4']
}

const pipelines: string[][] = [
  ['grayscale', 'blur:sigma=2', 'threshold:method=otsu', 'dilate'],
  ['blur:sigma=1', 'equalise', 'median:radius=2', 'normalise', 'sharpen']
]

const TILE = 37

const missing = listOps().map(op => op.name).filter(name => !(name in variants))
if (missing.length > 0) throw new Error(`digests.ts has no cases for ${missing.join(', ')}: add them to its variants`)

const spec = (name: string, params: string): string => params ? `${name}:${params}` : name
const allVariants = Object.entries(variants).flatMap(([name, list]) => list.map(p => [spec(name, p)]))
const defaults = Object.keys(variants).map(name => [name])

const fixture = (file: string): Promise<RawImage> =>
  decodeImage(readFileSync(new URL(`../fixtures/arm64/${file}`, import.meta.url)), { name: file })

// Every variant on every channel count (1..4); the defaults on the JPEG, whose decoder has SIMD code of
// its own (a difference there would show in its "decoded" case first).
const rgb = await fixture('rgb.png')
const rgba = await fixture('rgba.png')
const grey = await fixture('grey16.png')
const jpeg = await fixture('photo.jpg')
const inputs: Array<[string, RawImage, string[][]]> = [
  ['rgb.png', rgb, [...allVariants, ...pipelines]],
  ['rgba.png', rgba, [...allVariants, ...pipelines]],
  ['grey16.png', grey, [...allVariants, ...pipelines]],
  ['grey+alpha', greyAlpha(rgba), allVariants],
  ['photo.jpg', jpeg, [...defaults, pipelines[1]]]
]

const sha = (img: RawImage): string =>
  createHash('sha256').update(`${img.width}x${img.height}x${img.channels}:`).update(img.data).digest('hex')

const started = process.cpuUsage()
const digests: Record<string, string> = {}
for (const [label, img, list] of inputs) {
  digests[`${label}/decoded`] = sha(img)
  for (const specs of list) {
    const p = parsePipeline(specs)
    const name = `${label}/${specs.join(' ')}`
    digests[`${name}/whole`] = sha(runWholeInProcess(img, p))
    digests[`${name}/tiles${TILE}`] = sha(runTiledInProcess(img, p, TILE))
  }
}
const cpu = process.cpuUsage(started)
process.stdout.write(JSON.stringify(digests, null, 1) + '\n')
process.stderr.write(`${process.arch}: ${Object.keys(digests).length} cases in ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s CPU\n`)

/** Grey + alpha from RGBA (BT.601 luma, alpha kept), in code: no decoder involved. */
function greyAlpha (src: RawImage): RawImage {
  const n = src.width * src.height
  const data = new Uint8Array(n * 2)
  for (let i = 0; i < n; i++) {
    const s = src.data.subarray(i * 4, i * 4 + 4)
    data[i * 2] = (77 * s[0] + 150 * s[1] + 29 * s[2] + 128) >> 8
    data[i * 2 + 1] = s[3]
  }
  return { width: src.width, height: src.height, channels: 2, data }
}
