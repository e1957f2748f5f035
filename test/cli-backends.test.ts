/**
 * `snapup ls|show|create|restore|rm --backend datalayer|verge`, as a user runs them: the
 * real CLI process against the fakes on 127.0.0.1.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type DatalayerState,
  type FakeServer,
  fakeDatalayer,
  fakeVerge,
  MOCK_JWT,
  type VergeState,
} from './fake-apis.js';
import { ROOT, readTree, runCli, tempDir } from './helpers.js';

/** One line on stderr, no stack trace. */
function cleanError(stderr: string): string {
  expect(stderr.trim().split('\n')).toHaveLength(1);
  expect(stderr).not.toMatch(/\n\s+at /);
  return stderr.trim();
}

const isolated = () => ({
  SNAPUP_STORE: join(tempDir(), 'store'),
  XDG_CACHE_HOME: tempDir(),
  SNAPUP_SERVER: '',
  SNAPUP_BACKEND: '',
  DATALAYER_TOKEN: '',
  VERGE_TOKEN: '',
});

describe('snapup --backend datalayer', () => {
  let fake: FakeServer<DatalayerState>;
  let env: Record<string, string>;
  beforeAll(async () => {
    fake = await fakeDatalayer();
    env = {
      ...isolated(),
      SNAPUP_BACKEND: 'datalayer',
      DATALAYER_RUN_URL: fake.url,
      DATALAYER_TOKEN: MOCK_JWT,
    };
  });
  afterAll(() => fake.close());

  it('creates, lists, shows, restores into a new runtime and into a running one, removes', async () => {
    const created = await runCli(
      ['create', '--runtime', 'pod-1', '--name', 'before-upgrade', '--json'],
      { env },
    );
    expect(created.code, created.stderr).toBe(0);
    const info = JSON.parse(created.stdout);
    expect(info).toMatchObject({
      backend: 'datalayer',
      name: 'before-upgrade',
      neverExpires: true,
    });
    const id = info.id as string;

    const ls = await runCli(['ls'], { env });
    expect(ls.stdout).toMatch(
      new RegExp(
        `^ID\\s+STATUS\\s+SIZE.*\\n${id}\\s+ready\\s+2\\.0 KiB.*never.*before-upgrade$`,
        'm',
      ),
    );
    const show = await runCli(['show', id], { env });
    expect(show.stdout).toMatch(/backend {4}datalayer/);
    expect(show.stdout).toMatch(/size {7}2\.0 KiB/);

    const restored = await runCli(['restore', id, '--minutes', '30', '--json'], { env });
    expect(restored.code, restored.stderr).toBe(0);
    expect(JSON.parse(restored.stdout)).toMatchObject({ kind: 'runtime', status: 'started' });
    expect(fake.state.runtimes.at(-1)).toMatchObject({
      given_name: 'Restored from before-upgrade',
      from: id,
    });
    const loaded = await runCli(['restore', id, '--runtime', 'pod-1'], { env });
    expect(loaded.stdout).toMatch(new RegExp(`restored ${id} → runtime pod-1 \\(loaded\\)`));
    expect(fake.state.loads).toEqual([{ pod: 'pod-1', from: id }]);

    expect((await runCli(['rm', id, '--wait'], { env })).stdout).toBe(`removed ${id}\n`);
    const gone = await runCli(['show', id], { env });
    expect(gone.code).toBe(3);
    expect(cleanError(gone.stderr)).toBe('snapup: Snapshot not found');
  });

  it('says what is wrong, before any request: no token, a flag Datalayer lacks, push', async () => {
    const before = fake.requests.length;
    const noToken = await runCli(['ls'], { env: { ...env, DATALAYER_TOKEN: '' } });
    expect(noToken.code).toBe(2);
    expect(cleanError(noToken.stderr)).toMatch(/Authentication token is required/);
    const retention = await runCli(
      ['create', '--runtime', 'pod-1', '--name', 'x', '--retention', '1h'],
      { env },
    );
    expect(retention.code).toBe(2);
    expect(cleanError(retention.stderr)).toMatch(
      /datalayer: create does not take --retention \(it takes --name, --description, --runtime, --stop\)/,
    );
    const push = await runCli(['push', join(ROOT, 'fixtures', 'sample')], { env });
    expect(cleanError(push.stderr)).toMatch(/datalayer snapshots hold a runtime, not a folder/);
    expect(fake.requests.length).toBe(before);
  });

  it("an unknown pod is the server's 404 message with exit 3", async () => {
    const r = await runCli(['create', '--runtime', 'ghost', '--name', 'x'], { env });
    expect(r.code).toBe(3);
    expect(cleanError(r.stderr)).toBe("snapup: Runtime 'ghost' not found");
  });
});

describe('snapup --backend verge', () => {
  let fake: FakeServer<VergeState>;
  let env: Record<string, string>;
  beforeAll(async () => {
    fake = await fakeVerge();
    env = {
      ...isolated(),
      SNAPUP_BACKEND: 'verge',
      VERGE_HOST: fake.url,
      VERGE_USER: 'admin',
      VERGE_PASSWORD: 'secret',
    };
  });
  afterAll(() => fake.close());

  it('creates, shows VMs and tenants, recovers a VM, refuses to delete a locked immutable one', async () => {
    const plain = JSON.parse(
      (
        await runCli(['create', '--name', 'nightly', '--retention', '7d', '--private', '--json'], {
          env,
        })
      ).stdout,
    );
    expect(plain).toMatchObject({
      backend: 'verge',
      name: 'nightly',
      private: true,
      neverExpires: false,
    });
    const locked = await runCli(
      ['create', '--name', "it's locked", '--never-expire', '--immutable'],
      { env },
    );
    expect(locked.code, locked.stderr).toBe(0);
    expect(locked.stdout).toMatch(/created \d+ \(it's locked\) on verge, never expires/);

    const ls = await runCli(['ls', "it's*"], { env });
    expect(ls.stdout).toMatch(/\d+\s+normal\s+-\s+\S+ \S+\s+never\s+immutable\s+it's locked/);
    expect(ls.stdout).not.toMatch(/nightly/);

    const show = await runCli(['show', 'nightly'], { env });
    expect(show.stdout).toMatch(
      /VMs \(1\)\nKEY\s+NAME\s+STATUS\s+CPU\s+RAM\n\d+\s+web\s+idle\s+2\s+2048 MB/,
    );
    expect(show.stdout).toMatch(/Tenants \(1\)/);

    const restored = await runCli(
      ['restore', 'nightly', '--vm', 'web', '--new-name', 'web-2', '--wait'],
      { env },
    );
    expect(restored.stdout).toMatch(/restored nightly → vm \d+ \(complete\)/);
    expect(fake.state.recovered.at(-1)?.body).toMatchObject({
      action: 'recover',
      params: { name: 'web-2' },
    });

    const refused = await runCli(['rm', "it's locked"], { env });
    expect(refused.code).toBe(2);
    expect(cleanError(refused.stderr)).toBe(
      "snapup: Cannot delete immutable snapshot 'it's locked' while locked",
    );
    expect(fake.requests.filter((r) => r.method === 'DELETE')).toHaveLength(0);
    expect((await runCli(['rm', String(plain.id)], { env })).code).toBe(0);
    expect(fake.requests.filter((r) => r.method === 'DELETE')).toHaveLength(1);
  });

  it('bad credentials exit 7; a missing host or a bad backend name exit 2', async () => {
    const denied = await runCli(['ls'], { env: { ...env, VERGE_PASSWORD: 'wrong' } });
    expect(denied.code).toBe(7);
    expect(cleanError(denied.stderr)).toBe('snapup: Login required');
    const noHost = await runCli(['ls'], { env: { ...env, VERGE_HOST: '' } });
    expect(noHost.code).toBe(2);
    expect(cleanError(noHost.stderr)).toMatch(/verge host: required/);
    const bogus = await runCli(['ls', '--backend', 'nfs'], { env });
    expect(bogus.code).toBe(2);
    expect(cleanError(bogus.stderr)).toMatch(
      /backend: "nfs" is not one of local, cb, datalayer, verge/,
    );
  });
});

describe('snapup create/restore on the local store', () => {
  it('create --from and restore --into are push and pull', async () => {
    const env = isolated();
    const sample = join(ROOT, 'fixtures', 'sample');
    const created = await runCli(
      ['create', '--from', sample, '--name', 'site', '--tag', 'v2', '--json'],
      { env },
    );
    expect(created.code, created.stderr).toBe(0);
    expect(JSON.parse(created.stdout)).toMatchObject({
      backend: 'local',
      id: 'site/v2',
      status: 'frozen',
    });
    const dest = join(tempDir(), 'out');
    const restored = await runCli(['restore', 'site/v2', '--into', dest], { env });
    expect(restored.code, restored.stderr).toBe(0);
    expect(readTree(dest)).toEqual(readTree(sample));
    const vm = await runCli(['restore', 'site/v2', '--vm', 'web'], { env });
    expect(vm.code).toBe(2);
    expect(cleanError(vm.stderr)).toMatch(
      /local: restore does not take --vm \(it takes --into, --force\)/,
    );
  });
});
