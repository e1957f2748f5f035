import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { estimate } from '../src/engine/estimate.js';
import { groupTransfers, planUploads, splitWithin } from '../src/engine/plan.js';
import { openStore, push } from '../src/index.js';
import { bytes, runCli, tempDir, writeTree } from './helpers.js';

describe('upload planning', () => {
  it('uses one request up to the threshold, batches of small files above it, large files alone', () => {
    const small = Array.from({ length: 600 }, () => ({ size: 1000 }));
    expect(planUploads(small, 1 << 20, true)).toMatchObject({ mode: 'single', requests: 1 });
    expect(planUploads([], 1 << 20, true)).toMatchObject({ mode: 'none', requests: 0 });
    const mixed = [...small, { size: 5 << 20 }, { size: 3 << 20 }];
    expect(planUploads(mixed, 0, true)).toMatchObject({
      mode: 'multi',
      batches: 3,
      singleFiles: 2,
      requests: 5,
    });
    expect(planUploads(mixed, 0, false)).toMatchObject({
      mode: 'multi',
      batches: 0,
      requests: 602,
    });
    // Batches are bounded in bytes too, and never go over the bound (9 × 900 KiB ≤ 8 MiB).
    const mid = Array.from({ length: 20 }, () => ({ size: 900 * 1024 }));
    expect(groupTransfers(mid, true).map((u) => u.length)).toEqual([9, 9, 2]);
    // A smaller bound (a pull's) makes smaller batches: 4 × 900 KiB ≤ 4 MiB.
    expect(groupTransfers(mid, true, 4 << 20).map((u) => u.length)).toEqual([4, 4, 4, 4, 4]);
    // Large files and batches alternate by bytes sent, each list in its own order.
    const big = (n: number) => ({ size: (2 << 20) + n });
    const units = groupTransfers(
      [big(1), big(2), big(3), big(4), ...Array.from({ length: 36 }, () => ({ size: 900 * 1024 }))],
      true,
    );
    expect(
      units.map((u) => (u.length === 1 ? `L${(u[0]?.size ?? 0) - (2 << 20)}` : `B${u.length}`)),
    ).toEqual(['L1', 'B9', 'L2', 'B9', 'L3', 'B9', 'L4', 'B9']);
    expect(groupTransfers([{ size: 0 }, { size: 0 }, big(0)], true)).toEqual([
      [big(0)],
      [{ size: 0 }, { size: 0 }],
    ]);
    expect(splitWithin([{ size: 5 }, { size: 20 }, { size: 1 }], 10, 10)).toEqual([
      [{ size: 5 }],
      [{ size: 20 }],
      [{ size: 1 }],
    ]);
  });
});

describe('snapup bench (estimate)', () => {
  it('reports the hashing throughput over the walk that the hashing overlaps', async () => {
    const src = tempDir();
    const files: Record<string, Buffer> = {};
    for (let i = 0; i < 3000; i++) files[`d${i % 30}/f${i}`] = bytes(i + 1, 2000);
    writeTree(src, files);
    const stages: Record<string, number> = {};
    const e = await estimate({
      dir: src,
      cacheDir: false,
      onEvent: (ev) => {
        if (ev.type === 'stage' && ev.state === 'end') stages[ev.stage] = ev.ms ?? 0;
      },
    });
    expect(e.hashing.files).toBe(3000);
    // Hashing ran on the workers during the walk: its time includes the walk's, which is
    // most of what an estimate of a tree of new files does (not only what was left after it).
    expect(stages.scan).toBeGreaterThan(1);
    expect(e.hashing.ms).toBeGreaterThanOrEqual(
      Math.floor((stages.scan ?? 0) + (stages.hash ?? 0)),
    );
    expect(e.hashing.mbPerSec).toBeCloseTo(6 / (e.hashing.ms / 1000), 0);
  });

  it('counts unique content, duplicates, stored content and what a push would send', async () => {
    const src = tempDir();
    const shared = bytes(1, 4000);
    writeTree(src, {
      'a.bin': shared,
      'copy/a.bin': shared,
      'b.bin': bytes(2, 3000),
      'c.bin': bytes(3, 2000),
    });
    const store = await openStore(join(tempDir(), 'store'));
    const fresh = await estimate({ dir: src, target: store, cacheDir: false, singleMax: 0 });
    expect(fresh).toMatchObject({
      files: 4,
      bytes: 13000,
      uniqueFiles: 3,
      uniqueBytes: 9000,
      treeDuplicateFiles: 1,
      treeDuplicateBytes: 4000,
      storedFiles: 0,
      storedBytes: 0,
      wouldSendFiles: 3,
      wouldSendBytes: 9000,
      savedBytes: 4000,
      plan: { mode: 'multi', batches: 1, requests: 1 },
    });
    expect(fresh.hashing.files).toBe(4);
    expect(fresh.notes).toContainEqual(
      expect.stringContaining('stores new content while its workers hash it'),
    );

    // Push part of it; the estimate then counts that content as stored.
    const part = tempDir();
    writeTree(part, { 'x.bin': shared });
    await push({ dir: part, target: store, name: 'part', cacheDir: false });
    const after = await estimate({ dir: src, target: store, cacheDir: false });
    expect(after).toMatchObject({
      storedFiles: 1,
      storedBytes: 4000,
      wouldSendFiles: 2,
      wouldSendBytes: 5000,
      plan: { mode: 'single' },
    });
    // Nothing was uploaded by estimating.
    expect((await store.list()).map((s) => s.name)).toEqual(['part']);
  });

  it('compares with a snapshot (--against) or a second folder (--compare)', async () => {
    const a = tempDir();
    const b = tempDir();
    writeTree(a, { 'same.txt': 'same', 'only-a.txt': 'aaaa' });
    writeTree(b, { 'same.txt': 'same', 'only-b.txt': 'bbbbbb' });
    const store = await openStore(join(tempDir(), 'store'));
    await push({ dir: b, target: store, name: 'b', cacheDir: false });
    const vsSnapshot = await estimate({
      dir: a,
      against: { source: store, address: { name: 'b', tag: 'default' } },
      cacheDir: false,
    });
    expect(vsSnapshot).toMatchObject({
      sharedFiles: 1,
      sharedBytes: 4,
      wouldSendBytes: 4,
      storedFiles: null,
    });
    const vsFolder = await estimate({ dir: a, compareDir: b, cacheDir: false });
    expect(vsFolder).toMatchObject({ sharedFiles: 1, wouldSendFiles: 1 });
  });

  it('prints a table, or JSON for tools, and writes nothing', async () => {
    const src = tempDir();
    writeTree(src, { 'a.txt': 'a', 'b.txt': 'a', 'c.txt': 'c' });
    const env = { SNAPUP_STORE: join(tempDir(), 'store'), XDG_CACHE_HOME: tempDir() };
    const human = await runCli(['bench', src], { env });
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/duplicates inside the tree\s+1\s+1 B/);
    expect(human.stdout).toMatch(/request plan: one single-request upload/);
    expect(human.stdout).toMatch(/deduplication saves 1 B \(33\.3%\)/);
    expect(human.stdout).toContain(`looked up in: local store ${env.SNAPUP_STORE}`);
    const json = JSON.parse((await runCli(['bench', src, '--json', '--no-cache'], { env })).stdout);
    expect(json).toMatchObject({
      kind: 'bench',
      files: 3,
      uniqueFiles: 2,
      wouldSendBytes: 2,
      target: `local store ${env.SNAPUP_STORE}`,
    });
    expect((await runCli(['ls'], { env })).stdout).toBe('no snapshots\n');
  });
});
