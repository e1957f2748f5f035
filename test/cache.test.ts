/** The hash cache's binary file and its lookups in walk order. */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HashCache } from '../src/hash/cache.js';
import { type CacheColumns, decodeCache, encodeCache } from '../src/hash/cache-file.js';
import type { ScannedFile } from '../src/scan/walk.js';
import { sha1, tempDir } from './helpers.js';

const columns: CacheColumns = {
  root: '/home/zoë/project',
  scanStartMs: 1764579600123.456,
  paths: ['a.txt', 'dir/é.bin', 'dir/sub/z'],
  sizes: [0, 2 ** 40, 7],
  mtimes: [1764579600000.123, 1.5, 1764579699999.998],
  inos: [2 ** 52 + 1, 12, 13],
  modes: [0o100644, 0o100755, 0o100444],
  sha1s: sha1('a') + sha1('b') + sha1('c'),
};

describe('the hash cache file (format 4)', () => {
  it('reads back exactly what was written, also from a buffer that is not 8-byte aligned', () => {
    const bytes = encodeCache(columns);
    const plain = (c: CacheColumns) => ({
      ...c,
      sizes: Array.from(c.sizes),
      mtimes: Array.from(c.mtimes),
      inos: Array.from(c.inos),
      modes: Array.from(c.modes),
    });
    expect(plain(decodeCache(bytes) as CacheColumns)).toEqual(plain(columns));
    const shifted = Buffer.alloc(bytes.length + 3);
    bytes.copy(shifted, 3);
    expect(plain(decodeCache(shifted.subarray(3)) as CacheColumns)).toEqual(plain(columns));
    const empty = { ...columns, paths: [], sizes: [], mtimes: [], inos: [], modes: [], sha1s: '' };
    expect(decodeCache(encodeCache(empty))?.paths).toEqual([]);
  });

  it('refuses a file cut short, damaged anywhere, of another version or not a cache at all', () => {
    const bytes = encodeCache(columns);
    expect(decodeCache(bytes.subarray(0, bytes.length - 1))).toBeUndefined();
    for (const at of [0, 9, 40, bytes.length - 30, bytes.length - 1]) {
      const damaged = Buffer.from(bytes);
      damaged[at] = (damaged[at] ?? 0) ^ 0x10;
      expect(decodeCache(damaged)).toBeUndefined();
    }
    expect(decodeCache(Buffer.from('{"format":"snapup-hash-cache","version":3}'))).toBeUndefined();
    expect(decodeCache(Buffer.alloc(0))).toBeUndefined();
  });
});

describe('HashCache lookups', () => {
  const file = (path: string, i: number): ScannedFile => ({
    path,
    abs: `/r/${path}`,
    size: 100 + i,
    mtimeMs: 1000 + i,
    ino: 50 + i,
    mode: 0o100644,
    sha1: '',
    permissions: undefined,
  });

  it('finds every entry when the walk meets a new file, misses one, or comes in another order', async () => {
    const dir = tempDir();
    const root = '/r';
    const names = Array.from({ length: 20 }, (_, i) => `f${String(i).padStart(2, '0')}`);
    const first = await HashCache.load(dir, root, 10_000);
    for (const [i, n] of names.entries()) {
      expect(first.lookup(file(n, i))).toBeUndefined();
      first.setMiss(i, file(n, i), sha1(n));
    }
    await first.save();

    const second = await HashCache.load(dir, root, 20_000);
    // A new file first, f05 gone, f10 changed, f15 and f16 swapped.
    const walk = ['new', ...names.filter((n) => n !== 'f05')];
    walk.splice(walk.indexOf('f15'), 2, 'f16', 'f15');
    const hits: string[] = [];
    let misses = 0;
    for (const n of walk) {
      const i = names.indexOf(n);
      const f = i < 0 ? file(n, 99) : n === 'f10' ? { ...file(n, i), size: 1 } : file(n, i);
      const found = second.lookup(f);
      if (found !== undefined) {
        expect(found).toBe(sha1(n));
        hits.push(n);
      } else second.setMiss(misses++, f, sha1(`${n}-now`));
    }
    expect(hits).toEqual(walk.filter((n) => n !== 'new' && n !== 'f10'));
    await second.save();
    // Saved in this walk's order, without the file that is gone.
    const saved = decodeCache(readFileSync(HashCache.fileFor(dir, root)));
    expect(saved?.paths).toEqual(walk);
    expect(saved?.sha1s.slice(0, 40)).toBe(sha1('new-now'));
  });

  it('records misses by their number in the walk, and saves none that was never hashed', async () => {
    const dir = tempDir();
    const root = '/r';
    const first = await HashCache.load(dir, root, 10_000);
    const names = ['a', 'b', 'c', 'd'];
    names.forEach((n, i) => {
      expect(first.lookup(file(n, i))).toBeUndefined();
    });
    // Misses 0, 1 and 3 hashed (out of order); 'c' (miss 2) vanished meanwhile.
    first.setMiss(3, file('d', 3), sha1('d'));
    first.setMiss(0, file('a', 0), sha1('a'));
    first.setMiss(1, { ...file('b', 1), size: 7 }, sha1('b'));
    await first.save();
    const saved = decodeCache(readFileSync(HashCache.fileFor(dir, root)));
    expect(saved?.paths).toEqual(['a', 'b', 'd']);
    expect(saved?.sha1s).toBe(sha1('a') + sha1('b') + sha1('d'));
    expect(Array.from(saved?.sizes ?? [])).toEqual([100, 7, 103]);

    const second = await HashCache.load(dir, root, 20_000);
    expect(second.lookup(file('a', 0))).toBe(sha1('a'));
    expect(second.lookup({ ...file('b', 1), size: 7 })).toBe(sha1('b'));
    expect(second.lookup(file('c', 2))).toBeUndefined();
    expect(second.lookup(file('d', 3))).toBe(sha1('d'));
  });

  it('removes the JSON cache of format 3 it replaces', async () => {
    const dir = tempDir();
    const old = HashCache.fileFor(dir, '/r').replace(/\.bin$/, '.json');
    mkdirSync(join(old, '..'), { recursive: true });
    writeFileSync(old, '{"format":"snapup-hash-cache","version":3}');
    const cache = await HashCache.load(dir, '/r', 10_000);
    cache.lookup(file('a', 1));
    cache.setMiss(0, file('a', 1), sha1('a'));
    await cache.save();
    expect(existsSync(old)).toBe(false);
    expect(existsSync(HashCache.fileFor(dir, '/r'))).toBe(true);
  });
});
