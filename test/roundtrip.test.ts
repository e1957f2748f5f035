import { appendFileSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openStore, pull, push } from '../src/index.js';
import {
  bytes,
  expectManifestOf,
  readTree,
  sha1,
  storedObjects,
  tempDir,
  writeTree,
} from './helpers.js';
import { clientFor, testServer } from './server-helpers.js';

function richTree(root: string) {
  writeTree(root, {
    'README.md': '# hello\n',
    'empty.txt': '',
    'with space/na me.txt': 'spaces\n',
    'unicode/café-日本語.txt': 'unicode name\n',
    'deep/a/b/c/d/e/f/g/h/i/j/leaf.txt': 'deep\n',
    'bin/run.sh': { content: '#!/bin/sh\necho hi\n', mode: 0o755 },
    'ro/locked.txt': { content: 'read only\n', mode: 0o444 },
    'ro/locked-exe': { content: 'ro exe\n', mode: 0o555 },
    'data/big.bin': bytes(1, 3 * 1024 * 1024 + 17),
    'data/small.bin': bytes(2, 5000),
    'dup/one.txt': 'same content\n',
    'dup/two.txt': 'same content\n',
    'dup/three.txt': 'same content\n',
  });
}

describe('push and pull round trip', () => {
  it('brings back a byte-identical tree with exe and ro bits', async () => {
    const src = tempDir();
    richTree(src);
    const store = await openStore(join(tempDir(), 'store'));
    const cacheDir = tempDir();
    const summary = await push({ dir: src, target: store, name: 'rich', tag: 'v1', cacheDir });
    expect(summary.snapshot).toMatchObject({ name: 'rich', tag: 'v1', frozen: true });
    expect(summary.files).toBe(13);

    const dest = join(tempDir(), 'out');
    await pull({ source: store, address: { name: 'rich', tag: 'v1' }, dest });
    const before = readTree(src);
    const after = readTree(dest);
    expect(after).toEqual(before);
    expect(after['bin/run.sh']?.mode).toBe(0o755);
    expect(after['ro/locked.txt']?.mode).toBe(0o444);
    expect(after['ro/locked-exe']?.mode).toBe(0o555);
  });

  it('uploads nothing and reads no file on a second push of an unchanged tree', async () => {
    const src = tempDir();
    richTree(src);
    const store = await openStore(join(tempDir(), 'store'));
    const cacheDir = tempDir();
    const first = await push({ dir: src, target: store, name: 'x', cacheDir });
    expect(first.hashedFiles).toBe(13);
    const second = await push({ dir: src, target: store, name: 'x', cacheDir });
    expect(second).toMatchObject({
      uploadedBytes: 0,
      uploadedFiles: 0,
      hashedFiles: 0,
      hashedBytes: 0,
      cachedFiles: 13,
      mode: 'none',
    });
    expect(second.snapshot).toMatchObject({ name: 'x', tag: 'default', frozen: true });
    expect(second.dedupBytes).toBe(second.bytes);
  });

  it('sends only the edited files after a 1% edit', async () => {
    const src = tempDir();
    const files: Record<string, Buffer> = {};
    for (let i = 0; i < 200; i++) files[`f/${i % 10}/file-${i}.bin`] = bytes(1000 + i, 2000 + i);
    writeTree(src, files);
    const store = await openStore(join(tempDir(), 'store'));
    const cacheDir = tempDir();
    await push({ dir: src, target: store, name: 'e', tag: 'v1', cacheDir });
    // Edit 2 of 200 files (1%).
    appendFileSync(join(src, 'f/3/file-3.bin'), 'edit');
    writeFileSync(join(src, 'f/7/file-77.bin'), bytes(9, 300));
    const past = new Date(Date.now() - 30_000);
    utimesSync(join(src, 'f/3/file-3.bin'), past, past);
    utimesSync(join(src, 'f/7/file-77.bin'), past, past);
    const s = await push({ dir: src, target: store, name: 'e', tag: 'v2', cacheDir, singleMax: 0 });
    expect(s.uploadedFiles).toBe(2);
    expect(s.uploadedBytes).toBe(2000 + 3 + 4 + 300);
    expect(s.hashedFiles).toBe(2);
    expect(s.mode).toBe('multi');
    const dest = join(tempDir(), 'out');
    await pull({ source: store, address: { name: 'e', tag: 'v2' }, dest });
    expect(readTree(dest)).toEqual(readTree(src));
  });

  it('stores duplicate contents within a tree once', async () => {
    const src = tempDir();
    const content = bytes(5, 10_000);
    writeTree(src, {
      'a.bin': content,
      'b/a.bin': content,
      'c/d/a.bin': content,
      'other.txt': 'x',
    });
    const storeDir = join(tempDir(), 'store');
    const store = await openStore(storeDir);
    const s = await push({ dir: src, target: store, name: 'd', cacheDir: false, singleMax: 0 });
    expect(s.uploadedFiles).toBe(2);
    expect(s.uploadedBytes).toBe(10_001);
    expect(s.dedupTreeBytes).toBe(20_000);
    expect(storedObjects(storeDir).sort()).toEqual([sha1(content), sha1('x')].sort());
  });

  it('gives the same snapshot in single and multi mode', async () => {
    const src = tempDir();
    richTree(src);
    const a = await openStore(join(tempDir(), 'a'));
    const b = await openStore(join(tempDir(), 'b'));
    const single = await push({
      dir: src,
      target: a,
      name: 's',
      cacheDir: false,
      singleMax: 1 << 30,
    });
    const multi = await push({ dir: src, target: b, name: 's', cacheDir: false, singleMax: 0 });
    expect(single.mode).toBe('single');
    expect(multi.mode).toBe('multi');
    expect(single.manifestDigest).toBe(multi.manifestDigest);
    const sa = await a.get({ name: 's', tag: 'default' });
    const sb = await b.get({ name: 's', tag: 'default' });
    expect(sa.fileHashes).toEqual(sb.fileHashes);
    expect(sa.snapshot.frozen && sb.snapshot.frozen).toBe(true);
  });

  it('pushes an empty directory as an empty snapshot', async () => {
    const store = await openStore(join(tempDir(), 'store'));
    const s = await push({ dir: tempDir(), target: store, name: 'empty', cacheDir: false });
    expect(s).toMatchObject({ files: 0, uploadedFiles: 0, mode: 'none' });
    expect(s.snapshot.frozen).toBe(true);
  });

  it('reports progress through one event stream', async () => {
    const src = tempDir();
    richTree(src);
    const store = await openStore(join(tempDir(), 'store'));
    const types = new Set<string>();
    const stages: string[] = [];
    await push({
      dir: src,
      target: store,
      name: 'ev',
      cacheDir: false,
      singleMax: 0,
      onEvent: (e) => {
        types.add(e.type);
        if (e.type === 'stage' && e.state === 'end') stages.push(e.stage);
      },
    });
    expect([...types]).toEqual(
      expect.arrayContaining(['stage', 'scan', 'hash', 'negotiate', 'summary']),
    );
    expect(stages).toEqual(['scan', 'hash', 'negotiate', 'upload', 'freeze']);
    // Everything, the 3 MiB file included, was stored while hashed: nothing to upload.
    expect(types.has('upload')).toBe(false);
  });

  it('keeps file contents identical for a pulled big file', async () => {
    const src = tempDir();
    const big = bytes(77, 5 * 1024 * 1024);
    writeTree(src, { 'big.bin': big });
    const store = await openStore(join(tempDir(), 'store'));
    await push({ dir: src, target: store, name: 'big', cacheDir: false, singleMax: 0 });
    const dest = join(tempDir(), 'out');
    await pull({ source: store, address: { name: 'big', tag: 'default' }, dest });
    expect(readFileSync(join(dest, 'big.bin')).equals(big)).toBe(true);
  });
});

describe('the manifest a local push writes', () => {
  it('is read back by another process as the tree, odd names and a streamed file included', async () => {
    const src = tempDir();
    const files: Record<string, string | Buffer> = {
      'quote " name': 'q\n',
      'tab\there': 't\n',
      '123': 'numeric name\n',
      '7/8': 'numeric folder\n',
      'é/日本.txt': 'unicode\n',
      'big.bin': bytes(5, 3 << 20),
    };
    Object.defineProperty(files, '__proto__', { value: 'proto\n', enumerable: true });
    writeTree(src, files);
    const root = join(tempDir(), 'store');
    const summary = await push({
      dir: src,
      target: await openStore(root),
      name: 'odd',
      cacheDir: false,
      singleMax: 0,
    });
    expect(summary).toMatchObject({ skipped: 0, snapshot: { frozen: true, fileCount: 7 } });
    // A fresh store reads the manifest file and checks it against its digest.
    const { fileHashes } = await (await openStore(root)).get({ name: 'odd', tag: 'default' });
    expectManifestOf(fileHashes, files);
  });
});

describe('file names that are also names of object members', () => {
  // A plain `map[path] = entry` makes a file named __proto__ the map's prototype: the
  // file would silently be left out of the snapshot.
  const tricky = {
    ['__proto__']: 'proto file\n',
    'd/__proto__': 'nested proto\n',
    constructor: 'ctor\n',
    'hasOwnProperty/toString': 'x\n',
  };

  for (const singleMax of [0, 1 << 30]) {
    it(`keep every file, locally and over HTTP (${singleMax === 0 ? 'multi' : 'single'})`, async () => {
      const src = tempDir();
      const files: Record<string, string> = {};
      for (const [k, v] of Object.entries(tricky))
        Object.defineProperty(files, k, { value: v, enumerable: true });
      writeTree(src, files);
      const server = await testServer();
      try {
        for (const target of [await openStore(join(tempDir(), 'store')), clientFor(server)]) {
          const s = await push({ dir: src, target, name: 'odd', cacheDir: false, singleMax });
          expect(s).toMatchObject({ files: 4, snapshot: { frozen: true } });
          const { fileHashes } = await target.get({ name: 'odd', tag: 'default' });
          expect(Object.keys(fileHashes).sort()).toEqual(Object.keys(files).sort());
          const dest = join(tempDir(), 'out');
          await pull({ source: target, address: { name: 'odd', tag: 'default' }, dest });
          expect(readTree(dest)).toEqual(readTree(src));
          expect(readFileSync(join(dest, '__proto__'), 'utf8')).toBe('proto file\n');
          expect(readFileSync(join(dest, 'd', '__proto__'), 'utf8')).toBe('nested proto\n');
        }
      } finally {
        await server.close();
      }
    });
  }
});
