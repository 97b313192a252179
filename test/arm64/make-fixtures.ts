// Writes the encoded inputs of the arm64 digest test into test/fixtures/arm64/. Run once, on x64, and
// commit the files: the test decodes these exact bytes on both architectures, so the encoder's own
// platform differences never enter it.
//   node test/arm64/make-fixtures.ts
import { mkdirSync, writeFileSync } from 'node:fs'
import sharp from 'sharp'
import type { Sharp } from 'sharp'
import { photoLike, rng } from '../ops/helpers.ts'

const dir = new URL('../fixtures/arm64/', import.meta.url)
mkdirSync(dir, { recursive: true })

async function write (name: string, s: Sharp): Promise<void> {
  const { data } = await s.toUint8Array()
  writeFileSync(new URL(name, dir), data)
  console.log(`${name}: ${data.length} bytes`)
}

const raw = (img: { width: number; height: number; channels: 1 | 2 | 3 | 4; data: Uint8Array }) =>
  sharp(img.data, { raw: { width: img.width, height: img.height, channels: img.channels } })

await write('rgb.png', raw(photoLike(160, 120, 3, 31)).png())
await write('rgba.png', raw(photoLike(64, 48, 4, 32)).png())
await write('photo.jpg', raw(photoLike(160, 120, 3, 33)).jpeg({ quality: 85, chromaSubsampling: '4:2:0' }))

// 16-bit grey: the low byte is noise, so the reduction to 8 bits must actually drop something.
const grey = photoLike(96, 64, 1, 34)
const rand = rng(35)
const deep = new Uint16Array(grey.data.length)
for (let i = 0; i < deep.length; i++) deep[i] = grey.data[i] * 256 + Math.floor(rand() * 256)
await write('grey16.png', sharp(deep, { raw: { width: grey.width, height: grey.height, channels: 1 } }).toColourspace('grey16').png())
