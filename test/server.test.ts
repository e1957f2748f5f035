import { spawn } from 'node:child_process';
import { appendFileSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CbClient } from '../src/client/cb-client.js';
import { pull, push } from '../src/index.js';
import type { RunningServer } from '../src/server/serve.js';
import { startServer } from '../src/server/serve.js';
import {
  bytes,
  CLI,
  manyFiles,
  readTree,
  runCli,
  sha1,
  signalWhenStored,
  tempDir,
  writeTree,
} from './helpers.js';
import { clientFor, PASSWORDS, testServer } from './server-helpers.js';

describe('push and pull over HTTP against snapup serve', () => {
  let server: RunningServer;
  let alice: CbClient;
  beforeAll(async () => {
    server = await testServer();
    alice = clientFor(server);
  });
  afterAll(async () => {
    await alice.close();
    await server.close();
  });

  it('round-trips a tree byte-identically; a second push sends nothing; a 1% edit sends only that', async () => {
    const src = tempDir();
    writeTree(src, {
      'a.txt': 'hello',
      'unicode/café 日本.txt': 'u',
      empty: '',
      'bin/x.sh': { content: '#!/bin/sh\n', mode: 0o755 },
      'ro.txt': { content: 'ro', mode: 0o444 },
      'big.bin': bytes(9, 3 * 1024 * 1024),
    });
    const files: Record<string, Buffer> = {};
    for (let i = 0; i < 100; i++) files[`many/f${i}.bin`] = bytes(100 + i, 1500);
    writeTree(src, files);
    const cacheDir = tempDir();
    const first = await push({
      dir: src,
      target: alice,
      name: 'app',
      tag: '1.0',
      cacheDir,
      singleMax: 0,
    });
    expect(first).toMatchObject({
      mode: 'multi',
      uploadedFiles: 106,
      snapshot: { name: 'app', tag: '1.0', frozen: true },
    });
    // 100 small files in one batch request, the big one alone: far fewer requests than files.
    expect(first.requests).toBeLessThan(10);

    const dest = join(tempDir(), 'out');
    await pull({ source: alice, address: { name: 'app', tag: '1.0' }, dest });
    expect(readTree(dest)).toEqual(readTree(src));

    const again = await push({ dir: src, target: alice, name: 'app', tag: '1.0', cacheDir });
    expect(again).toMatchObject({
      uploadedBytes: 0,
      uploadedFiles: 0,
      mode: 'none',
      hashedFiles: 0,
    });

    appendFileSync(join(src, 'many/f7.bin'), 'x');
    const past = new Date(Date.now() - 30_000);
    utimesSync(join(src, 'many/f7.bin'), past, past);
    const edit = await push({ dir: src, target: alice, name: 'app', tag: '1.1', cacheDir });
    expect(edit).toMatchObject({ uploadedFiles: 1, uploadedBytes: 1501, mode: 'single' });
  });

  it('matches an identical frozen snapshot under another name, and refuses a frozen tag with other content (409)', async () => {
    const src = tempDir();
    writeTree(src, { 'x.txt': 'frozen match' });
    await push({ dir: src, target: alice, name: 'orig', tag: 'v1', cacheDir: false });
    // A request that names nothing may be answered with the frozen snapshot (spec B.1).
    const answer = await alice.newSnapshot({
      fileHashes: {
        'x.txt': { sha1: sha1('frozen match'), permissions: { ro: false, exe: false } },
      },
    });
    expect(answer).toMatchObject({
      snapshot: { name: 'orig', tag: 'v1', frozen: true },
      notFound: [],
    });

    writeTree(src, { 'x.txt': 'other content' });
    await expect(
      push({ dir: src, target: alice, name: 'orig', tag: 'v1', cacheDir: false }),
    ).rejects.toMatchObject({
      code: 'FROZEN',
    });
  });

  it('enforces owners and every access level for a second user', async () => {
    const src = tempDir();
    writeTree(src, { 'shared.txt': 'shared' });
    const bob = clientFor(server, 'bob');
    const carl = clientFor(server, 'carl');
    try {
      for (const [name, accessLevel] of [
        ['inv', 'Invisible'],
        ['vis', 'Visible'],
        ['rw', 'ReadWrite'],
      ] as const) {
        await push({
          dir: src,
          target: alice,
          name,
          cacheDir: false,
          accessLevel,
          accessPerUser: { carl: 'ReadWrite' },
        });
      }
      const at = (name: string) => ({ owner: 'alice', name, tag: 'default' });
      await expect(bob.get(at('inv'))).rejects.toMatchObject({ code: 'NOT_FOUND' });
      expect((await bob.get(at('vis'))).snapshot.owner).toBe('alice');
      await expect(bob.remove(at('vis'))).rejects.toMatchObject({ code: 'FORBIDDEN' });
      const listed = (await bob.list({ owner: 'alice' })).map((s) => s.name).sort();
      expect(listed).toEqual(['rw', 'vis']);
      const dest = join(tempDir(), 'bob-out');
      await pull({ source: bob, address: at('vis'), dest });
      expect(readTree(dest)).toEqual(readTree(src));
      // Per-user grant overrides the level.
      expect((await carl.get(at('inv'))).snapshot.name).toBe('inv');
      await bob.remove(at('rw'));
      await expect(alice.get({ name: 'rw', tag: 'default' })).rejects.toMatchObject({
        code: 'NOT_FOUND',
      });
      // bob's own snapshots are his: same name, no clash with alice's.
      const mine = await push({ dir: src, target: bob, name: 'vis', cacheDir: false });
      expect(mine.snapshot).toMatchObject({ owner: 'bob', name: 'vis', tag: 'default' });
    } finally {
      await bob.close();
      await carl.close();
    }
  });

  it('expires snapshots and removes removeAfterExecute ones after their pull (410)', async () => {
    const src = tempDir();
    writeTree(src, { 'e.txt': 'expiring' });
    await push({ dir: src, target: alice, name: 'soon', cacheDir: false, expireSec: 1 });
    await push({
      dir: src,
      target: alice,
      name: 'once',
      cacheDir: false,
      removeAfterExecute: true,
    });
    await pull({
      source: alice,
      address: { name: 'once', tag: 'default' },
      dest: join(tempDir(), 'o'),
    });
    await expect(
      pull({
        source: alice,
        address: { name: 'once', tag: 'default' },
        dest: join(tempDir(), 'o2'),
      }),
    ).rejects.toMatchObject({
      code: 'GONE',
    });
    await new Promise((r) => setTimeout(r, 1100));
    await expect(alice.get({ name: 'soon', tag: 'default' })).rejects.toMatchObject({
      code: 'GONE',
    });
    expect((await alice.list()).map((s) => s.name)).not.toContain('soon');
  });

  it('handles concurrent pushes of overlapping trees', async () => {
    const a = tempDir();
    const b = tempDir();
    manyFiles(a, 120, 3000, 0);
    manyFiles(b, 120, 3000, 60);
    const [ra, rb] = await Promise.all([
      push({ dir: a, target: alice, name: 'ov-a', cacheDir: false, singleMax: 0 }),
      push({ dir: b, target: clientFor(server), name: 'ov-b', cacheDir: false, singleMax: 0 }),
    ]);
    expect(ra.snapshot.frozen && rb.snapshot.frozen).toBe(true);
    for (const [name, dir] of [
      ['ov-a', a],
      ['ov-b', b],
    ] as const) {
      const dest = join(tempDir(), name);
      await pull({ source: alice, address: { name, tag: 'default' }, dest });
      expect(readTree(dest)).toEqual(readTree(dir));
    }
  });
});

describe('two pushes to one name/tag at the same time', () => {
  /** `client` with its freeze preceded by `before` (the other push's moment). */
  function freezingAfter(client: CbClient, before: () => Promise<unknown>): CbClient {
    const target = Object.create(client) as CbClient;
    target.freeze = async (address, signal) => {
      await before();
      return client.freeze(address, signal);
    };
    return target;
  }

  it('the one whose freeze makes a snapshot of both contents fails instead of reporting it as its own', async () => {
    const server = await testServer();
    const alice = clientFor(server);
    try {
      const mine = tempDir();
      writeTree(mine, { 'b1.txt': 'b one', 'b2.txt': 'b two' });
      const theirs = tempDir();
      writeTree(theirs, { 'a.txt': 'a only' });
      const address = { name: 'same', tag: 'v1' };
      // The other push declared first; ours replaces its manifest (B.10); its upload then
      // lands as an undeclared path (B.3) just before our freeze.
      await alice.newSnapshot({
        ...address,
        fileHashes: { 'a.txt': { sha1: sha1('a only'), permissions: { ro: false, exe: false } } },
      });
      const target = freezingAfter(alice, () =>
        alice.upload(address, {
          path: 'a.txt',
          abs: join(theirs, 'a.txt'),
          sha1: sha1('a only'),
          size: 6,
          permissions: { ro: false, exe: false },
        }),
      );
      await expect(
        push({ dir: mine, target, ...address, cacheDir: false, singleMax: 0 }),
      ).rejects.toMatchObject({
        code: 'CONFLICT',
        message:
          "same/v1 was frozen holding other content than this push's (3 files, this push 2): another push to it ran at the same time; remove it (snapup rm same/v1) and push again, or push under another tag",
      });
      expect(Object.keys((await alice.get(address)).fileHashes).sort()).toEqual([
        'a.txt',
        'b1.txt',
        'b2.txt',
      ]);
    } finally {
      await alice.close();
      await server.close();
    }
  });

  it('the one whose freeze found the snapshot frozen by the other fails, the other succeeds', async () => {
    const server = await testServer();
    const alice = clientFor(server);
    const other = clientFor(server);
    try {
      const mine = tempDir();
      writeTree(mine, { 'mine.txt': 'mine' });
      const theirs = tempDir();
      writeTree(theirs, { 'theirs.txt': 'theirs', 'more.txt': 'more' });
      const address = { name: 'same', tag: 'v2' };
      let theirResult: Awaited<ReturnType<typeof push>> | undefined;
      const target = freezingAfter(alice, async () => {
        theirResult = await push({
          dir: theirs,
          target: other,
          ...address,
          cacheDir: false,
          singleMax: 0,
        });
      });
      await expect(
        push({ dir: mine, target, ...address, cacheDir: false, singleMax: 0 }),
      ).rejects.toMatchObject({ code: 'CONFLICT' });
      expect(theirResult?.snapshot.frozen).toBe(true);
      const dest = join(tempDir(), 'out');
      await pull({ source: alice, address, dest });
      expect(readTree(dest)).toEqual(readTree(theirs));
    } finally {
      await Promise.all([alice.close(), other.close()]);
      await server.close();
    }
  });
});

describe('interruptions over HTTP', () => {
  it('resumes after the client process is killed mid-push', async () => {
    const server = await testServer();
    try {
      const src = tempDir();
      // 600 × 50 KB: several 8 MiB batches, so the kill lands between two of them.
      manyFiles(src, 600, 50_000);
      const env = {
        SNAPUP_USER: 'alice',
        SNAPUP_PASSWORD: PASSWORDS.alice as string,
        XDG_CACHE_HOME: tempDir(),
      };
      const child = spawn(
        process.execPath,
        [
          CLI,
          'push',
          src,
          '--server',
          server.url,
          '--name',
          'killed',
          '--single-max',
          '0',
          '--concurrency',
          '1',
        ],
        { env: { ...process.env, ...env }, stdio: 'ignore' },
      );
      await signalWhenStored(child, server.store.root, 20, 'SIGKILL');
      const r = await runCli(
        ['push', src, '--server', server.url, '--name', 'killed', '--single-max', '0', '--json'],
        { env },
      );
      expect(r.stderr).toBe('');
      const summary = JSON.parse(r.stdout);
      expect(summary.uploadedFiles).toBeLessThan(600);
      expect(summary.snapshot).toMatchObject({ name: 'killed', frozen: true });
    } finally {
      await server.close();
    }
  });

  it('rides out a server restart in the middle of a push', async () => {
    const dataDir = tempDir();
    let server = await testServer({}, dataDir);
    const port = Number(new URL(server.url).port);
    const src = tempDir();
    manyFiles(src, 200, 20_000);
    const client = clientFor(server, 'alice', {
      retry: { minDelayMs: 100, maxDelayMs: 400, retries: 10 },
      connections: 2,
    });
    let restarted = false;
    const pushing = push({
      dir: src,
      target: client,
      name: 'restart',
      cacheDir: false,
      singleMax: 0,
      concurrency: 2,
      onEvent: (e) => {
        if (e.type === 'upload' && !restarted) {
          restarted = true;
          void (async () => {
            await server.close();
            server = await startServer({ dataDir, port, sweepIntervalMs: 3_600_000 });
          })();
        }
      },
    });
    const summary = await pushing;
    expect(restarted).toBe(true);
    expect(summary.snapshot).toMatchObject({ name: 'restart', frozen: true });
    const dest = join(tempDir(), 'out');
    await pull({ source: client, address: { name: 'restart', tag: 'default' }, dest });
    expect(readTree(dest)).toEqual(readTree(src));
    await client.close();
    await server.close();
  });
});
