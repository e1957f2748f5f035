import { mkdirSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { manifestDigest } from '../src/protocol/manifest.js';
import { Store } from '../src/store/store.js';
import { sha1, tempDir } from './helpers.js';

const perms = { ro: false, exe: false };
const A = 'alpha\n';
const B = 'beta\n';
const manifest = {
  'a.txt': { sha1: sha1(A), permissions: perms, size: 6 },
  'b/b.txt': { sha1: sha1(B), permissions: perms, size: 5 },
};

async function newStore(now?: () => number) {
  return Store.open(join(tempDir(), 'store'), now ? { now } : {});
}

async function fullSnapshot(store: Store, user: string, name: string, tag: string, extra = {}) {
  const r = await store.newSnapshot(user, { name, tag, fileHashes: manifest, ...extra });
  await store.upload(user, r.snapshot, 'a.txt', { bytes: Buffer.from(A) });
  await store.upload(user, r.snapshot, 'b/b.txt', { bytes: Buffer.from(B) });
  return store.freeze(user, r.snapshot);
}

describe('a manifest handed over as built entries', () => {
  const entries = Object.entries(manifest)
    .map(([path, e]) => ({ path, ...e }))
    .sort((a, b) => (a.path < b.path ? -1 : 1));
  const built = { digest: manifestDigest(manifest), entries };

  it('makes the same snapshot as the map: record, missing content, manifest read back', async () => {
    const store = await newStore();
    const r = await store.newSnapshot('ann', { name: 'app', tag: 'v1' }, built);
    expect(r.notFound.sort()).toEqual([sha1(A), sha1(B)].sort());
    expect(r.snapshot).toMatchObject({ fileCount: 2, size: 11, manifestDigest: built.digest });
    await store.upload('ann', r.snapshot, 'a.txt', { bytes: Buffer.from(A) });
    // The freeze names what is missing by path, from the entries.
    await expect(store.freeze('ann', r.snapshot)).rejects.toMatchObject({
      code: 'MISSING_CONTENT',
      data: { missing: ['b/b.txt'] },
    });
    await store.upload('ann', r.snapshot, 'b/b.txt', { bytes: Buffer.from(B) });
    expect(await store.freeze('ann', r.snapshot)).toMatchObject({ frozen: true });
    const again = await Store.open(store.root);
    expect((await again.get('ann', { name: 'app', tag: 'v1' })).fileHashes).toEqual(manifest);
  });

  it('is refused together with a fileHashes map (one manifest per request)', async () => {
    const store = await newStore();
    await expect(
      store.newSnapshot('ann', { name: 'app', tag: 'v1', fileHashes: manifest }, built),
    ).rejects.toThrow(/built entries or as fileHashes/);
  });
});

describe('the store behaves like a CB server', () => {
  it('lists declared hashes it lacks, then freezes once content arrived', async () => {
    const store = await newStore();
    const r = await store.newSnapshot('ann', { name: 'app', tag: 'v1', fileHashes: manifest });
    expect(r.notFound.sort()).toEqual([sha1(A), sha1(B)].sort());
    expect(r.snapshot).toMatchObject({
      name: 'app',
      tag: 'v1',
      owner: 'ann',
      frozen: false,
      expiresAt: null,
    });
    await expect(store.freeze('ann', r.snapshot)).rejects.toMatchObject({
      code: 'MISSING_CONTENT',
      status: 409,
    });
    const up = await store.upload('ann', r.snapshot, 'a.txt', { bytes: Buffer.from(A) });
    expect(up).toEqual({ path: 'a.txt', sha1: sha1(A), size: 6 });
    await expect(store.freeze('ann', r.snapshot)).rejects.toMatchObject({
      data: { missing: ['b/b.txt'] },
    });
    await store.upload('ann', r.snapshot, 'b/b.txt', { bytes: Buffer.from(B) });
    expect((await store.freeze('ann', r.snapshot)).frozen).toBe(true);
    // Freezing again is a no-op.
    expect((await store.freeze('ann', r.snapshot)).frozen).toBe(true);
  });

  it('rejects content that does not match the declared hash (422) and stores nothing', async () => {
    const store = await newStore();
    const r = await store.newSnapshot('ann', { name: 'app', fileHashes: manifest });
    await expect(
      store.upload('ann', r.snapshot, 'a.txt', { bytes: Buffer.from('evil') }),
    ).rejects.toMatchObject({
      code: 'HASH_MISMATCH',
      status: 422,
    });
    expect(await store.objects.has(sha1('evil'))).toBe(false);
  });

  it('records an undeclared upload with the hash of what arrived', async () => {
    const store = await newStore();
    const r = await store.newSnapshot('ann', { name: 'app', fileHashes: {} });
    await store.upload('ann', r.snapshot, 'new/file.txt', { bytes: Buffer.from('hi') });
    const got = await store.get('ann', r.snapshot);
    expect(got.fileHashes['new/file.txt']?.sha1).toBe(sha1('hi'));
  });

  it('answers an identical manifest with the frozen snapshot (B.1) and refuses a changed one (B.10)', async () => {
    const store = await newStore();
    await fullSnapshot(store, 'ann', 'app', 'v1');
    const anon = await store.newSnapshot('ann', { fileHashes: manifest });
    expect(anon).toMatchObject({
      snapshot: { name: 'app', tag: 'v1', frozen: true },
      notFound: [],
    });
    const same = await store.newSnapshot('ann', { name: 'app', tag: 'v1', fileHashes: manifest });
    expect(same.snapshot.frozen).toBe(true);
    const other = { ...manifest, 'c.txt': { sha1: sha1('c'), permissions: perms } };
    await expect(
      store.newSnapshot('ann', { name: 'app', tag: 'v1', fileHashes: other }),
    ).rejects.toMatchObject({
      code: 'FROZEN',
      status: 409,
    });
    // Another tag with other paths is never matched to the frozen one.
    const fresh = await store.newSnapshot('ann', { name: 'app', tag: 'v2', fileHashes: other });
    expect(fresh.snapshot.frozen).toBe(false);
    expect(fresh.notFound).toEqual([sha1('c')]);
  });

  it('generates names and tags (B.9): default tag unless it is frozen', async () => {
    const store = await newStore();
    const anon = await store.newSnapshot('ann', {});
    expect(anon.snapshot.name).toMatch(/^snapshot-[0-9a-f]{8}$/);
    expect(anon.snapshot.tag).toBe('default');
    await fullSnapshot(store, 'ann', 'site', 'default');
    const next = await store.newSnapshot('ann', {
      name: 'site',
      fileHashes: { 'x.txt': { sha1: sha1('x'), permissions: perms } },
    });
    expect(next.snapshot.tag).toMatch(/^\d{8}T\d{6}Z-[0-9a-f]{4}$/);
  });

  it('resumes an unfrozen snapshot keeping the content that arrived (B.10)', async () => {
    const store = await newStore();
    const r = await store.newSnapshot('ann', { name: 'app', tag: 'v1', fileHashes: manifest });
    await store.upload('ann', r.snapshot, 'a.txt', { bytes: Buffer.from(A) });
    const again = await store.newSnapshot('ann', { name: 'app', tag: 'v1', fileHashes: manifest });
    expect(again.notFound).toEqual([sha1(B)]);
  });

  it('refuses uploads to a frozen snapshot (409)', async () => {
    const store = await newStore();
    const meta = await fullSnapshot(store, 'ann', 'app', 'v1');
    await expect(
      store.upload('ann', meta, 'a.txt', { bytes: Buffer.from(A) }),
    ).rejects.toMatchObject({ code: 'FROZEN' });
  });

  it('rejects bad paths (B.6) with 400', async () => {
    const store = await newStore();
    const r = await store.newSnapshot('ann', { name: 'app', fileHashes: {} });
    for (const bad of [
      '../x',
      '/abs',
      'a\\b',
      'a/./b',
      'a//b',
      'nul\0',
      'x'.repeat(5000),
      'cafe\u0301',
    ]) {
      await expect(
        store.upload('ann', r.snapshot, bad, { bytes: Buffer.from('x') }),
      ).rejects.toMatchObject({ status: 400 });
    }
  });

  it('enforces access levels per user (B.8)', async () => {
    const store = await newStore();
    await fullSnapshot(store, 'ann', 'hidden', 'v1');
    await fullSnapshot(store, 'ann', 'shared', 'v1', {
      accessLevel: 'Visible',
      accessPerUser: { bob: 'ReadWrite', eve: 'Invisible' },
    });
    await fullSnapshot(store, 'ann', 'open', 'v1', { accessLevel: 'Visisble' });
    const addr = (name: string) => ({ owner: 'ann', name, tag: 'v1' });
    await expect(store.get('bob', addr('hidden'))).rejects.toMatchObject({ status: 404 });
    expect((await store.get('carl', addr('open'))).snapshot.accessLevel).toBe('Visible');
    await expect(store.remove('carl', addr('open'))).rejects.toMatchObject({ status: 403 });
    await expect(store.get('eve', addr('shared'))).rejects.toMatchObject({ status: 404 });
    expect((await store.list('carl')).map((s) => s.name).sort()).toEqual(['open', 'shared']);
    await store.remove('bob', addr('shared'));
    await expect(store.get('ann', { name: 'shared', tag: 'v1' })).rejects.toMatchObject({
      status: 404,
    });
  });

  it('expires snapshots: gone from listings (410 on access) and removed by gc', async () => {
    let now = Date.parse('2026-01-01T00:00:00Z');
    const store = await newStore(() => now);
    await fullSnapshot(store, 'ann', 'tmp', 'v1', { expirationTimeSec: 60 });
    expect((await store.list('ann')).length).toBe(1);
    now += 61_000;
    expect(await store.list('ann')).toEqual([]);
    await expect(store.get('ann', { name: 'tmp', tag: 'v1' })).rejects.toMatchObject({
      status: 410,
    });
    const report = await store.gc();
    expect(report).toMatchObject({ removedSnapshots: 1, removedObjects: 2 });
    await expect(store.get('ann', { name: 'tmp', tag: 'v1' })).rejects.toMatchObject({
      status: 404,
    });
  });

  it('removes a removeAfterExecute snapshot after its execution (410)', async () => {
    const store = await newStore();
    await fullSnapshot(store, 'ann', 'once', 'v1', { removeAfterExecute: true });
    await store.execute('ann', { name: 'once', tag: 'v1' });
    await expect(store.get('ann', { name: 'once', tag: 'v1' })).rejects.toMatchObject({
      code: 'GONE',
      status: 410,
    });
  });

  it('gc reclaims unreferenced content but keeps what a recent unfrozen snapshot declared (B.11)', async () => {
    let now = Date.now();
    const store = await newStore(() => now);
    await fullSnapshot(store, 'ann', 'keep', 'v1');
    const r = await store.newSnapshot('ann', {
      name: 'wip',
      fileHashes: { 'w.txt': { sha1: sha1('wip'), permissions: perms } },
    });
    await store.upload('ann', r.snapshot, 'w.txt', { bytes: Buffer.from('wip') });
    const drop = await store.newSnapshot('ann', {
      name: 'drop',
      fileHashes: { 'd.txt': { sha1: sha1('drop'), permissions: perms } },
    });
    await store.upload('ann', drop.snapshot, 'd.txt', { bytes: Buffer.from('drop') });
    await store.freeze('ann', drop.snapshot);
    await store.remove('ann', drop.snapshot);
    const report = await store.gc();
    expect(report.removedObjects).toBe(1);
    expect(await store.objects.has(sha1('drop'))).toBe(false);
    expect(await store.objects.has(sha1('wip'))).toBe(true);
    expect(await store.objects.has(sha1(A))).toBe(true);
    now += 2 * 60 * 60 * 1000;
    await store.gc();
    expect(await store.objects.has(sha1('wip'))).toBe(false);
    expect(await store.objects.has(sha1(A))).toBe(true);
  });

  it('gc keeps what an unfrozen snapshot declared while it keeps receiving uploads, past the hour', async () => {
    const minute = 60_000;
    let now = Date.now();
    const store = await newStore(() => now);
    const r = await store.newSnapshot('ann', { name: 'long', tag: 'v1', fileHashes: manifest });
    await store.upload('ann', r.snapshot, 'a.txt', { bytes: Buffer.from(A) });
    // A push still uploading 50 minutes on; the sweeper runs 70 minutes after it began.
    now += 50 * minute;
    await store.upload('ann', r.snapshot, 'a.txt', { bytes: Buffer.from(A) });
    now += 20 * minute;
    await store.gc();
    expect(await store.objects.has(sha1(A))).toBe(true);
    await store.upload('ann', r.snapshot, 'b/b.txt', { bytes: Buffer.from(B) });
    expect((await store.freeze('ann', r.snapshot)).frozen).toBe(true);

    // One upload that lasts longer than the hour: what arrived before it stays meanwhile.
    const slow = await store.newSnapshot('ann', {
      name: 'slow',
      tag: 'v1',
      fileHashes: {
        'c.txt': { sha1: sha1('gamma'), permissions: perms },
        'd.bin': { sha1: sha1('delta'), permissions: perms },
      },
    });
    await store.upload('ann', slow.snapshot, 'c.txt', { bytes: Buffer.from('gamma') });
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    async function* slowly() {
      yield Buffer.from('del');
      await held;
      yield Buffer.from('ta');
    }
    const inFlight = store.upload('ann', slow.snapshot, 'd.bin', { stream: slowly() });
    await new Promise((r) => setTimeout(r, 50));
    now += 2 * 60 * minute;
    await store.gc();
    expect(await store.objects.has(sha1('gamma'))).toBe(true);
    release();
    await inFlight;
    expect((await store.freeze('ann', slow.snapshot)).frozen).toBe(true);

    // Abandoned: nothing arrives for two hours, and gc reclaims what it had received.
    const left = await store.newSnapshot('ann', {
      name: 'left',
      tag: 'v1',
      fileHashes: { 'e.txt': { sha1: sha1('epsilon'), permissions: perms } },
    });
    await store.upload('ann', left.snapshot, 'e.txt', { bytes: Buffer.from('epsilon') });
    now += 2 * 60 * minute;
    await store.gc();
    expect(await store.objects.has(sha1('epsilon'))).toBe(false);
    expect(await store.objects.has(sha1('gamma'))).toBe(true);
  });

  it("gc removes temp files that dead writers left an hour ago, never this process's", async () => {
    const store = await newStore();
    const dir = store.objects.tempDir;
    mkdirSync(dir, { recursive: true });
    const otherPid = process.pid === 1 ? 2 : process.pid - 1;
    const dead = join(dir, `.${sha1('x')}.${otherPid}-0a1b2c3d-7.tmp`);
    const ours = join(dir, `.${sha1('y')}.${process.pid}-1-0a1b2c3d-8.tmp`);
    const young = join(dir, `.${sha1('z')}.${otherPid}-0a1b2c3d-9.tmp`);
    for (const f of [dead, ours, young]) writeFileSync(f, 'partial');
    const old = new Date(Date.now() - 2 * 60 * 60 * 1000);
    utimesSync(dead, old, old);
    utimesSync(ours, old, old);
    expect((await store.gc()).removedTempFiles).toBe(1);
    expect(readdirSync(dir).sort()).toEqual(
      [ours, young].map((f) => f.slice(dir.length + 1)).sort(),
    );
  });

  it('a damaged record is skipped by listings with a warning, stops gc, and can be removed', async () => {
    const warnings: string[] = [];
    const store = await Store.open(join(tempDir(), 'store'), {
      onWarning: (m) => warnings.push(m),
    });
    await fullSnapshot(store, 'ann', 'good', 'v1');
    const bad = await store.newSnapshot('ann', {
      name: 'bad',
      tag: 'v1',
      fileHashes: { 'only.txt': { sha1: sha1('only'), permissions: perms } },
    });
    await store.upload('ann', bad.snapshot, 'only.txt', { bytes: Buffer.from('only') });
    await store.freeze('ann', bad.snapshot);
    const file = store.records.recordPath('ann', 'bad', 'v1');
    writeFileSync(file, '{"trunc');
    expect((await store.list('ann')).map((m) => m.name)).toEqual(['good']);
    expect(warnings).toEqual([
      `skipping ${file}: snapshot record is corrupt (snapup rm ann:bad/v1 removes it)`,
    ]);
    // A request naming nothing is matched against the others (B.1), not failed.
    const matched = await store.newSnapshot('ann', { fileHashes: manifest });
    expect(matched.snapshot).toMatchObject({ name: 'good', tag: 'v1', frozen: true });
    // gc cannot know what the damaged record referenced: it removes nothing.
    await expect(store.gc()).rejects.toMatchObject({
      code: 'CORRUPT_STORE',
      message: `${file}: snapshot record is corrupt; gc removes nothing while a record cannot be read: remove it with snapup rm ann:bad/v1, or put a good copy back`,
    });
    expect(await store.objects.has(sha1('only'))).toBe(true);
    // Another user cannot remove it; its owner can.
    await expect(
      store.remove('bob', { owner: 'ann', name: 'bad', tag: 'v1' }),
    ).rejects.toMatchObject({
      code: 'CORRUPT_STORE',
    });
    await store.remove('ann', { name: 'bad', tag: 'v1' });
    expect(await store.gc()).toMatchObject({ removedObjects: 1 });
    expect(await store.objects.has(sha1('only'))).toBe(false);
    expect(await store.objects.has(sha1(A))).toBe(true);
  });

  it('A4: stores inline files and freezes when nothing is missing', async () => {
    const store = await newStore();
    const r = await store.single(
      'ann',
      { name: 'one', tag: 'shot' },
      { 'a.txt': { content: { bytes: Buffer.from(A) }, permissions: { ro: true, exe: true } } },
    );
    expect(r).toMatchObject({ snapshot: { frozen: true }, notFound: [] });
    const partial = await store.single(
      'ann',
      { name: 'two', fileHashes: manifest },
      { 'a.txt': { content: { bytes: Buffer.from(A) }, permissions: perms } },
    );
    expect(partial.snapshot.frozen).toBe(false);
    expect(partial.notFound).toEqual([sha1(B)]);
  });

  it('refuses to open a non-empty folder that is not a store', async () => {
    const dir = tempDir();
    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(dir, 'precious.txt'), 'x');
    await expect(Store.open(dir)).rejects.toThrow(/not empty and is not a snapup store/);
  });
});

describe('durability', () => {
  it('fsyncs each object, pack and the manifest of a freeze that wrote a few files', async () => {
    const store = await newStore();
    const r = await store.newSnapshot('ann', { name: 'app', tag: 'v1', fileHashes: manifest });
    // One content loose (A2), one in a pack (a batch).
    await store.upload('ann', r.snapshot, 'a.txt', { bytes: Buffer.from(A) });
    await store.uploadBatch('ann', r.snapshot, [{ path: 'b/b.txt', bytes: Buffer.from(B) }]);
    const synced = vi.spyOn(store.records, 'syncManifest');
    expect(await store.freeze('ann', r.snapshot)).toMatchObject({ frozen: true });
    // Not the whole file system (its cost depends on what else is dirty there).
    expect(synced).toHaveBeenCalledOnce();
  });

  it('flushes the whole file system for many files, and fsyncs each without the sync command', async () => {
    const store = await newStore();
    const hashes: string[] = [];
    for (let i = 0; i < 1001; i++)
      hashes.push((await store.objects.putBuffer(Buffer.from(`object ${i}`))).sha1);
    expect(await store.objects.flush(hashes.slice(0, 10))).toBe(false);
    if (process.platform === 'linux') expect(await store.objects.flush(hashes)).toBe(true);
    const path = process.env.PATH;
    process.env.PATH = tempDir();
    try {
      expect(await store.objects.flush(hashes)).toBe(false);
    } finally {
      process.env.PATH = path;
    }
  });
});

describe('frozenWithDigest', () => {
  it('finds a frozen, visible, live snapshot with that manifest digest, and nothing else', async () => {
    let now = Date.now();
    const store = await newStore(() => now);
    const meta = await fullSnapshot(store, 'ann', 'app', 'v1', { expirationTimeSec: 60 });
    const digest = meta.manifestDigest as string;
    const at = { name: 'app', tag: 'v1' };
    expect(await store.frozenWithDigest('ann', at, digest)).toMatchObject({ tag: 'v1' });
    expect(await store.frozenWithDigest('ann', at, '0'.repeat(64))).toBeUndefined();
    expect(await store.frozenWithDigest('ann', { name: 'app', tag: 'v2' }, digest)).toBeUndefined();
    // Another user who may not see it, and an unfrozen snapshot with the same manifest.
    expect(await store.frozenWithDigest('bob', { ...at, owner: 'ann' }, digest)).toBeUndefined();
    await store.newSnapshot('ann', { name: 'app', tag: 'wip', fileHashes: manifest });
    expect(
      await store.frozenWithDigest('ann', { name: 'app', tag: 'wip' }, digest),
    ).toBeUndefined();
    now += 120_000;
    expect(await store.frozenWithDigest('ann', at, digest)).toBeUndefined();
  });
});

describe('large files', () => {
  it('are copied on a worker: verified against the declared hash, nothing left on a mismatch, the source named when it fails', async () => {
    const store = await newStore();
    const dir = tempDir();
    const big = Buffer.alloc(3 << 20, 7);
    big.write('distinct', 12345);
    const file = join(dir, 'big.bin');
    writeFileSync(file, big);
    const objects = store.objects;
    await expect(objects.putFile(file, sha1('something else'))).rejects.toMatchObject({
      code: 'HASH_MISMATCH',
      message: expect.stringContaining(file),
    });
    expect(await objects.has(sha1(big))).toBe(false);
    expect(readdirSync(objects.tempDir)).toEqual([]);
    expect(await objects.putFile(file, sha1(big))).toEqual({ sha1: sha1(big), size: big.length });
    const chunks: Buffer[] = [];
    for await (const c of objects.read(sha1(big))) chunks.push(c);
    expect(Buffer.concat(chunks).equals(big)).toBe(true);
    await expect(
      objects.putFile(join(dir, 'gone.bin'), undefined, undefined, 3 << 20),
    ).rejects.toMatchObject({
      message: expect.stringContaining(join(dir, 'gone.bin')),
    });
  });

  it('streamed in, are verified on a worker when declared large, and on this thread when not, whatever the declaration', async () => {
    const store = await newStore();
    const objects = store.objects;
    const big = Buffer.alloc((2 << 20) + 5, 3);
    big.write('streamed', 777);
    async function* chunks(bytes: Buffer) {
      for (let at = 0; at < bytes.length; at += 64 * 1024) yield bytes.subarray(at, at + 64 * 1024);
    }
    // A declared size only picks where the hash is taken: the bytes that arrive decide.
    for (const hint of [big.length, 10, undefined, 100 << 20]) {
      await expect(
        objects.putStream(chunks(big), sha1('something else'), 'up.bin', hint),
      ).rejects.toMatchObject({
        code: 'HASH_MISMATCH',
        message: expect.stringContaining('up.bin'),
      });
      expect(await objects.has(sha1(big))).toBe(false);
      expect(readdirSync(objects.tempDir)).toEqual([]);
    }
    const small = Buffer.from('a small body');
    expect(await objects.putStream(chunks(small), sha1(small), 'small', 50 << 20)).toEqual({
      sha1: sha1(small),
      size: small.length,
    });
    expect(await objects.putStream(chunks(big), sha1(big), 'up.bin', big.length)).toEqual({
      sha1: sha1(big),
      size: big.length,
    });
    const back: Buffer[] = [];
    for await (const c of objects.read(sha1(big))) back.push(c);
    expect(Buffer.concat(back).equals(big)).toBe(true);
    expect(readdirSync(objects.tempDir)).toEqual([]);
  });
});

describe('which content the store lacks', () => {
  it.each([
    ['few, looked up one by one', 3],
    ['many, looked up by listing shard folders', 600],
  ])('finds packed and loose objects and names the rest once (%s)', async (_how, absentCount) => {
    const objects = (await newStore()).objects;
    const packed = await objects.putFiles(
      ['p1', 'p2'].map((t) => ({ bytes: Buffer.from(t), expected: sha1(t), origin: t })),
    );
    expect(packed.every((r) => !(r instanceof Error))).toBe(true);
    const loose = await objects.putBuffer(Buffer.from('loose one'));
    const absent = Array.from({ length: absentCount }, (_, i) => sha1(`absent ${i}`));
    const asked = [sha1('p1'), loose.sha1, ...absent, sha1('p2'), absent[0] as string];
    const missing = await objects.missing(asked);
    expect([...missing]).toEqual(absent);
    expect(await objects.missing(new Set(asked))).toEqual(missing);
    expect(await objects.has(loose.sha1)).toBe(true);
    expect(await objects.has(absent[1] as string)).toBe(false);
  });
});
