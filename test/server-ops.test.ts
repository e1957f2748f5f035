import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { serverUrl } from '../src/server/serve.js';
import { CLI, manyFiles, ROOT, readTree, runCli, sha1, tempDir, writeTree } from './helpers.js';
import { basic, testServer } from './server-helpers.js';

/** A request body that sends `first`, then waits for `release` before finishing. */
function slowBody(first: string, release: Promise<void>): ReadableStream<Uint8Array> {
  return new ReadableStream({
    async start(controller) {
      controller.enqueue(new TextEncoder().encode(first));
      await release;
      controller.close();
    },
  });
}

/** A small tree and the environment that pushes it to a test server as alice. */
function aliceWithTree() {
  const src = tempDir();
  writeTree(src, { 'x.txt': 'x', 'y/z.txt': 'z' });
  const env = {
    SNAPUP_USER: 'alice',
    SNAPUP_PASSWORD: 'alice-password',
    XDG_CACHE_HOME: tempDir(),
  };
  return { src, env };
}

describe('server operations', () => {
  it('answers 503 with Retry-After when too many uploads are in flight', async () => {
    const server = await testServer({ maxInflightUploads: 1 });
    try {
      const headers = { authorization: basic('alice'), 'content-type': 'application/json' };
      const made = await fetch(`${server.url}/cb/newSnapshot`, {
        method: 'POST',
        headers,
        body: JSON.stringify({
          name: 'busy',
          fileHashes: {
            'a.txt': { sha1: sha1('slow upload'), permissions: { ro: false, exe: false } },
          },
        }),
      });
      expect(made.status).toBe(200);
      let release = () => {};
      const released = new Promise<void>((r) => {
        release = r;
      });
      const slow = fetch(`${server.url}/cb/snapshots/busy/default/files/a.txt`, {
        method: 'POST',
        headers: { authorization: basic('alice'), 'content-type': 'application/octet-stream' },
        body: slowBody('slow ', released),
        duplex: 'half',
      } as RequestInit);
      await new Promise((r) => setTimeout(r, 200));
      const second = await fetch(`${server.url}/cb/snapshots/busy/default/files/b.txt`, {
        method: 'POST',
        headers: { authorization: basic('alice'), 'content-type': 'application/octet-stream' },
        body: 'other',
      });
      expect(second.status).toBe(503);
      expect(second.headers.get('retry-after')).toBe('1');
      release();
      // The first upload's remaining bytes never come ("slow " only): 422, the slot frees.
      const first = await slow;
      expect(first.status).toBe(422);
      const third = await fetch(`${server.url}/cb/snapshots/busy/default/files/a.txt`, {
        method: 'POST',
        headers: { authorization: basic('alice'), 'content-type': 'application/octet-stream' },
        body: 'slow upload',
      });
      expect(third.status).toBe(201);
    } finally {
      await server.close();
    }
  });

  it('shuts down cleanly on SIGTERM and leaves no temp files', async () => {
    const data = tempDir();
    expect(
      (
        await runCli(['user', 'add', 'alice', '--data', data], {
          env: { SNAPUP_PASSWORD: 'alice-password' },
        })
      ).code,
    ).toBe(0);
    const child = spawn(process.execPath, [CLI, 'serve', '--data', data, '--port', '0', '--json'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d) => {
        out += d;
        const m = /"url": "([^"]+)"/.exec(out);
        if (m?.[1]) resolve(m[1]);
      });
      child.on('exit', () => reject(new Error('server exited early')));
    });
    const { src, env } = aliceWithTree();
    expect(
      (await runCli(['push', src, '--server', url, '--name', 'before-stop'], { env })).code,
    ).toBe(0);
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    const tmp = join(data, 'store', 'tmp');
    expect(statSync(tmp).isDirectory()).toBe(true);
    expect(readdirSync(tmp)).toEqual([]);
  });

  it('serve refuses a port in use, an invalid port and an address not its own with one clear line', async () => {
    const { createServer } = await import('node:net');
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    const port = (taken.address() as import('node:net').AddressInfo).port;
    try {
      const cases: [string[], RegExp][] = [
        [
          ['--port', String(port)],
          new RegExp(`127\\.0\\.0\\.1:${port}: the port is already in use`),
        ],
        [['--port', '65536'], /port: "65536" is not a port \(0 to 65535\)/],
        [['--port', 'http'], /port: "http" must be a whole number/],
        [
          ['--port', '0', '--host', 'no-such-host.invalid'],
          /--host no-such-host\.invalid: no such host/,
        ],
      ];
      for (const [args, message] of cases) {
        const r = await runCli(['serve', '--data', tempDir(), ...args]);
        expect(r.stderr).toMatch(message);
        expect(r.stderr).not.toMatch(/unexpected|\n\s+at /);
        expect(r.code).toBe(2);
      }
    } finally {
      taken.close();
    }
  });

  it('names its URL with an IPv6 address in brackets', () => {
    expect(serverUrl('127.0.0.1', 8080)).toBe('http://127.0.0.1:8080');
    expect(serverUrl('::1', 8080)).toBe('http://[::1]:8080');
    expect(new URL(serverUrl('::', 0)).hostname).toBe('[::]');
  });

  it('a users file that is unreadable or not JSON is one line naming it, for user add and serve', async () => {
    const file = join(tempDir(), 'plain-file');
    writeFileSync(file, 'x');
    const notDir = await runCli(['user', 'add', 'bob', '--data', file], {
      env: { SNAPUP_PASSWORD: 'bob-password' },
    });
    expect(notDir.stderr).toBe(`snapup: ${join(file, 'users.json')}: not a directory\n`);
    expect(notDir.code).toBe(2);
    const data = tempDir();
    writeFileSync(join(data, 'users.json'), '{"users": ');
    for (const args of [
      ['user', 'add', 'bob', '--data', data],
      ['serve', '--data', data, '--port', '0'],
    ]) {
      const r = await runCli(args, { env: { SNAPUP_PASSWORD: 'bob-password' } });
      expect(r.stderr).toBe(`snapup: ${join(data, 'users.json')}: users file is corrupt\n`);
      expect(r.code).toBe(5);
    }
  });

  it('closes a connection that stops sending in the middle of an upload, freeing its slot', async () => {
    const { startServer } = await import('../src/server/serve.js');
    const server = await startServer({
      dataDir: tempDir(),
      port: 0,
      sweepIntervalMs: 3_600_000,
      limits: { maxInflightUploads: 1 },
      idleTimeoutMs: 300,
    });
    try {
      await server.users.add('alice', 'alice-password');
      const auth = basic('alice');
      const made = await fetch(`${server.url}/cb/newSnapshot`, {
        method: 'POST',
        headers: { authorization: auth, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'app', tag: 'v1' }),
      });
      expect(made.status).toBe(200);
      const { connect } = await import('node:net');
      const port = Number(new URL(server.url).port);
      const stalled = connect(port, '127.0.0.1');
      const closed = new Promise<void>((r) => stalled.on('close', () => r()));
      stalled.on('error', () => {});
      stalled.write(
        `POST /cb/snapshots/app/v1/files/big.bin HTTP/1.1\r\nhost: x\r\nauthorization: ${auth}\r\ncontent-type: application/octet-stream\r\ncontent-length: 100000\r\n\r\n${'x'.repeat(10)}`,
      );
      const upload = () =>
        fetch(`${server.url}/cb/snapshots/app/v1/files/small.txt`, {
          method: 'POST',
          headers: { authorization: auth, 'content-type': 'application/octet-stream' },
          body: 'small',
        });
      await new Promise((r) => setTimeout(r, 100));
      expect((await upload()).status).toBe(503);
      await closed;
      // The handler lets go of the slot a moment after the connection is gone.
      const deadline = Date.now() + 3000;
      let status = (await upload()).status;
      while (status === 503 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
        status = (await upload()).status;
      }
      expect(status).toBe(201);
      expect(readdirSync(join(server.store.root, 'tmp'))).toEqual([]);
      // A server slower to answer than the idle time (a freeze's fsync) keeps the connection.
      const freeze = server.store.freeze.bind(server.store);
      server.store.freeze = async (...args) => {
        await new Promise((r) => setTimeout(r, 1000));
        return freeze(...args);
      };
      const frozen = await fetch(`${server.url}/cb/snapshots/app/v1/freeze`, {
        method: 'POST',
        headers: { authorization: auth },
      });
      expect(frozen.status).toBe(200);
      expect(((await frozen.json()) as { frozen: boolean }).frozen).toBe(true);
    } finally {
      await server.close();
    }
  });

  it('a running server sees users added, given a new password or removed by snapup user', async () => {
    const data = tempDir();
    const warnings: string[] = [];
    const { startServer } = await import('../src/server/serve.js');
    const server = await startServer({
      dataDir: data,
      port: 0,
      sweepIntervalMs: 3_600_000,
      onWarning: (m) => warnings.push(m),
    });
    const status = async (user: string, password: string) =>
      (
        await fetch(`${server.url}/cb/snapshots`, {
          headers: {
            authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
          },
        })
      ).status;
    /** The status the server settles on within 3 s (it looks at the file once a second). */
    const settles = async (user: string, password: string, want: number) => {
      const deadline = Date.now() + 3000;
      let got = await status(user, password);
      while (got !== want && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        got = await status(user, password);
      }
      return got;
    };
    const user = (args: string[], password?: string) =>
      runCli(['user', ...args, '--data', data], {
        env: password ? { SNAPUP_PASSWORD: password } : {},
      });
    try {
      expect(await status('dora', 'dora-password')).toBe(401);
      const added = await user(['add', 'dora'], 'dora-password');
      expect(added.stderr).toBe('user dora added\n');
      expect(await settles('dora', 'dora-password', 200)).toBe(200);
      const changed = await user(['add', 'dora'], 'dora-other-password');
      expect(changed.stderr).toBe('password of dora changed\n');
      expect(await settles('dora', 'dora-password', 401)).toBe(401);
      expect(await status('dora', 'dora-other-password')).toBe(200);
      expect((await user(['add', 'erin'], 'erin-password')).code).toBe(0);
      expect((await user(['list'])).stdout).toBe('dora\nerin\n');
      expect(JSON.parse((await runCli(['user', 'list', '--data', data, '--json'])).stdout)).toEqual(
        {
          users: ['dora', 'erin'],
        },
      );
      const removed = await user(['rm', 'dora']);
      expect(removed.stderr).toBe('user dora removed\n');
      expect(await settles('dora', 'dora-other-password', 401)).toBe(401);
      expect(await settles('erin', 'erin-password', 200)).toBe(200);
      // A file broken while the server runs: the users read before stay, and it says why.
      writeFileSync(join(data, 'users.json'), '{"users": ');
      await new Promise((r) => setTimeout(r, 1100));
      expect(await status('erin', 'erin-password')).toBe(200);
      expect(warnings).toEqual([
        `${join(data, 'users.json')}: users file is corrupt; the users read before stay`,
      ]);
    } finally {
      await server.close();
    }
  });

  it('user rm of a user not there, user add of a bad name, and a user named like a built-in', async () => {
    const data = tempDir();
    const missing = await runCli(['user', 'rm', 'nobody', '--data', data]);
    expect(missing.stderr).toBe(
      `snapup: user nobody: no such user in ${join(data, 'users.json')}\n`,
    );
    expect(missing.code).toBe(3);
    // The name is checked before a password is asked for.
    const bad = await runCli(['user', 'add', 'bad name', '--data', data], {
      env: { SNAPUP_PASSWORD: '' },
    });
    expect(bad.stderr).toMatch(/^snapup: user: "bad name" is invalid/);
    expect(bad.code).toBe(2);
    const empty = await runCli(['user', 'list', '--data', data]);
    expect(empty.stdout).toBe('');
    expect(empty.stderr).toMatch(/no users in/);
    // "constructor" is a valid name that every plain object answers to: not a user here.
    const server = await testServer({}, data);
    try {
      const r = await fetch(`${server.url}/cb/snapshots`, {
        headers: { authorization: basic('constructor', 'whatever-pw') },
      });
      expect(r.status).toBe(401);
    } finally {
      await server.close();
    }
  });

  it('a server that cannot be reached is named as such, not as lacking an extension', async () => {
    const { createServer } = await import('node:net');
    // A port that was free a moment ago: nothing listens there now.
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as import('node:net').AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const r = await runCli(['ls', '--server', `http://127.0.0.1:${port}`], {
      env: { SNAPUP_USER: 'alice', SNAPUP_PASSWORD: 'alice-password' },
    });
    expect(r.stderr).toContain(`http://127.0.0.1:${port}/cb/health: connect ECONNREFUSED`);
    expect(r.stderr).toContain('(is the server running?)');
    expect(r.stderr).not.toContain('does not offer');
    expect(r.code).toBe(6);
    // The address is checked first: without --user too, the URL is what is wrong.
    const login = await runCli(['login', 'not-a-url'], { env: { SNAPUP_USER: '' } });
    expect(login.stderr).toBe(
      'snapup: server: "not-a-url" is not a URL like http://127.0.0.1:8080\n',
    );
    expect(login.code).toBe(2);
  });

  it('a pull cut off from its server says the files stay; pull --force then fetches only the rest', async () => {
    const data = tempDir();
    const first = await testServer({}, data);
    const src = tempDir();
    manyFiles(src, 3000, 2000);
    const env = {
      SNAPUP_USER: 'alice',
      SNAPUP_PASSWORD: 'alice-password',
      XDG_CACHE_HOME: tempDir(),
    };
    expect(
      (await runCli(['push', src, '--server', first.url, '--name', 'cut'], { env })).code,
    ).toBe(0);
    const dest = join(tempDir(), 'out');
    const child = spawn(
      process.execPath,
      [CLI, 'pull', 'cut', dest, '--server', first.url, '--concurrency', '1'],
      { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const exited = new Promise<number | null>((r) => child.on('close', (c) => r(c)));
    const written = () =>
      readdirSync(dest, { recursive: true }).filter((n) => String(n).endsWith('.bin')).length;
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        if (existsSync(dest) && written() > 0) {
          clearInterval(timer);
          resolve();
        }
      }, 5);
    });
    first.app.server.closeAllConnections();
    await first.close();
    expect(await exited).toBe(6);
    expect(stderr).toContain(
      `(is the server running?); the files written so far stay in ${dest}: pull again with --force to finish`,
    );
    const finished = written();
    expect(finished).toBeGreaterThan(0);
    expect(finished).toBeLessThan(3000);
    const second = await testServer({}, data);
    try {
      const again = await runCli(
        ['pull', 'cut', dest, '--server', second.url, '--force', '--json'],
        { env },
      );
      expect(again.code).toBe(0);
      expect(JSON.parse(again.stdout)).toMatchObject({
        keptFiles: finished,
        downloadedFiles: 3000 - finished,
      });
      expect(readTree(dest)).toEqual(readTree(src));
    } finally {
      await second.close();
    }
  });

  it('snapup bench against a server names it, and says a push sends at most what it shows', async () => {
    const server = await testServer();
    try {
      const { src, env } = aliceWithTree();
      const r = await runCli(['bench', src, '--server', server.url], { env });
      expect(r.code).toBe(0);
      // A CB server cannot say what it holds without a newSnapshot: no "already stored" row.
      expect(r.stdout).toMatch(/a push sends at most\s+2\s+2 B/);
      expect(r.stdout).not.toContain('already stored');
      expect(r.stdout).toContain(`looked up in: CB server ${new URL(server.url).origin}`);
      expect(r.stdout).toContain('note: CB server');
    } finally {
      await server.close();
    }
  });

  it('a server out of space answers 507; the CLI names it, says the push resumes, and it does', async () => {
    const server = await testServer();
    try {
      const { fsError } = await import('../src/errors.js');
      const full = () =>
        Promise.reject(
          fsError(Object.assign(new Error('ENOSPC'), { code: 'ENOSPC' }), 'objects', 'copy'),
        );
      const store = server.store as unknown as Record<string, unknown>;
      const kept = { upload: store.upload, uploadBatch: store.uploadBatch, single: store.single };
      Object.assign(store, { upload: full, uploadBatch: full, single: full });
      const { src, env } = aliceWithTree();
      const args = ['push', src, '--server', server.url, '--name', 'full'];
      const failed = await runCli(args, { env });
      expect(failed.code).toBe(6);
      expect(failed.stderr).toContain('the server is out of space (HTTP 507)');
      expect(failed.stderr).toContain('run the same command again to resume');
      expect(failed.stderr).not.toMatch(/\n\s+at /);
      Object.assign(store, kept);
      const again = await runCli([...args, '--json'], { env });
      expect(again.code).toBe(0);
      expect(JSON.parse(again.stdout).snapshot).toMatchObject({ name: 'full', frozen: true });
    } finally {
      await server.close();
    }
  });

  it('login checks credentials with a read where the server lists, leaving every snapshot', async () => {
    const server = await testServer();
    try {
      const { src, env } = aliceWithTree();
      const named = ['push', src, '--name', 'snapup-login-check', '--tag', 'none'];
      expect((await runCli(named, { env: { ...env, SNAPUP_SERVER: server.url } })).code).toBe(0);
      const netrc = join(tempDir(), 'netrc');
      const login = await runCli(['login', server.url, '--user', 'alice'], {
        env: { ...env, NETRC: netrc },
      });
      expect(login.code).toBe(0);
      const kept = await runCli(['show', 'snapup-login-check/none', '--json'], {
        env: { ...env, SNAPUP_SERVER: server.url },
      });
      expect(kept.code).toBe(0);
      expect(JSON.parse(kept.stdout).raw.frozen).toBe(true);
    } finally {
      await server.close();
    }
  });

  it('login against a Part A server: a 404 for the removal passes, a 401 fails', async () => {
    const deletes: string[] = [];
    const server = createServer((req, res) => {
      if (req.method === 'DELETE') deletes.push(req.url ?? '');
      const ok = req.headers.authorization === basic('alice');
      res.writeHead(req.url === '/cb/health' ? 404 : ok ? 404 : 401, {
        'content-type': 'application/json',
      });
      res.end('{}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const netrc = join(tempDir(), 'netrc');
      const env = { NETRC: netrc, SNAPUP_PASSWORD: 'alice-password' };
      const good = await runCli(['login', url, '--user', 'alice'], { env });
      expect(good.code).toBe(0);
      expect(readFileSync(netrc, 'utf8')).toMatch(/login alice password alice-password/);
      expect(deletes).toEqual(['/cb/snapshots/snapup-login-check/none']);
      const bad = await runCli(['login', url, '--user', 'alice', '--password', 'wrong'], { env });
      expect(bad.code).toBe(7);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('user add, login, and the CLI against a server: push, ls, show, pull, rm', async () => {
    const data = tempDir();
    const server = await testServer({}, data);
    try {
      const netrc = join(tempDir(), 'netrc');
      const base = { NETRC: netrc, XDG_CACHE_HOME: tempDir() };
      const add = await runCli(['user', 'add', 'dora', '--data', data], {
        env: { SNAPUP_PASSWORD: 'dora-password' },
      });
      expect(add.code).toBe(0);
      await server.users.reload();
      const bad = await runCli(['login', server.url, '--user', 'dora', '--password', 'nope-nope'], {
        env: base,
      });
      expect(bad.code).toBe(7);
      expect(bad.stderr).toMatch(/credentials missing or wrong/);
      const login = await runCli(['login', server.url, '--user', 'dora'], {
        env: { ...base, SNAPUP_PASSWORD: 'dora-password' },
      });
      expect(login.code).toBe(0);
      expect(readFileSync(netrc, 'utf8')).toBe(
        'machine 127.0.0.1 login dora password dora-password\n',
      );
      expect(statSync(netrc).mode & 0o777).toBe(0o600);

      const env = { ...base, SNAPUP_SERVER: server.url };
      const sample = join(ROOT, 'fixtures', 'sample');
      const push = await runCli(['push', sample, '--name', 'app', '--tag', '1.0', '--json'], {
        env,
      });
      expect(push.code).toBe(0);
      expect(JSON.parse(push.stdout).snapshot).toMatchObject({
        name: 'app',
        tag: '1.0',
        frozen: true,
        owner: 'dora',
      });
      expect((await runCli(['ls'], { env })).stdout).toMatch(/app\/1\.0\s+frozen/);
      expect(
        JSON.parse((await runCli(['show', 'app/1.0', '--json'], { env })).stdout).raw.owner,
      ).toBe('dora');
      const dest = join(tempDir(), 'out');
      expect((await runCli(['pull', 'app/1.0', dest], { env })).code).toBe(0);
      expect(readTree(dest)).toEqual(readTree(sample));
      expect((await runCli(['rm', 'app/1.0'], { env })).code).toBe(0);
      const gone = await runCli(['show', 'app/1.0'], { env });
      expect(gone.code).toBe(3);
      const gc = await runCli(['gc'], { env });
      expect(gc.code).toBe(2);
      expect(gc.stderr).toMatch(/gc works on the local store/);
    } finally {
      await server.close();
    }
  });
});

describe('the expiry sweeper', () => {
  it('removes expired snapshots and their content on its timer', async () => {
    const { startServer } = await import('../src/server/serve.js');
    const server = await startServer({ dataDir: tempDir(), port: 0, sweepIntervalMs: 200 });
    try {
      await server.users.add('alice', 'alice-password');
      const headers = { authorization: basic('alice'), 'content-type': 'application/json' };
      const body = Buffer.from('short-lived').toString('base64');
      const made = await fetch(`${server.url}/cb/snapshot`, {
        method: 'POST',
        headers,
        body: JSON.stringify({
          meta: { name: 'brief', expirationTimeSec: 1 },
          files: { 'x.txt': { content: body, permissions: { ro: false, exe: false } } },
        }),
      });
      expect(made.status).toBe(200);
      expect(await server.store.objects.has(sha1('short-lived'))).toBe(true);
      const deadline = Date.now() + 5000;
      while (Date.now() < deadline && (await server.store.objects.has(sha1('short-lived')))) {
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(await server.store.objects.has(sha1('short-lived'))).toBe(false);
      const records = [];
      for await (const r of server.store.records.all()) records.push(r);
      expect(records).toEqual([]);
    } finally {
      await server.close();
    }
  });
});
