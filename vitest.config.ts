import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Integration tests start real libp2p peers and child processes: give them room on slow CI machines.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two cores: running many multi-peer files at once makes heartbeats late and the timing checks noisy.
    fileParallelism: false,
    reporters: ['default', 'json'],
    outputFile: { json: '.vitest-results.json' }
  }
})
