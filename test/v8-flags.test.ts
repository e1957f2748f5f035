import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ROOT, tempDir, writeTree } from './helpers.js';

/**
 * Runs a fresh Node that sets `--semi-space-growth-factor=1` (through the CLI's helper or
 * directly), starts one worker of the pool, then keeps many objects alive, and reports the
 * size of its young generation in MiB.
 */
function youngGenerationAfterWorker(throughHelper: boolean): number {
  const dir = tempDir();
  writeTree(dir, { 'a.txt': 'a' });
  const dist = (p: string) => pathToFileURL(join(ROOT, 'dist', 'src', 'util', p)).href;
  const script = `
    import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
    import { setProcessV8Flags } from '${dist('v8-flags.js')}';
    import { runInPool } from '${dist('worker-pool.js')}';
    if (${throughHelper}) setProcessV8Flags('--semi-space-growth-factor=1');
    else setFlagsFromString('--semi-space-growth-factor=1');
    await runInPool('hash', { paths: [${JSON.stringify(join(dir, 'a.txt'))}] });
    const keep = [];
    for (let i = 0; i < 3e6; i++) { const o = { a: i, b: String(i) }; if (i % 20 === 0) keep.push(o); }
    const young = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
    console.log(young.space_size / 2 ** 20);
  `;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
  });
  expect(run.stderr).toBe('');
  return Number(run.stdout.trim());
}

describe('process V8 flags', () => {
  it('stay set after a worker thread starts', () => {
    // Set directly, V8 raises the factor back to 2 as it configures the worker's isolate,
    // and the young generation grows to its 32 MiB anyway.
    expect(youngGenerationAfterWorker(false)).toBeGreaterThanOrEqual(16);
    expect(youngGenerationAfterWorker(true)).toBeLessThanOrEqual(4);
  });
});
