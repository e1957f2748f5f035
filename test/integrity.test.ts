import {
  chmodSync,
  existsSync,
  readdirSync,
  readFileSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SnapupError } from '../src/errors.js';
import { HashCache } from '../src/hash/cache.js';
import { type CacheColumns, decodeCache, encodeCache } from '../src/hash/cache-file.js';
import type { OutgoingFile, PullSource, PushTarget } from '../src/index.js';
import { openStore, pull, push } from '../src/index.js';
import { bytes, readTree, sha1, tempDir, writeTree } from './helpers.js';
import { clientFor, clientWithout, testServer } from './server-helpers.js';

/** Rewrites a loose store object with one byte of `content` flipped; returns its path. */
function damageObject(objectPath: string, content: Buffer, at: number): string {
  chmodSync(objectPath, 0o644);
  const damaged = Buffer.from(content);
  damaged[at] = (damaged[at] ?? 0) ^ 0xff;
  writeFileSync(objectPath, damaged);
  return objectPath;
}

/** The hash cache file's columns (it must be a whole one). */
function readCache(file: string): CacheColumns {
  const columns = decodeCache(readFileSync(file));
  if (!columns) throw new Error(`${file}: not a hash cache`);
  return columns;
}

/** Rewrites the hash cache file with `change` applied to its columns. */
function editCache(file: string, change: (c: CacheColumns) => CacheColumns): void {
  writeFileSync(file, encodeCache(change(readCache(file))));
}

/** A target that runs `before` ahead of the first upload of each file. */
function intercept(target: PushTarget, before: (f: OutgoingFile) => void): PushTarget {
  const seen = new Set<string>();
  const once = (f: OutgoingFile) => {
    if (!seen.has(f.path)) {
      seen.add(f.path);
      before(f);
    }
  };
  return {
    description: target.description,
    batchChecksSources: target.batchChecksSources,
    newSnapshot: (p, s) => target.newSnapshot(p, s),
    upload: (a, f, s) => {
      once(f);
      return target.upload(a, f, s);
    },
    uploadBatch: (a, files, s) => {
      for (const f of files) once(f);
      return target.uploadBatch?.(a, files, s) ?? Promise.reject(new Error('no batches'));
    },
    single: (m, files, s) => {
      for (const f of files) once(f);
      return target.single(m, files, s);
    },
    freeze: (a, s) => target.freeze(a, s),
    lacks: (h, s) => target.lacks(h, s),
  };
}

describe('integrity', () => {
  for (const singleMax of [0, 1 << 30]) {
    const mode = singleMax === 0 ? 'multi' : 'single';
    it(`never stores a file under a stale hash when it changes during the push (${mode})`, async () => {
      const src = tempDir();
      writeTree(src, { 'a.txt': 'original', 'b.txt': 'stable' });
      const store = await openStore(join(tempDir(), 'store'));
      const when = new Date(Date.now() - 60_000);
      // Same size, same mtime: only the content tells (the store's hash check must catch it).
      const target = intercept(store, (f) => {
        if (f.path === 'a.txt') {
          writeFileSync(f.abs, 'modified');
          utimesSync(f.abs, when, when);
        }
      });
      utimesSync(join(src, 'a.txt'), when, when);
      const s = await push({ dir: src, target, name: 'chg', cacheDir: false, singleMax });
      expect(s.snapshot.frozen).toBe(true);
      const { fileHashes } = await store.get({ name: 'chg', tag: 'default' });
      expect(fileHashes['a.txt']?.sha1).toBe(sha1('modified'));
      expect(await store.store.objects.has(sha1('original'))).toBe(false);
      const dest = join(tempDir(), 'out');
      await pull({ source: store, address: { name: 'chg', tag: 'default' }, dest });
      expect(readFileSync(join(dest, 'a.txt'), 'utf8')).toBe('modified');
    });
  }

  it('re-hashes a file whose size and mtime changed after hashing', async () => {
    const src = tempDir();
    writeTree(src, { 'grow.txt': 'v1', 'other.txt': 'o' });
    const store = await openStore(join(tempDir(), 'store'));
    const target = intercept(store, (f) => {
      if (f.path === 'grow.txt') writeFileSync(f.abs, 'version two');
    });
    await push({ dir: src, target, name: 'g', cacheDir: false, singleMax: 0 });
    const { fileHashes } = await store.get({ name: 'g', tag: 'default' });
    expect(fileHashes['grow.txt']).toMatchObject({ sha1: sha1('version two'), size: 11 });
  });

  /** Targets whose batched uploads check what they read, and a way to read a snapshot. */
  const checkingTargets: [
    string,
    () => Promise<{ target: PushTarget; done: () => Promise<void> }>,
  ][] = [
    [
      'the local store',
      async () => ({
        target: await openStore(join(tempDir(), 'store')),
        done: async () => {},
      }),
    ],
    [
      'a CB server with the batch extension',
      async () => {
        const server = await testServer();
        return { target: clientFor(server), done: () => server.close() };
      },
    ],
    [
      'a CB server without it (one A2 upload each)',
      async () => {
        const server = await testServer();
        return { target: clientWithout(server, 'batch'), done: () => server.close() };
      },
    ],
  ];

  it.each(checkingTargets)(
    'checks batched files where they are read (%s): a grown one is re-hashed, a removed one skipped',
    async (_name, open) => {
      const src = tempDir();
      writeTree(src, { 'grow.txt': 'v1', 'gone.txt': 'bye', 'keep.txt': 'k', 'huge.bin': 'small' });
      // Past what a batch takes: re-hashed, then uploaded alone.
      const huge = bytes(7, (1 << 20) + 10);
      const { target: checked, done } = await open();
      expect(checked.batchChecksSources).toBe(true);
      const target = intercept(checked, (f) => {
        if (f.path === 'grow.txt') writeFileSync(f.abs, 'version two');
        if (f.path === 'gone.txt') rmSync(f.abs);
        if (f.path === 'huge.bin' && f.size < huge.length) writeFileSync(f.abs, huge);
      });
      const warnings: string[] = [];
      try {
        const s = await push({
          dir: src,
          target,
          name: 'b',
          cacheDir: false,
          singleMax: 0,
          onEvent: (e) => {
            if (e.type === 'warning') warnings.push(e.message);
          },
        });
        expect(s.snapshot.frozen).toBe(true);
        const source = checked as unknown as PullSource;
        const { fileHashes } = await source.get({ name: 'b', tag: 'default' });
        expect(Object.keys(fileHashes).sort()).toEqual(['grow.txt', 'huge.bin', 'keep.txt']);
        expect(fileHashes['grow.txt']).toMatchObject({ sha1: sha1('version two'), size: 11 });
        expect(fileHashes['huge.bin']).toMatchObject({ sha1: sha1(huge), size: huge.length });
        expect(warnings).toEqual([
          expect.stringContaining('gone.txt: it was removed during the push'),
        ]);
        const dest = join(tempDir(), 'out');
        await pull({ source, address: { name: 'b', tag: 'default' }, dest });
        expect(readTree(dest)).toEqual(readTree(src));
      } finally {
        await done();
      }
    },
  );

  it('uploads what an A4 answer left missing, then freezes', async () => {
    const src = tempDir();
    writeTree(src, { 'a.txt': 'aaa', 'b.txt': 'bbb' });
    const store = await openStore(join(tempDir(), 'store'));
    // A server that stores only part of an A4 request answers the rest as notFound.
    const target: PushTarget = {
      ...intercept(store, () => {}),
      single: (m, files, s) =>
        store.single(
          m,
          files.filter((f) => f.path !== 'b.txt'),
          s,
        ),
    };
    const s = await push({ dir: src, target, name: 'a4', cacheDir: false, singleMax: 1 << 30 });
    expect(s).toMatchObject({ uploadedFiles: 2, snapshot: { frozen: true } });
    const dest = join(tempDir(), 'out');
    await pull({ source: store, address: { name: 'a4', tag: 'default' }, dest });
    expect(readTree(dest)).toEqual(readTree(src));
  });

  it('says what the target misses when every freeze finds content missing', async () => {
    const src = tempDir();
    writeTree(src, { 'a.txt': 'aaa' });
    const store = await openStore(join(tempDir(), 'store'));
    const target: PushTarget = {
      ...intercept(store, () => {}),
      freeze: async () => {
        throw new SnapupError(
          'MISSING_CONTENT',
          'a4/default: 1 declared file(s) have no content yet, e.g. a.txt',
        );
      },
    };
    await expect(
      push({ dir: src, target, name: 'a4', cacheDir: false, singleMax: 0 }),
    ).rejects.toMatchObject({ code: 'MISSING_CONTENT', message: expect.stringContaining('a.txt') });
  });

  it('fails with the file named when it keeps changing', async () => {
    const src = tempDir();
    writeTree(src, { 'busy.log': 'start' });
    const store = await openStore(join(tempDir(), 'store'));
    let n = 0;
    const target: PushTarget = {
      ...intercept(store, () => {}),
      upload: (a, f, s) => {
        writeFileSync(f.abs, `change ${n++}`);
        return store.upload(a, f, s);
      },
    };
    await expect(
      push({ dir: src, target, name: 'busy', cacheDir: false, singleMax: 0 }),
    ).rejects.toMatchObject({
      code: 'FILE_CHANGED',
      message: expect.stringContaining('busy.log'),
    });
  });

  it("re-hashes a racy cache entry (git's racy-clean case)", async () => {
    const src = tempDir();
    writeTree(src, { 'old.txt': 'old file', 'racy.txt': 'AAAA' });
    // racy.txt is stamped after the scan starts: its cache entry must not be trusted.
    const stamp = new Date(Math.floor(Date.now() / 1000) * 1000 + 5000);
    utimesSync(join(src, 'racy.txt'), stamp, stamp);
    const store = await openStore(join(tempDir(), 'store'));
    const cacheDir = tempDir();
    await push({ dir: src, target: store, name: 'r', tag: 'v1', cacheDir });
    // Same size, same mtime, same inode: the stat cannot tell.
    writeFileSync(join(src, 'racy.txt'), 'BBBB');
    utimesSync(join(src, 'racy.txt'), stamp, stamp);
    const s = await push({ dir: src, target: store, name: 'r', tag: 'v2', cacheDir });
    expect(s.cachedFiles).toBe(1);
    expect(s.hashedFiles).toBe(1);
    const { fileHashes } = await store.get({ name: 'r', tag: 'v2' });
    expect(fileHashes['racy.txt']?.sha1).toBe(sha1('BBBB'));
  });

  it('a no-op push leaves the hash cache file alone; a change or a removal rewrites it', async () => {
    const src = tempDir();
    writeTree(src, { 'a.txt': 'a', 'b.txt': 'b' });
    const store = await openStore(join(tempDir(), 'store'));
    const cacheDir = tempDir();
    await push({ dir: src, target: store, name: 'n', cacheDir });
    const { realpathSync, rmSync, statSync } = await import('node:fs');
    const file = HashCache.fileFor(cacheDir, realpathSync(src));
    const written = readFileSync(file);
    const stamp = new Date('2020-01-01T00:00:00Z');
    utimesSync(file, stamp, stamp);
    expect(await push({ dir: src, target: store, name: 'n', cacheDir })).toMatchObject({
      cachedFiles: 2,
      hashedFiles: 0,
    });
    expect(statSync(file).mtime).toEqual(stamp);
    expect(readFileSync(file)).toEqual(written);
    rmSync(join(src, 'b.txt'));
    await push({ dir: src, target: store, name: 'n', cacheDir });
    expect(readCache(file).paths).toEqual(['a.txt']);
  });

  it('saves the hash cache of a push that fails after hashing; a cache it cannot write is a warning before the summary', async () => {
    const src = tempDir();
    writeTree(src, { 'a.txt': 'a', 'b.txt': 'b' });
    const store = await openStore(join(tempDir(), 'store'));
    const refusing: PushTarget = {
      ...intercept(store, () => {}),
      newSnapshot: () => Promise.reject(new SnapupError('CONFLICT', 'refused for the test')),
    };
    const cacheDir = tempDir();
    await expect(push({ dir: src, target: refusing, name: 'f', cacheDir })).rejects.toThrow(
      'refused for the test',
    );
    const { realpathSync } = await import('node:fs');
    // Saved before the push negotiated: the next one hashes nothing.
    expect([...readCache(HashCache.fileFor(cacheDir, realpathSync(src))).paths].sort()).toEqual([
      'a.txt',
      'b.txt',
    ]);
    expect(await push({ dir: src, target: store, name: 'f', cacheDir })).toMatchObject({
      hashedFiles: 0,
      cachedFiles: 2,
    });

    const blocked = tempDir();
    writeFileSync(join(blocked, 'hashes'), 'a file where the cache folder would be');
    const events: string[] = [];
    const s = await push({
      dir: src,
      target: store,
      name: 'g',
      cacheDir: blocked,
      onEvent: (e) => {
        if (e.type === 'summary') events.push('summary');
        if (e.type === 'warning' && e.message.startsWith('could not save the hash cache'))
          events.push(e.message);
      },
    });
    expect(s.uploadedFiles).toBe(0);
    expect(events).toEqual([
      `could not save the hash cache: ${join(blocked, 'hashes')}: exists and is not a folder (a file is in the way); the next push hashes every file again`,
      'summary',
    ]);
  });

  it('saves the cache after re-hashing a racy entry, so the next push trusts it', async () => {
    const src = tempDir();
    writeTree(src, { 'a.txt': 'a' });
    const store = await openStore(join(tempDir(), 'store'));
    const cacheDir = tempDir();
    // Written by a run whose scan started before the file's mtime: racy for the next run.
    const { realpathSync } = await import('node:fs');
    await push({ dir: src, target: store, name: 'q', cacheDir });
    const file = HashCache.fileFor(cacheDir, realpathSync(src));
    editCache(file, (c) => ({ ...c, scanStartMs: 0 }));
    expect(await push({ dir: src, target: store, name: 'q', cacheDir })).toMatchObject({
      hashedFiles: 1,
    });
    expect(await push({ dir: src, target: store, name: 'q', cacheDir })).toMatchObject({
      hashedFiles: 0,
      cachedFiles: 1,
    });
  });

  it('ignores a corrupt or foreign hash cache and rebuilds it', async () => {
    const src = tempDir();
    writeTree(src, { 'a.txt': 'a', 'b.txt': 'b' });
    const store = await openStore(join(tempDir(), 'store'));
    const cacheDir = tempDir();
    await push({ dir: src, target: store, name: 'c', cacheDir });
    const { realpathSync } = await import('node:fs');
    const file = HashCache.fileFor(cacheDir, realpathSync(src));
    const good = readFileSync(file);
    // Cut short, or one byte changed anywhere: the whole file is ignored.
    const damaged = Buffer.from(good);
    damaged[damaged.length >> 1] = (damaged[damaged.length >> 1] ?? 0) ^ 1;
    for (const bad of [good.subarray(0, good.length - 7), damaged, Buffer.from('{"format":3')]) {
      writeFileSync(file, bad);
      const s = await push({ dir: src, target: store, name: 'c', cacheDir });
      expect(s).toMatchObject({ hashedFiles: 2, cachedFiles: 0 });
    }
    // A whole cache of another root (lying hashes) is not trusted either.
    editCache(file, (c) => ({ ...c, root: '/some/other/root', sha1s: '0'.repeat(c.sha1s.length) }));
    let s = await push({ dir: src, target: store, name: 'c', cacheDir });
    expect(s).toMatchObject({ hashedFiles: 2, cachedFiles: 0, uploadedFiles: 0 });
    s = await push({ dir: src, target: store, name: 'c', cacheDir });
    expect(s).toMatchObject({ hashedFiles: 0, cachedFiles: 2 });
    // One entry whose stat differs is a miss for that file only.
    editCache(file, (c) => ({ ...c, mtimes: [Number.NaN, ...Array.from(c.mtimes).slice(1)] }));
    s = await push({ dir: src, target: store, name: 'c', cacheDir });
    expect(s).toMatchObject({ hashedFiles: 1, cachedFiles: 1 });
  });

  it('pulls a large file on a worker with its mode, and refuses a corrupt large object naming it', async () => {
    const src = tempDir();
    const big = bytes(11, 3 * 1024 * 1024);
    writeTree(src, { 'big.bin': { content: big, mode: 0o755 }, 'small.txt': 'fine' });
    const store = await openStore(join(tempDir(), 'store'));
    await push({ dir: src, target: store, name: 'large', cacheDir: false });
    const dest = join(tempDir(), 'out');
    await pull({ source: store, address: { name: 'large', tag: 'default' }, dest });
    expect(readTree(dest)).toEqual(readTree(src));

    const objectPath = damageObject(store.store.objects.pathOf(sha1(big)), big, 2_000_000);
    const again = join(tempDir(), 'again');
    await expect(
      pull({ source: store, address: { name: 'large', tag: 'default' }, dest: again }),
    ).rejects.toMatchObject({
      code: 'CORRUPT_OBJECT',
      message: expect.stringContaining(objectPath),
    });
    expect(readdirSync(again)).not.toContain('big.bin');
    expect(readdirSync(again).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('detects a corrupt store object on pull and writes no corrupt file', async () => {
    const src = tempDir();
    const good = bytes(3, 50_000);
    writeTree(src, { 'good.bin': good, 'z.txt': 'fine' });
    const storeDir = join(tempDir(), 'store');
    const store = await openStore(storeDir);
    await push({ dir: src, target: store, name: 'c', cacheDir: false });
    const objectPath = damageObject(store.store.objects.pathOf(sha1(good)), good, 100);
    const dest = join(tempDir(), 'out');
    await expect(
      pull({ source: store, address: { name: 'c', tag: 'default' }, dest, concurrency: 1 }),
    ).rejects.toMatchObject({
      code: 'CORRUPT_OBJECT',
      message: expect.stringContaining(objectPath),
    });
    expect(readdirSync(dest)).not.toContain('good.bin');
    expect(readdirSync(dest).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('refuses a manifest with a path that is a file and a folder, before touching the destination', async () => {
    const perms = { ro: false, exe: false };
    const source = {
      description: 'a server that took a broken manifest',
      get: async () => ({
        snapshot: { name: 'c', tag: 'v', frozen: true },
        fileHashes: {
          a: { sha1: sha1('a'), permissions: perms, size: 1 },
          'a/b': { sha1: sha1('b'), permissions: perms, size: 1 },
        },
      }),
    } as unknown as PullSource;
    const dest = join(tempDir(), 'out');
    await expect(pull({ source, address: { name: 'c', tag: 'v' }, dest })).rejects.toMatchObject({
      code: 'CORRUPT_STORE',
      message: 'snapshot c/v: "a/b": "a" is a file of the snapshot, not a folder',
    });
    expect(existsSync(dest)).toBe(false);
  });
});
