import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { LocalBackend, PushTarget } from '../src/index.js';
import { openStore, pull, push } from '../src/index.js';
import {
  CLI,
  manyFiles,
  readTree,
  runCli,
  signalWhen,
  signalWhenStored,
  storedObjects,
  tempDir,
  writeTree,
} from './helpers.js';

/** The local store as a target that stores nothing while hashing: all content is uploaded. */
function uploadingOnly(store: LocalBackend): PushTarget {
  return Object.create(store, { openStaging: { value: undefined } });
}

/** Staged packs waiting in the store's temp folder. */
const stagedIn = (store: string) =>
  readdirSync(join(store, 'tmp')).some((n) => n.startsWith('.pack.'));

/**
 * Pushes `src` once into another store with the same hash cache: the next push then
 * hashes nothing, so it stores nothing while hashing and uploads every file after
 * negotiation (as when pushing a known tree to a new store), where the kill lands.
 */
async function warmHashCache(src: string, env: NodeJS.ProcessEnv) {
  const other = { ...env, SNAPUP_STORE: join(tempDir(), 'other-store') } as Record<string, string>;
  expect((await runCli(['push', src, '--name', 'warm'], { env: other })).code).toBe(0);
}

describe('interrupted pushes', () => {
  it('resumes an aborted push, sending only what is still missing', async () => {
    const src = tempDir();
    manyFiles(src, 600, 2000);
    const store = await openStore(join(tempDir(), 'store'));
    const controller = new AbortController();
    let uploads = 0;
    await expect(
      push({
        dir: src,
        target: uploadingOnly(store),
        name: 'r',
        cacheDir: false,
        singleMax: 0,
        concurrency: 1,
        signal: controller.signal,
        onEvent: (e) => {
          // Small files travel in batches of 256: stop after the first batch.
          if (e.type === 'upload' && ++uploads === 1) controller.abort(new Error('stop'));
        },
      }),
    ).rejects.toMatchObject({ code: 'ABORTED' });
    const stored = storedObjects(store.store.root).length;
    expect(stored).toBeGreaterThanOrEqual(1);
    expect(stored).toBeLessThan(600);
    expect((await store.list())[0]).toMatchObject({ name: 'r', tag: 'default', frozen: false });

    const again = await push({ dir: src, target: store, name: 'r', cacheDir: false, singleMax: 0 });
    expect(again.uploadedFiles).toBe(600 - stored);
    expect(again.snapshot).toMatchObject({ name: 'r', tag: 'default', frozen: true });
    const dest = join(tempDir(), 'out');
    await pull({ source: store, address: { name: 'r', tag: 'default' }, dest });
    expect(readTree(dest)).toEqual(readTree(src));
  });

  it('leaves nothing when aborted while it stores content as it hashes, and resumes', async () => {
    const src = tempDir();
    manyFiles(src, 2500, 2000);
    const root = join(tempDir(), 'store');
    const store = await openStore(root);
    const controller = new AbortController();
    await expect(
      push({
        dir: src,
        target: store,
        name: 's',
        cacheDir: false,
        signal: controller.signal,
        onEvent: (e) => {
          // The first batch the workers hashed has been staged.
          if (e.type === 'hash' && e.files > 0) controller.abort(new Error('stop'));
        },
      }),
    ).rejects.toMatchObject({ code: 'ABORTED' });
    expect(readdirSync(join(root, 'tmp'))).toEqual([]);
    expect(storedObjects(root)).toEqual([]);
    expect(await store.list()).toEqual([]);

    const again = await push({ dir: src, target: store, name: 's', cacheDir: false });
    expect(again).toMatchObject({ uploadedFiles: 2500, requests: 2 });
    expect(again.snapshot).toMatchObject({ name: 's', frozen: true });
    expect(readdirSync(join(root, 'tmp'))).toEqual([]);
    const dest = join(tempDir(), 'out');
    await pull({ source: store, address: { name: 's', tag: 'default' }, dest });
    expect(readTree(dest)).toEqual(readTree(src));
  });

  it('resumes after the push process is killed (SIGKILL) and leaves the store consistent', async () => {
    const src = tempDir();
    // Larger than a batch's files: uploaded one by one after negotiation, so a kill can
    // land with part of them stored.
    manyFiles(src, 40, (1 << 20) + 4096);
    const store = join(tempDir(), 'store');
    const env = { ...process.env, SNAPUP_STORE: store, XDG_CACHE_HOME: tempDir() };
    await warmHashCache(src, env);
    const child = spawn(
      process.execPath,
      [CLI, 'push', src, '--name', 'k', '--single-max', '0', '--concurrency', '1'],
      {
        env,
        stdio: 'ignore',
      },
    );
    // Kill once part of the content arrived.
    await signalWhenStored(child, store, 8, 'SIGKILL');
    await new Promise((r) => child.on('close', r));
    const before = storedObjects(store).length;
    expect(before).toBeLessThan(40);
    // Every published object is complete: its name is its content's hash.
    const opened = await openStore(store);
    for (const sha1 of storedObjects(store).slice(0, 40)) {
      for await (const _ of opened.store.readObject(sha1)) {
        // reading verifies the hash
      }
    }
    const r = await runCli(['push', src, '--name', 'k', '--single-max', '0', '--json'], { env });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary.uploadedFiles).toBe(40 - before);
    expect(summary.snapshot).toMatchObject({ name: 'k', tag: 'default', frozen: true });
    const dest = join(tempDir(), 'out');
    expect((await runCli(['pull', 'k', dest], { env })).code).toBe(0);
    expect(readTree(dest)).toEqual(readTree(src));
  });
});

describe('an interrupted push (SIGTERM, as from Ctrl-C)', () => {
  const cases = [
    {
      when: 'while it uploads',
      files: [40, (1 << 20) + 4096] as const,
      warm: true,
      // Signalled once content is arriving: the store's lock has been taken by then, which
      // loads proper-lockfile's signal hook (it must not turn the clean stop into a kill).
      ready: (store: string) => storedObjects(store).length >= 8,
    },
    { when: 'while it stores content as it hashes', files: [3000, 4000] as const, ready: stagedIn },
    {
      when: 'while it copies large files as it hashes',
      files: [24, 4 << 20] as const,
      ready: (store: string) =>
        readdirSync(join(store, 'tmp')).some((n) => n.startsWith('.stage.')),
    },
  ];
  for (const { when, files, ready, warm } of cases) {
    it(`stops cleanly ${when}: exit code 130 and a message, no temp file left, and resumes`, async () => {
      const src = tempDir();
      manyFiles(src, files[0], files[1]);
      const store = join(tempDir(), 'store');
      const env = { SNAPUP_STORE: store, XDG_CACHE_HOME: tempDir() };
      if (warm) await warmHashCache(src, { ...process.env, ...env });
      const child = spawn(
        process.execPath,
        [CLI, 'push', src, '--name', 't', '--single-max', '0', '--concurrency', '1'],
        { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] },
      );
      let stderr = '';
      child.stderr.on('data', (d) => {
        stderr += d;
      });
      await signalWhen(child, () => ready(store), 'SIGTERM');
      const code = await new Promise<number | null>((r) => child.on('close', (c) => r(c)));
      expect(code).toBe(130);
      expect(stderr).toMatch(/interrupted by SIGTERM.*run the same command again to resume/);
      expect(readdirSync(join(store, 'tmp'))).toEqual([]);
      const before = storedObjects(store).length;
      expect(before).toBeLessThan(files[0]);
      const r = await runCli(['push', src, '--name', 't', '--single-max', '0', '--json'], {
        env,
      });
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({
        uploadedFiles: files[0] - before,
        snapshot: { name: 't', frozen: true },
      });
    });
  }
});

describe('an interrupted pull', () => {
  it('stops with exit code 130, says the files stay and to pull again with --force, which finishes', async () => {
    const src = tempDir();
    manyFiles(src, 3000, 2000);
    const store = join(tempDir(), 'store');
    const env = { SNAPUP_STORE: store, XDG_CACHE_HOME: tempDir() };
    expect((await runCli(['push', src, '--name', 'p'], { env })).code).toBe(0);
    const dest = join(tempDir(), 'out');
    const child = spawn(process.execPath, [CLI, 'pull', 'p', dest, '--concurrency', '1'], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const written = () => readdirSync(dest, { recursive: true }).length;
    await signalWhen(child, () => written() >= 50, 'SIGINT');
    const code = await new Promise<number | null>((r) => child.on('close', (c) => r(c)));
    expect(code).toBe(130);
    expect(stderr).toContain(
      `interrupted by SIGINT; the files written so far stay in ${dest}: pull again with --force to finish`,
    );
    const names = readdirSync(dest, { recursive: true }).map(String);
    expect(names.filter((n) => n.endsWith('.tmp'))).toEqual([]);
    expect(names.filter((n) => n.endsWith('.bin')).length).toBeLessThan(3000);
    expect((await runCli(['pull', 'p', dest], { env })).code).toBe(2);
    const finished = names.filter((n) => n.endsWith('.bin')).length;
    const again = await runCli(['pull', 'p', dest, '--force', '--json'], { env });
    expect(again.code).toBe(0);
    // Only what the stopped pull had not written is fetched.
    expect(JSON.parse(again.stdout)).toMatchObject({
      files: 3000,
      keptFiles: finished,
      downloadedFiles: 3000 - finished,
    });
    expect(readTree(dest)).toEqual(readTree(src));
  });

  it('pull --force keeps a file only when its content is right, and mends its permissions', async () => {
    const src = tempDir();
    writeTree(src, {
      'same.txt': 'same content',
      'same-size.txt': 'aaaa',
      'longer.txt': 'short',
      'tool.sh': { content: '#!/bin/sh\n', mode: 0o755 },
      'gone.txt': 'pulled again',
    });
    const env = { SNAPUP_STORE: join(tempDir(), 'store'), XDG_CACHE_HOME: tempDir() };
    expect((await runCli(['push', src, '--name', 'k'], { env })).code).toBe(0);
    const dest = tempDir();
    writeTree(dest, {
      'same.txt': 'same content',
      'same-size.txt': 'bbbb', // same size, other content: must be fetched
      'longer.txt': 'short, and then some',
      'tool.sh': { content: '#!/bin/sh\n', mode: 0o644 }, // right content, lost its exe bit
      'extra.txt': 'not in the snapshot: left alone',
    });
    const r = await runCli(['pull', 'k', dest, '--force', '--json'], { env });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      files: 5,
      keptFiles: 2,
      keptBytes: 'same content'.length + '#!/bin/sh\n'.length,
      downloadedFiles: 3,
    });
    const { 'extra.txt': extra, ...pulled } = readTree(dest);
    expect(pulled).toEqual(readTree(src));
    expect(extra).toBeDefined();
    expect(statSync(join(dest, 'tool.sh')).mode & 0o777).toBe(0o755);
    const text = await runCli(['pull', 'k', dest, '--force'], { env });
    expect(text.stdout).toMatch(/: 5 files, .* \(5 already there, 43 B not fetched\)\n$/);
  });
});

describe('concurrent pushes', () => {
  it('two processes pushing overlapping trees into one store both succeed', async () => {
    const a = tempDir();
    const b = tempDir();
    manyFiles(a, 150, 8000, 0);
    manyFiles(b, 150, 8000, 75); // half of b's contents are a's
    const store = join(tempDir(), 'store');
    const env = { SNAPUP_STORE: store, XDG_CACHE_HOME: tempDir() };
    const [ra, rb] = await Promise.all([
      runCli(['push', a, '--name', 'a', '--single-max', '0', '--json'], { env }),
      runCli(['push', b, '--name', 'b', '--single-max', '0', '--json'], { env }),
    ]);
    expect([ra.code, rb.code, ra.stderr, rb.stderr]).toEqual([0, 0, '', '']);
    expect(storedObjects(store).length).toBe(225);
    expect(readdirSync(join(store, 'tmp'))).toEqual([]);
    for (const [name, dir] of [
      ['a', a],
      ['b', b],
    ] as const) {
      const dest = join(tempDir(), `out-${name}`);
      expect((await runCli(['pull', name, dest], { env })).code).toBe(0);
      expect(readTree(dest)).toEqual(readTree(dir));
    }
  });
});
