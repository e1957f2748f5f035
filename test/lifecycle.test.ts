/**
 * One lifecycle suite, four backends (restic's way: one interface, one shared test).
 * local: the store on disk; cb: `snapup serve` on 127.0.0.1; datalayer and verge: small
 * stateful fakes of their APIs on 127.0.0.1. Each step runs where the capability exists.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DatalayerLifecycle } from '../src/adapters/datalayer/lifecycle.js';
import { VergeLifecycle } from '../src/adapters/verge/lifecycle.js';
import { LocalBackend } from '../src/backends/local.js';
import { SnapupError } from '../src/errors.js';
import { DirectoryLifecycle } from '../src/lifecycle/directory.js';
import type {
  CreateOptions,
  RestoreOptions,
  RestoreResult,
  SnapshotLifecycle,
} from '../src/lifecycle/model.js';
import {
  type DatalayerState,
  type FakeServer,
  fakeDatalayer,
  fakeVerge,
  MOCK_JWT,
  type VergeState,
} from './fake-apis.js';
import { tempDir, writeTree } from './helpers.js';
import { clientFor, testServer } from './server-helpers.js';

interface Harness {
  life: SnapshotLifecycle;
  /** Options that create a snapshot named `name`. */
  create(name: string): CreateOptions;
  restore(): RestoreOptions;
  /** Checks the restore had its effect. */
  restored(result: RestoreResult, id: string): void;
  /** A create option this backend does not have. */
  unsupported: Partial<CreateOptions>;
  /** An id that names nothing. */
  missing: string;
  close(): Promise<void>;
}

function sourceTree(): string {
  const dir = tempDir();
  writeTree(dir, { 'index.html': '<h1>hi</h1>', 'lib/app.js': 'console.log(1)' });
  return dir;
}

const dirRestore = () => ({ dest: join(tempDir(), 'restored') });
const dirRestored = (r: RestoreResult) => {
  expect(r.kind).toBe('directory');
  expect(readFileSync(join(r.target, 'lib/app.js'), 'utf8')).toBe('console.log(1)');
};

const harnesses: Record<string, () => Promise<Harness>> = {
  async local() {
    const backend = await LocalBackend.open(tempDir());
    const src = sourceTree();
    return {
      life: new DirectoryLifecycle(backend, 'local'),
      create: (name) => ({ name, tag: 'v1', source: src }),
      restore: dirRestore,
      restored: dirRestored,
      unsupported: { immutable: true },
      missing: 'nothing/here',
      close: async () => {},
    };
  },
  async cb() {
    const server = await testServer();
    const src = sourceTree();
    return {
      life: new DirectoryLifecycle(clientFor(server), 'cb'),
      create: (name) => ({ name, tag: 'v1', source: src, retentionSec: 3600 }),
      restore: dirRestore,
      restored: dirRestored,
      unsupported: { runtime: 'pod-1' },
      missing: 'nothing/here',
      close: () => server.close(),
    };
  },
  async datalayer() {
    const fake: FakeServer<DatalayerState> = await fakeDatalayer();
    return {
      life: new DatalayerLifecycle({ baseUrl: fake.url, token: MOCK_JWT, pollInitialMs: 5 }),
      create: (name) => ({ name, runtime: 'pod-1', description: 'nightly state' }),
      restore: () => ({ minutes: 60 }),
      restored: (r, id) => {
        expect(r.kind).toBe('runtime');
        expect(fake.state.runtimes.at(-1)).toMatchObject({
          from: id,
          pod_name: r.target,
          credits_limit: 36,
        });
      },
      unsupported: { retentionSec: 60 },
      missing: 'snap-404',
      close: () => fake.close(),
    };
  },
  async verge() {
    const fake: FakeServer<VergeState> = await fakeVerge();
    const life = new VergeLifecycle({ host: fake.url, username: 'admin', password: 'secret' });
    life.pollIntervalMs = 5;
    return {
      life,
      create: (name) => ({ name, retentionSec: 3600, private: true }),
      restore: () => ({ vm: 'web', newName: 'web-restored', wait: true }),
      restored: (r, id) => {
        expect(r).toMatchObject({ kind: 'vm', status: 'complete', snapshotId: id });
        expect(fake.state.recovered.at(-1)).toEqual({
          table: 'cloud_snapshot_vm_actions',
          body: { action: 'recover', params: { rows: [Number(r.target)], name: 'web-restored' } },
        });
      },
      unsupported: { source: '/tmp' },
      missing: '999',
      close: () => fake.close(),
    };
  },
};

describe.each(Object.keys(harnesses))('snapshot lifecycle: %s', (kind) => {
  let h: Harness;
  let id: string;
  beforeAll(async () => {
    h = await (harnesses[kind] as () => Promise<Harness>)();
  });
  afterAll(async () => {
    await h.life.close();
    await h.close();
  });

  it('starts empty', async () => {
    expect(await h.life.list()).toEqual([]);
  });

  it('creates a snapshot and describes it in the one model', async () => {
    const info = await h.life.create(h.create('nightly'));
    id = info.id;
    expect(info.backend).toBe(kind);
    expect(info.name).toBe('nightly');
    expect(id).not.toBe('');
    expect(info.raw).toBeTruthy();
  });

  it('lists and gets it by its id, and filters by name', async () => {
    await h.life.create(h.create('other'));
    const all = await h.life.list();
    expect(all.map((s) => s.name).sort()).toEqual(['nightly', 'other']);
    const got = await h.life.get(id);
    expect(got.id).toBe(id);
    expect(got.name).toBe('nightly');
    expect((await h.life.list({ name: 'nightly' })).map((s) => s.id)).toEqual([id]);
    expect(await h.life.list({ limit: 1 })).toHaveLength(1);
  });

  it('says NOT_FOUND for an id that names nothing', async () => {
    const err = await h.life.get(h.missing).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SnapupError);
    expect((err as SnapupError).code).toBe('NOT_FOUND');
    expect((err as SnapupError).exitCode).toBe(3);
  });

  it('refuses an option the backend does not have, by name, before any change', async () => {
    const before = (await h.life.list()).length;
    const [option] = Object.keys(h.unsupported);
    const err = await h.life
      .create({ ...h.create('refused'), ...h.unsupported })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'UNSUPPORTED', field: option });
    expect((err as Error).message).toContain(`${kind}: create does not take ${option}`);
    expect(await h.life.list()).toHaveLength(before);
  });

  it('restores it (files, a runtime, or a VM)', async () => {
    const result = await h.life.restore(id, h.restore());
    expect(result.backend).toBe(kind);
    h.restored(result, id);
  });

  it('shows what it holds, where the backend can tell', async () => {
    if (!h.life.capabilities.has('contents') || !h.life.contents) {
      expect(h.life.contents).toBeUndefined();
      return;
    }
    const contents = await h.life.contents(id);
    if (contents.kind === 'files') {
      expect(contents.files.map((f) => f.path).sort()).toEqual(['index.html', 'lib/app.js']);
    } else {
      expect(contents.vms.map((v) => v.name)).toEqual(['web']);
      expect(contents.tenants.map((t) => t.name)).toEqual(['acme']);
    }
  });

  it('deletes it: gone from get and list', async () => {
    await h.life.delete(id, { wait: h.life.capabilities.has('wait') });
    await expect(h.life.get(id)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect((await h.life.list()).map((s) => s.name)).toEqual(['other']);
  });
});
