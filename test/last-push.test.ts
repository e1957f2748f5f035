/**
 * An unchanged folder pushed again under the same name is the same snapshot, even after
 * an edit moved the name to a generated tag (see src/engine/last-push.ts).
 */
import { utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CbClient, type ServerInfo } from '../src/client/cb-client.js';
import { type LocalBackend, openStore, type PushOptions, push } from '../src/index.js';
import type { RunningServer } from '../src/server/serve.js';
import { tempDir, writeTree } from './helpers.js';
import { clientFor, PASSWORDS, testServer } from './server-helpers.js';

function setup() {
  const dir = tempDir();
  writeTree(dir, { 'a.txt': 'one', 'b/b.txt': 'two' });
  return { dir, cacheDir: tempDir() };
}

/** Rewrites a file with an mtime in the past, so the hash cache cannot trust it. */
function edit(dir: string, path: string, content: string) {
  writeFileSync(join(dir, path), content);
  const past = new Date(Date.now() - 60_000);
  utimesSync(join(dir, path), past, past);
}

async function tags(store: LocalBackend): Promise<string[]> {
  return (await store.list({ name: 'app' })).map((s) => s.tag).sort();
}

describe('pushing an unchanged folder again', () => {
  it('after an edit, returns the edited snapshot instead of making a copy each time', async () => {
    const { dir, cacheDir } = setup();
    const store = await openStore(tempDir());
    const base: PushOptions = { dir, target: store, name: 'app', cacheDir };
    expect((await push(base)).snapshot.tag).toBe('default');
    edit(dir, 'a.txt', 'edited');
    const edited = await push(base);
    expect(edited.snapshot.tag).not.toBe('default');
    expect(edited.uploadedFiles).toBe(1);

    const again = await push(base);
    expect(again.snapshot).toMatchObject({ tag: edited.snapshot.tag, frozen: true });
    expect(again).toMatchObject({ mode: 'none', uploadedFiles: 0, requests: 1 });
    expect(await push(base)).toMatchObject({ snapshot: { tag: edited.snapshot.tag } });
    expect(await tags(store)).toEqual(['default', edited.snapshot.tag].sort());
  });

  it('with other snapshot options, or an explicit tag, makes the snapshot asked for', async () => {
    const { dir, cacheDir } = setup();
    const store = await openStore(tempDir());
    const base: PushOptions = { dir, target: store, name: 'app', cacheDir };
    await push(base);
    edit(dir, 'a.txt', 'edited');
    const edited = await push(base);
    const visible = await push({ ...base, accessLevel: 'Visible' });
    expect(visible.snapshot.tag).not.toBe(edited.snapshot.tag);
    expect((await push({ ...base, tag: 'v9' })).snapshot.tag).toBe('v9');
    // The last push (v9) is what an unchanged push returns next.
    expect((await push(base)).snapshot.tag).toBe('v9');
    expect(await tags(store)).toHaveLength(4);
  });

  it('when the remembered tag now holds other content, pushes as if there were no memory', async () => {
    const { dir, cacheDir } = setup();
    const store = await openStore(tempDir());
    const base: PushOptions = { dir, target: store, name: 'app', cacheDir };
    await push(base);
    edit(dir, 'a.txt', 'edited');
    const { tag } = (await push(base)).snapshot;
    await store.remove({ name: 'app', tag });
    const other = tempDir();
    writeTree(other, { 'z.txt': 'other content' });
    await push({ dir: other, target: store, name: 'app', tag, cacheDir: tempDir() });

    const again = await push(base);
    expect(again.snapshot.frozen).toBe(true);
    expect(again.snapshot.tag).not.toBe(tag);
    expect(again.snapshot.tag).not.toBe('default');
  });

  it('without a hash cache folder, remembers nothing (each push after an edit is new)', async () => {
    const { dir } = setup();
    const store = await openStore(tempDir());
    const base: PushOptions = { dir, target: store, name: 'app', cacheDir: false };
    await push(base);
    edit(dir, 'a.txt', 'edited');
    const first = await push(base);
    const second = await push(base);
    expect(second.snapshot.tag).not.toBe(first.snapshot.tag);
  });
});

describe('over HTTP', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await testServer();
  });
  afterAll(() => server.close());

  /** A client that counts its newSnapshot calls (each sends the whole manifest). */
  function counting(options: { list?: boolean } = {}) {
    const calls = { newSnapshot: 0 };
    class Counting extends CbClient {
      override newSnapshot(...args: Parameters<CbClient['newSnapshot']>) {
        calls.newSnapshot++;
        return super.newSnapshot(...args);
      }
      override async serverInfo(): Promise<ServerInfo> {
        const info = await super.serverInfo();
        if (options.list !== false) return info;
        return { ...info, extensions: info.extensions.filter((e) => e !== 'list') };
      }
    }
    const client = new Counting({
      server: server.url,
      credentials: { user: 'alice', password: PASSWORDS.alice as string },
    });
    return { client, calls };
  }

  it('confirms an unchanged push from the listing (manifest digests) without sending the manifest', async () => {
    const { dir, cacheDir } = setup();
    const { client, calls } = counting();
    try {
      const base: PushOptions = { dir, target: client, name: 'web', cacheDir };
      await push(base);
      edit(dir, 'a.txt', 'edited');
      const edited = await push(base);
      expect(calls.newSnapshot).toBe(2);
      const again = await push(base);
      expect(again.snapshot).toMatchObject({ tag: edited.snapshot.tag, frozen: true });
      expect(again).toMatchObject({ mode: 'none', uploadedFiles: 0, requests: 1 });
      expect(calls.newSnapshot).toBe(2);
      // Removed meanwhile: not in the listing, so it is pushed again under its tag.
      await client.remove(edited.snapshot);
      const back = await push(base);
      expect(back.snapshot).toMatchObject({ tag: edited.snapshot.tag, frozen: true });
      expect(calls.newSnapshot).toBe(3);
    } finally {
      await client.close();
    }
  });

  it('without the list extension, names the remembered snapshot in newSnapshot instead', async () => {
    const { dir, cacheDir } = setup();
    const { client, calls } = counting({ list: false });
    try {
      const base: PushOptions = { dir, target: client, name: 'site', cacheDir };
      await push(base);
      edit(dir, 'a.txt', 'edited');
      const edited = await push(base);
      const again = await push(base);
      expect(again.snapshot.tag).toBe(edited.snapshot.tag);
      expect(calls.newSnapshot).toBe(3);
      const lister = clientFor(server);
      expect((await lister.list({ name: 'site' })).map((s) => s.tag).sort()).toEqual(
        ['default', edited.snapshot.tag].sort(),
      );
      await lister.close();
    } finally {
      await client.close();
    }
  });
});
