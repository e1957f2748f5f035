/**
 * Pack files: batches of small objects stored many to a file. What a store promises for
 * loose objects must hold for packed ones too: every byte verified on read, nothing
 * visible before it is whole, gc keeping exactly the live objects, and readers that find
 * objects another process packed or gc moved.
 */
import {
  chmodSync,
  closeSync,
  existsSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  utimesSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LocalBackend } from '../src/backends/local.js';
import { pull } from '../src/engine/pull.js';
import { encodePackIndex } from '../src/store/pack-index-file.js';
import { PackIndex } from '../src/store/packs.js';
import { type BatchFile, Store } from '../src/store/store.js';
import { readPackIndex, readTree, sha1, storedObjects, tempDir } from './helpers.js';

const perms = { ro: false, exe: false };
const HOUR = 3_600_000;

/** A store holding snapshot `name` of `files`, uploaded as one batch (so one pack). */
async function packedSnapshot(store: Store, name: string, files: Record<string, string>) {
  const fileHashes = Object.fromEntries(
    Object.entries(files).map(([p, c]) => [
      p,
      { sha1: sha1(c), permissions: perms, size: c.length },
    ]),
  );
  const r = await store.newSnapshot('ann', { name, tag: 'v1', fileHashes });
  const batch: BatchFile[] = Object.entries(files).map(([path, c]) => ({
    path,
    bytes: Buffer.from(c),
  }));
  const results = await store.uploadBatch('ann', r.snapshot, batch);
  for (const res of results) expect(res).not.toBeInstanceOf(Error);
  return store.freeze('ann', r.snapshot);
}

function packIds(root: string, ext = '.idx'): string[] {
  return readdirSync(join(root, 'packs'))
    .filter((n) => n.endsWith(ext))
    .map((n) => n.slice(0, -ext.length))
    .sort();
}

function looseObjects(root: string): string[] {
  const dir = join(root, 'objects');
  return readdirSync(dir).flatMap((s) => readdirSync(join(dir, s)));
}

async function readAll(store: Store, hash: string): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of store.readObject(hash)) chunks.push(c);
  return Buffer.concat(chunks).toString();
}

const FILES = Object.fromEntries(
  Array.from({ length: 30 }, (_, i) => [`f${i}.txt`, `content ${i}\n`.repeat(i + 1)]),
);

describe('pack files', () => {
  it('store a batch as one pack and one index, not as object files, and read back verified', async () => {
    const root = join(tempDir(), 'store');
    const store = await Store.open(root);
    await packedSnapshot(store, 'app', {
      ...FILES,
      'dup.txt': FILES['f3.txt'] as string,
      empty: '',
    });
    expect(packIds(root)).toHaveLength(1);
    expect(packIds(root, '.pack')).toEqual(packIds(root));
    expect(looseObjects(root)).toEqual([]);
    // 30 contents plus the empty one; the duplicate is stored once.
    expect(storedObjects(root)).toHaveLength(31);
    const entries = readPackIndex(join(root, 'packs', `${packIds(root)[0]}.idx`));
    expect(entries.map((e) => e.sha1).sort()).toEqual(
      [...new Set([...Object.values(FILES), ''].map((c) => sha1(c)))].sort(),
    );
    expect(await readAll(store, sha1(FILES['f7.txt'] as string))).toBe(FILES['f7.txt']);
    expect(await readAll(store, sha1(''))).toBe('');
    expect(await store.objects.has(sha1(FILES['f0.txt'] as string))).toBe(true);
    expect(await store.readObjects([sha1('content 2\n'.repeat(3)), sha1('')])).toEqual([
      Buffer.from(FILES['f2.txt'] as string),
      Buffer.alloc(0),
    ]);
  });

  it('pull writes packed files byte-identical through the worker pool', async () => {
    const root = join(tempDir(), 'store');
    await packedSnapshot(await Store.open(root), 'app', FILES);
    const backend = new LocalBackend(await Store.open(root), 'ann');
    const dest = join(tempDir(), 'out');
    await pull({ source: backend, address: { name: 'app', tag: 'v1' }, dest });
    const tree = readTree(dest);
    for (const [path, content] of Object.entries(FILES))
      expect(tree[path]?.sha1).toBe(sha1(content));
  });

  it('a corrupt packed object fails the read, naming the pack and the object, and no file is written', async () => {
    const root = join(tempDir(), 'store');
    const store = await Store.open(root);
    await packedSnapshot(store, 'app', FILES);
    const target = sha1(FILES['f9.txt'] as string);
    const id = packIds(root)[0] as string;
    const entry = readPackIndex(join(root, 'packs', `${id}.idx`)).find((e) => e.sha1 === target);
    const pack = join(root, 'packs', `${id}.pack`);
    chmodSync(pack, 0o644);
    const fd = openSync(pack, 'r+');
    writeSync(fd, 'X', entry?.offset);
    closeSync(fd);

    const readError = readAll(store, target);
    await expect(readError).rejects.toMatchObject({ code: 'CORRUPT_OBJECT' });
    await expect(readError).rejects.toThrow(new RegExp(`${id}\\.pack.*${target}`));
    await expect(store.readObjects([target])).rejects.toMatchObject({ code: 'CORRUPT_OBJECT' });

    const dest = join(tempDir(), 'out');
    const backend = new LocalBackend(await Store.open(root), 'ann');
    await expect(
      pull({ source: backend, address: { name: 'app', tag: 'v1' }, dest }),
    ).rejects.toMatchObject({ code: 'CORRUPT_OBJECT' });
    expect(existsSync(join(dest, 'f9.txt'))).toBe(false);
    expect(readdirSync(dest).filter((n) => n.startsWith('.'))).toEqual([]);
  });

  it('a pack without its index (a writer that died) holds nothing, and gc removes it after the grace period', async () => {
    let now = Date.now();
    const root = join(tempDir(), 'store');
    const store = await Store.open(root, { now: () => now });
    await packedSnapshot(store, 'app', FILES);
    const id = packIds(root)[0] as string;
    rmSync(join(root, 'packs', `${id}.idx`));
    const fresh = await Store.open(root, { now: () => now });
    expect(await fresh.objects.has(sha1(FILES['f1.txt'] as string))).toBe(false);
    await fresh.gc();
    expect(packIds(root, '.pack')).toEqual([id]);
    now += 2 * HOUR;
    const old = new Date(now - 2 * HOUR);
    utimesSync(join(root, 'packs', `${id}.pack`), old, old);
    await fresh.gc();
    expect(packIds(root, '.pack')).toEqual([]);
  });

  it('gc rewrites a pack without its dead objects and removes a pack with none alive', async () => {
    const root = join(tempDir(), 'store');
    const store = await Store.open(root);
    const half = Object.fromEntries(Object.entries(FILES).slice(0, 10));
    await packedSnapshot(store, 'all', FILES);
    await packedSnapshot(store, 'other', { 'x.txt': 'only in other\n', 'y.txt': 'also\n' });
    // `keep` shares 10 contents with the pack of `all`: they must survive its removal.
    const keep = await store.newSnapshot('ann', {
      name: 'keep',
      tag: 'v1',
      fileHashes: Object.fromEntries(
        Object.entries(half).map(([p, c]) => [p, { sha1: sha1(c), permissions: perms }]),
      ),
    });
    expect(keep.notFound).toEqual([]);
    expect(packIds(root)).toHaveLength(2);
    await store.remove('ann', { name: 'all', tag: 'v1' });
    await store.remove('ann', { name: 'other', tag: 'v1' });

    const report = await store.gc();
    expect(report).toMatchObject({ removedObjects: 22, keptObjects: 10, repackedPacks: 1 });
    expect(packIds(root)).toHaveLength(1);
    expect(storedObjects(root).sort()).toEqual(
      Object.values(half)
        .map((c) => sha1(c))
        .sort(),
    );
    for (const content of Object.values(half))
      expect(await readAll(store, sha1(content))).toBe(content);
    // Nothing left to do the second time.
    expect(await store.gc()).toMatchObject({ removedObjects: 0, repackedPacks: 0 });
  });

  it('gc merges small packs (one per push of a few edited files) into one', async () => {
    const root = join(tempDir(), 'store');
    const store = await Store.open(root);
    const all: Record<string, string> = {};
    for (let push = 0; push < 3; push++) {
      const files = Object.fromEntries(
        Array.from({ length: 5 }, (_, i) => [`p${push}/f${i}.txt`, `push ${push} file ${i}\n`]),
      );
      Object.assign(all, files);
      await packedSnapshot(store, `edit${push}`, files);
    }
    expect(packIds(root)).toHaveLength(3);
    expect(await store.gc()).toMatchObject({
      removedObjects: 0,
      keptObjects: 15,
      repackedPacks: 3,
    });
    expect(packIds(root)).toHaveLength(1);
    expect(packIds(root, '.pack')).toEqual(packIds(root));
    for (const content of Object.values(all))
      expect(await readAll(store, sha1(content))).toBe(content);
    // One small pack left alone: nothing to merge it with.
    expect(await store.gc()).toMatchObject({ repackedPacks: 0 });
  });

  it('gc leaves packs of a few large objects alone (small by count, not by size)', async () => {
    const root = join(tempDir(), 'store');
    const store = await Store.open(root);
    for (let push = 0; push < 2; push++) {
      const files = Object.fromEntries(
        Array.from({ length: 2 }, (_, i) => [`big${i}.bin`, `${push}${i}`.repeat(700_000)]),
      );
      await packedSnapshot(store, `big${push}`, files);
    }
    const before = packIds(root);
    expect(before).toHaveLength(2);
    expect(await store.gc()).toMatchObject({ repackedPacks: 0 });
    expect(packIds(root)).toEqual(before);
  });

  it('another store instance finds objects packed after it loaded, and objects gc moved to a new pack', async () => {
    const root = join(tempDir(), 'store');
    const writer = await Store.open(root);
    const reader = await Store.open(root);
    expect(await reader.objects.has(sha1(FILES['f1.txt'] as string))).toBe(false);
    await packedSnapshot(writer, 'app', FILES);
    await packedSnapshot(writer, 'tmp', { 'z.txt': 'dead soon\n' });
    // The reader loads its view of the packs now, before gc moves the objects.
    expect(await reader.objects.has(sha1(FILES['f1.txt'] as string))).toBe(true);
    const keepOne = await writer.newSnapshot('ann', {
      name: 'one',
      tag: 'v1',
      fileHashes: { 'a.txt': { sha1: sha1(FILES['f4.txt'] as string), permissions: perms } },
    });
    expect(keepOne.notFound).toEqual([]);
    await writer.remove('ann', { name: 'app', tag: 'v1' });
    await writer.remove('ann', { name: 'tmp', tag: 'v1' });
    expect((await writer.gc()).repackedPacks).toBe(1);
    expect(await readAll(reader, sha1(FILES['f4.txt'] as string))).toBe(FILES['f4.txt']);
    expect(await reader.readObjects([sha1(FILES['f4.txt'] as string)])).toEqual([
      Buffer.from(FILES['f4.txt'] as string),
    ]);
  });

  it('a damaged binary pack index is reported by name', async () => {
    const root = join(tempDir(), 'store');
    await packedSnapshot(await Store.open(root), 'app', FILES);
    const idx = join(root, 'packs', `${packIds(root)[0]}.idx`);
    const bytes = readFileSync(idx);
    bytes[40] = (bytes[40] as number) ^ 1;
    chmodSync(idx, 0o644);
    writeFileSync(idx, bytes);
    const store = await Store.open(root);
    await expect(store.objects.has(sha1('anything'))).rejects.toMatchObject({
      code: 'CORRUPT_STORE',
      message: expect.stringMatching(/pack index is corrupt \(checksum/),
    });
  });

  it('a store whose packs have version 1 (JSON) indexes is read and gc rewrites them', async () => {
    const root = join(tempDir(), 'store');
    await packedSnapshot(await Store.open(root), 'app', FILES);
    await packedSnapshot(await Store.open(root), 'tmp', { 'only.txt': 'only in tmp' });
    for (const id of packIds(root)) {
      const idx = join(root, 'packs', `${id}.idx`);
      const json = JSON.stringify({
        version: 1,
        objects: readPackIndex(idx).map((e) => [e.sha1, e.offset, e.size]),
      });
      chmodSync(idx, 0o644);
      writeFileSync(idx, json);
    }
    const store = await Store.open(root);
    expect(await readAll(store, sha1(FILES['f3.txt'] as string))).toBe(FILES['f3.txt']);
    await store.remove('ann', { name: 'tmp', tag: 'v1' });
    await store.gc();
    expect(await readAll(store, sha1(FILES['f5.txt'] as string))).toBe(FILES['f5.txt']);
    expect(storedObjects(root)).not.toContain(sha1('only in tmp'));
  });

  it('a corrupt pack index is reported by name, not silently skipped', async () => {
    const root = join(tempDir(), 'store');
    await packedSnapshot(await Store.open(root), 'app', FILES);
    const idx = join(root, 'packs', `${packIds(root)[0]}.idx`);
    chmodSync(idx, 0o644);
    writeFileSync(idx, '{"version":1,"objects":[["nothex",0,1]]}');
    const store = await Store.open(root);
    await expect(store.objects.has(sha1('anything'))).rejects.toMatchObject({
      code: 'CORRUPT_STORE',
      message: expect.stringContaining(idx),
    });
  });

  it('a store made before packs existed (no packs folder) takes batches', async () => {
    const root = join(tempDir(), 'store');
    await Store.open(root);
    rmSync(join(root, 'packs'), { recursive: true });
    const store = await Store.open(root);
    await packedSnapshot(store, 'app', FILES);
    expect(storedObjects(root)).toHaveLength(30);
  });
});

describe('the pack index', () => {
  it('answers a refresh that arrives during a scan with a scan that starts after it', async () => {
    const dir = tempDir();
    const index = new PackIndex(dir);
    const sha = sha1('late');
    let seenByFirst: boolean | undefined;
    const first = index.refresh();
    // Runs when the first scan is over and before the second starts.
    const written = first.then(() => {
      seenByFirst = index.get(sha) !== undefined;
      writeFileSync(join(dir, 'late.pack'), 'late');
      writeFileSync(join(dir, 'late.idx'), encodePackIndex([{ sha1: sha, offset: 0, size: 4 }]));
    });
    const second = index.refresh();
    const third = index.refresh();
    expect(second).not.toBe(first);
    expect(third).toBe(second);
    await Promise.all([written, second]);
    expect(seenByFirst).toBe(false);
    expect(index.get(sha)).toMatchObject({ offset: 0, size: 4 });
  });

  it('reads many indexes at once and locates an object held by several packs in the oldest, whatever order the folder lists them in', async () => {
    const dir = tempDir();
    const shared = sha1('in every pack');
    // Written newest first, so that the folder's order is not the packs' order.
    const ids = Array.from({ length: 40 }, (_, i) => `p${String(i).padStart(3, '0')}`);
    for (const id of [...ids].reverse()) {
      const own = sha1(`only in ${id}`);
      writeFileSync(join(dir, `${id}.pack`), 'xy');
      writeFileSync(
        join(dir, `${id}.idx`),
        encodePackIndex([
          { sha1: own, offset: 1, size: 1 },
          { sha1: shared, offset: 0, size: 1 },
        ]),
      );
    }
    const index = new PackIndex(dir);
    await index.load();
    expect(index.get(shared)?.file).toBe(join(dir, 'p000.pack'));
    for (const id of ids)
      expect(index.get(sha1(`only in ${id}`))).toEqual({
        file: join(dir, `${id}.pack`),
        offset: 1,
        size: 1,
      });
  });
});
