import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Tests spawn CLI processes and worker pools; two cores are shared between files.
    maxWorkers: 2,
  },
});
