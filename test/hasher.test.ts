/** The hash queue: jobs hashed as they are added, results in the order they were added. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HashQueue } from '../src/hash/hasher.js';
import { bytes, sha1, tempDir } from './helpers.js';

function files(n: number, size: (i: number) => number) {
  const dir = tempDir();
  return Array.from({ length: n }, (_, i) => {
    const abs = join(dir, `f${i}`);
    const content = bytes(i + 1, size(i));
    writeFileSync(abs, content);
    return { abs, size: content.length, sha1: sha1(content) };
  });
}

describe('HashQueue', () => {
  it('hashes a few small files inline and many on the workers, in the order added', async () => {
    for (const set of [files(5, () => 100), files(900, (i) => (i % 97 === 0 ? 9 << 20 : 3000))]) {
      const progress: number[] = [];
      const queue = new HashQueue({ onProgress: (n) => progress.push(n) });
      for (const f of set) queue.add(f);
      const results = await queue.finish();
      expect(results.map((r) => ('sha1' in r ? r.sha1 : r.error))).toEqual(set.map((f) => f.sha1));
      expect(progress.at(-1)).toBe(set.length);
    }
  });

  it('reports a file that vanished as a per-file failure, not a failed batch', async () => {
    const set = files(500, () => 100);
    const queue = new HashQueue();
    for (const f of set) queue.add(f);
    queue.add({ abs: join(tempDir(), 'gone'), size: 10 });
    const results = await queue.finish();
    expect(results.at(-1)).toMatchObject({ code: 'ENOENT' });
    expect(results.filter((r) => 'sha1' in r)).toHaveLength(500);
  });

  it('stops on abort with ABORTED', async () => {
    const set = files(600, () => 20_000);
    const controller = new AbortController();
    const queue = new HashQueue({ signal: controller.signal });
    for (const f of set) queue.add(f);
    controller.abort(new Error('stop'));
    await expect(queue.finish()).rejects.toMatchObject({ code: 'ABORTED' });
    expect(() => queue.add(set[0] as (typeof set)[number])).toThrow();
  });
});
