/**
 * Content stored while it is hashed (store/staging.ts): a push to the local store reads
 * each new small file once, and what it stores is exactly what an upload would have.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openStore, pull, push } from '../src/index.js';
import { ClaimTable } from '../src/store/claims.js';
import { hashAndStage, hashAndStageCopies } from '../src/store/stage-files.js';
import { Cancelled } from '../src/util/cancel.js';
import { bytes, manyFiles, readTree, sha1, storedObjects, tempDir, writeTree } from './helpers.js';

describe('staging while hashing (local store)', () => {
  // A few hundred files are hashed (and staged) on the main thread, thousands on the workers.
  for (const [where, count] of [
    ['on the main thread', 1200],
    ['on the workers', 3600],
  ] as const) {
    it(`stores each new content once, counts it as sent and needs no upload request (${where})`, async () => {
      await stagesOnce(count);
    });
  }

  async function stagesOnce(count: number): Promise<void> {
    const src = tempDir();
    // Every third file repeats an earlier content: duplicates fall in different hash
    // batches, which must not store them twice.
    const unique = (count / 3) * 2;
    const files: Record<string, Buffer> = {};
    for (let i = 0; i < count; i++) files[`d${i % 9}/f${i}.bin`] = bytes(1 + (i % unique), 3000);
    writeTree(src, files);
    const root = join(tempDir(), 'store');
    const store = await openStore(root);
    const s = await push({ dir: src, target: store, name: 'st', cacheDir: false });
    expect(s).toMatchObject({
      files: count,
      uploadedFiles: unique,
      stagedFiles: unique,
      uploadedBytes: unique * 3000,
      dedupTreeBytes: (count - unique) * 3000,
      dedupStoredBytes: 0,
      mode: 'multi',
      // newSnapshot and freeze: the content was in the store before it was asked for.
      requests: 2,
    });
    expect(storedObjects(root)).toHaveLength(unique);
    expect(readdirSync(join(root, 'tmp'))).toEqual([]);
    // Every packed object appears once over all packs.
    const gc = await store.gc();
    expect(gc).toMatchObject({ removedObjects: 0, keptObjects: unique });
    const dest = join(tempDir(), 'out');
    await pull({ source: store, address: { name: 'st', tag: 'default' }, dest });
    expect(readTree(dest)).toEqual(readTree(src));
  }

  it('leaves a push of less than the single-request threshold to its one A4 request', async () => {
    const src = tempDir();
    manyFiles(src, 100, 2000);
    const store = await openStore(join(tempDir(), 'store'));
    const s = await push({ dir: src, target: store, name: 'one', cacheDir: false });
    expect(s).toMatchObject({ uploadedFiles: 100, stagedFiles: 0, mode: 'single' });
  });

  it('does not stage again what the store already packs, and sends only the new content', async () => {
    const src = tempDir();
    manyFiles(src, 900, 2500);
    const root = join(tempDir(), 'store');
    const store = await openStore(root);
    await push({ dir: src, target: store, name: 'a', cacheDir: false });
    const packsBefore = readdirSync(join(root, 'packs')).length;
    // 100 files change; the cache is off, so all 900 are hashed again.
    for (let i = 0; i < 100; i++)
      writeFileSync(join(src, `d${i % 7}`, `f${i}.bin`), bytes(5000 + i, 2500));
    const s = await push({ dir: src, target: store, name: 'a', cacheDir: false });
    expect(s).toMatchObject({
      uploadedFiles: 100,
      stagedFiles: 100,
      uploadedBytes: 100 * 2500,
      requests: 2,
    });
    expect(s.dedupStoredBytes).toBe(800 * 2500);
    expect(storedObjects(root)).toHaveLength(1000);
    // The new content went into new packs; nothing was written twice.
    const added = readdirSync(join(root, 'packs')).length - packsBefore;
    expect(added).toBeGreaterThan(0);
    expect((await store.gc()).keptObjects).toBe(1000);
  });

  it('stages into a store made before packs existed (no packs folder)', async () => {
    const src = tempDir();
    manyFiles(src, 900, 2500);
    const root = join(tempDir(), 'store');
    await openStore(root);
    rmSync(join(root, 'packs'), { recursive: true });
    const store = await openStore(root);
    const s = await push({ dir: src, target: store, name: 'old', cacheDir: false });
    expect(s).toMatchObject({ uploadedFiles: 900, requests: 2, snapshot: { frozen: true } });
    expect(storedObjects(root)).toHaveLength(900);
  });

  it('--dry-run stages nothing', async () => {
    const src = tempDir();
    manyFiles(src, 900, 2500);
    const root = join(tempDir(), 'store');
    const store = await openStore(root);
    const s = await push({ dir: src, target: store, name: 'd', cacheDir: false, dryRun: true });
    expect(s).toMatchObject({ uploadedFiles: 900, dryRun: true });
    expect(storedObjects(root)).toEqual([]);
    expect(readdirSync(join(root, 'tmp'))).toEqual([]);
    expect(await store.list()).toEqual([]);
  });

  it('hashes a file that grew past the limit as it streams, without staging it', () => {
    const dir = tempDir();
    const big = bytes(7, (2 << 20) + 5);
    writeFileSync(join(dir, 'grew'), big);
    writeFileSync(join(dir, 'small'), 'small');
    const out = hashAndStage(
      [join(dir, 'grew'), join(dir, 'small')],
      { tempDir: dir, maxFileSize: 1 << 20, objectsDir: join(dir, 'objects') },
      () => true,
    );
    expect(out.results).toEqual([
      { sha1: sha1(big), size: big.length },
      { sha1: sha1('small'), size: 5 },
    ]);
    expect(out.pack?.entries).toEqual([{ sha1: sha1('small'), offset: 0, size: 5 }]);
    for (const f of [out.pack?.packTemp, out.pack?.indexTemp]) rmSync(f as string);
  });

  // 13 MiB alone are hashed on the main thread; past 2,000 files the workers take them.
  for (const [where, small] of [
    ['on the main thread', 0],
    ['on the workers', 2100],
  ] as const) {
    it(`copies large files as it hashes: each new content once, none the store holds loose (${where})`, async () => {
      await copiesOnce(small);
    });
  }

  async function copiesOnce(small: number): Promise<void> {
    const src = tempDir();
    const mib = 1 << 20;
    const contents = [1, 2, 3, 4].map((seed) => bytes(seed, mib + 512 * seed));
    writeTree(src, {
      'a/one.bin': contents[0] as Buffer,
      'a/two.bin': contents[1] as Buffer,
      'b/three.bin': contents[2] as Buffer,
      'b/again.bin': contents[0] as Buffer,
      // Hashed alone (over a hash batch's bytes), not in a batch of large files.
      'c/big.bin': contents[3] as Buffer,
      'c/huge.bin': bytes(9, 9 * mib),
    });
    const padding: Record<string, Buffer> = {};
    for (let i = 0; i < small; i++) padding[`s/f${i}`] = bytes(100 + i, 100);
    writeTree(src, padding);
    const root = join(tempDir(), 'store');
    const store = await openStore(root);
    const first = await push({ dir: src, target: store, name: 'big', cacheDir: false });
    const unique = 5;
    expect(first).toMatchObject({
      uploadedFiles: unique + small,
      stagedFiles: unique + small,
      uploadedBytes: contents.reduce((n, c) => n + c.length, 0) + 9 * mib + small * 100,
      dedupTreeBytes: contents[0]?.length,
      requests: 2,
    });
    // Loose objects, as uploads make them, and nothing left in the temp folder.
    const loose = readdirSync(join(root, 'objects'), { recursive: true }).filter((n) =>
      /^[0-9a-f]{2}\/[0-9a-f]{40}$/.test(String(n)),
    );
    expect(loose).toHaveLength(unique);
    expect(readdirSync(join(root, 'tmp'))).toEqual([]);
    const dest = join(tempDir(), 'out');
    await pull({ source: store, address: { name: 'big', tag: 'default' }, dest });
    expect(readTree(dest)).toEqual(readTree(src));

    // A cold cache hashes everything again: what the store holds is not kept twice.
    const again = await push({ dir: src, target: store, name: 'big2', cacheDir: false });
    expect(again).toMatchObject({
      uploadedFiles: 0,
      stagedFiles: 0,
      dedupStoredBytes: first.bytes,
    });
    expect(readdirSync(join(root, 'tmp'))).toEqual([]);
    expect(storedObjects(root)).toHaveLength(unique + small);
  }

  it('keeps a copy only of content new to the store and unclaimed, and removes its copies when cancelled', () => {
    const dir = tempDir();
    const objectsDir = join(dir, 'objects');
    const tmp = join(dir, 'tmp');
    const [a, b] = [bytes(1, 3 << 20), bytes(2, 2 << 20)];
    writeTree(dir, { a, 'a-again': a, b, c: 'c content' });
    writeTree(objectsDir, { [`${sha1(b).slice(0, 2)}/${sha1(b)}`]: b });
    mkdirSync(tmp);
    const target = { tempDir: tmp, maxFileSize: 1 << 20, objectsDir };
    const claims = ClaimTable.create(10);
    claims.claim(sha1('c content'));
    const paths = ['a', 'a-again', 'b', 'c', 'gone'].map((n) => join(dir, n));
    const out = hashAndStageCopies(paths, { ...target, claims: claims.buffer });
    expect(out.results).toEqual([
      { sha1: sha1(a), size: a.length },
      { sha1: sha1(a), size: a.length },
      { sha1: sha1(b), size: b.length },
      { sha1: sha1('c content'), size: 9 },
      expect.objectContaining({ code: 'ENOENT' }),
    ]);
    // `a` once; `b` is a loose object already; `c` was claimed by another batch.
    expect(out.copies?.map((c) => c.sha1)).toEqual([sha1(a)]);
    expect(readdirSync(tmp)).toHaveLength(1);
    expect(readFileSync(out.copies?.[0]?.temp as string).equals(a)).toBe(true);
    rmSync(out.copies?.[0]?.temp as string);

    // Cancelled before its second file: the first one's copy goes too.
    const cancel = new Int32Array(new SharedArrayBuffer(4));
    const cancelling = new Proxy([join(dir, 'b'), join(dir, 'a')], {
      get(list, key, receiver) {
        if (key === '1') Atomics.store(cancel, 0, 1);
        return Reflect.get(list, key, receiver);
      },
    });
    const fresh = {
      ...target,
      objectsDir: join(dir, 'none'),
      claims: ClaimTable.create(10).buffer,
    };
    expect(() => hashAndStageCopies(cancelling, fresh, cancel)).toThrow(Cancelled);
    expect(readdirSync(tmp)).toEqual([]);
  });

  it('the claim table says once per hash who is first, across threads sharing its buffer', () => {
    const table = ClaimTable.create(10);
    const other = ClaimTable.of(table.buffer);
    const a = sha1('a');
    expect(table.claim(a)).toBe(true);
    expect(other.claim(a)).toBe(false);
    expect(table.claim(sha1('b'))).toBe(true);
    // Thousands of distinct hashes fit in a table made for them.
    const big = ClaimTable.create(5000);
    let claimed = 0;
    for (let i = 0; i < 5000; i++) if (big.claim(sha1(`x${i}`))) claimed++;
    expect(claimed).toBeGreaterThan(4990);
  });
});
