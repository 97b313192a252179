// The committed wasm (src/ops/wasm/gen) must be what src/ops/wasm/as compiles to: a kernel edited
// without `npm run build:wasm` would otherwise ship its old bytes.
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { buildAll } from '../../scripts/build-wasm.ts'

describe('generated wasm', () => {
  it('matches a fresh build of the AssemblyScript sources', async () => {
    const files = await buildAll()
    expect(files.size).toBeGreaterThan(1)
    for (const [path, text] of files) expect(readFileSync(path, 'utf8'), `${path} is stale: run npm run build:wasm`).toBe(text)
  })
})
