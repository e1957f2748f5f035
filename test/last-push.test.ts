/**
 * An unchanged folder pushed again under the same name is the same snapshot, even after
 * an edit moved the name to a generated tag (see src/engine/last-push.ts).
 */
import { utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type LocalBackend, openStore, type PushOptions, push } from '../src/index.js';
import { tempDir, writeTree } from './helpers.js';

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
