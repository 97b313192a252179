// Emboss: identity + strength * a diagonal derivative; strength 1 is the classic [-2 -1 0; -1 1 1; 0 1 2].
// The wasm kernel lives with the gaussian family's (src/ops/wasm/as/gaussian.ts). Rounding is half up in
// f32: trunc(f32(f32(c + 0.5) + f32(f32(strength) * d))), then clamped to 0..255; the scalar reference is
// test/ops/reference/gaussian.ts (embossRef).
import { defineOp, sameChannels } from '../op.ts'
import { number } from '../params.ts'
import { alloc, scope, wasmModule } from '../wasm/engine.ts'
import { allocImage } from '../wasm/resident.ts'

interface EmbossWasm {
  emboss: (src: number, dst: number, width: number, height: number, ch: number, strength: number,
    pads: number, stride: number, tmp: number) => void
}
const wasm = (): EmbossWasm => wasmModule<EmbossWasm>('gaussian')

export const emboss = defineOp({
  name: 'emboss',
  description: 'Relief effect lit from the top left, per colour channel',
  params: {
    strength: number({ min: 0, max: 10, default: 1, description: 'depth of the relief (0 = unchanged)' })
  },
  halo: () => 1,
  channels: sameChannels,
  kernel: (img, p) => {
    const { width, height, channels: ch } = img
    const out = allocImage(width, height, ch)
    scope(() => {
      const stride = Math.ceil((width * ch + 2 * ch + 32) / 16) * 16
      const pads = alloc(3 * stride)
      wasm().emboss(img.ptr, out.ptr, width, height, ch, p.strength, pads, stride, alloc(16))
    })
    return out
  }
})
