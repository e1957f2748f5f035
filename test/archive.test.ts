/**
 * The `archive` extension: a pull fetches its small files in batches, one tar answer per
 * batch, instead of one download per file. The server side against a real server on
 * loopback; the client's handling of bad answers with undici's MockAgent.
 */
import { chmodSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import tar from 'tar-stream';
import { MockAgent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CbClient, type ServerInfo } from '../src/client/cb-client.js';
import { pull, push } from '../src/index.js';
import type { RunningServer } from '../src/server/serve.js';
import { bytes, readTree, sha1, tempDir, writeTree } from './helpers.js';
import { basic, clientFor, clientWithout, testServer } from './server-helpers.js';

let server: RunningServer;
let alice: CbClient;
let src: string;
const FILES: Record<string, Buffer> = {};
for (let i = 0; i < 40; i++) FILES[`d${i % 3}/f${i}.bin`] = bytes(500 + i, 1500 + i * 40);

beforeAll(async () => {
  server = await testServer({ maxBatchEntries: 50, maxArchiveBytes: 64 * 1024 });
  alice = clientFor(server);
  src = tempDir();
  writeTree(src, { ...FILES, 'tool.sh': { content: '#!/bin/sh\n', mode: 0o755 } });
  await push({ dir: src, target: alice, name: 'app', tag: 'v1', cacheDir: tempDir() });
});
afterAll(async () => {
  await alice.close();
  await server.close();
});

async function archive(
  paths: unknown,
  options: { user?: string; query?: string } = {},
): Promise<{
  status: number;
  entries: { name: string; mode?: number; bytes: Buffer }[];
  body: { error?: string; message?: string };
}> {
  const res = await fetch(`${server.url}/cb/snapshots/app/v1/archive${options.query ?? ''}`, {
    method: 'POST',
    headers: { authorization: basic(options.user ?? 'alice'), 'content-type': 'application/json' },
    body: JSON.stringify({ paths }),
  });
  const raw = Buffer.from(await res.arrayBuffer());
  if (res.status !== 200)
    return { status: res.status, entries: [], body: JSON.parse(raw.toString()) };
  expect(res.headers.get('content-type')).toBe('application/x-tar');
  return { status: 200, entries: await untar(raw), body: {} };
}

async function untar(raw: Buffer) {
  const extract = tar.extract();
  extract.end(raw);
  const entries: { name: string; mode?: number; bytes: Buffer }[] = [];
  for await (const entry of extract) {
    const chunks: Buffer[] = [];
    for await (const c of entry) chunks.push(c as Buffer);
    entries.push({
      name: entry.header.name,
      mode: entry.header.mode,
      bytes: Buffer.concat(chunks),
    });
  }
  return entries;
}

describe('the server answers an archive request', () => {
  it('with a tar of the asked files, in the order asked, with their bytes and modes', async () => {
    const paths = ['d2/f5.bin', 'tool.sh', 'd0/f0.bin'];
    const r = await archive(paths);
    expect(r.status).toBe(200);
    expect(r.entries.map((e) => e.name)).toEqual(paths);
    expect(r.entries[0]?.bytes.equals(FILES['d2/f5.bin'] as Buffer)).toBe(true);
    expect(r.entries[1]?.bytes.toString()).toBe('#!/bin/sh\n');
    expect(r.entries[1]?.mode).toBe(0o755);
    expect(r.entries[2]?.mode).toBe(0o644);
  });

  it('advertises the extension and its byte limit in health', async () => {
    const health = (await (await fetch(`${server.url}/cb/health`)).json()) as ServerInfo;
    expect(health.extensions).toContain('archive');
    expect(health.limits).toMatchObject({ maxArchiveBytes: 64 * 1024, maxBatchEntries: 50 });
  });

  it.each([
    ['a path the snapshot lacks', ['d0/f0.bin', 'nope.txt'], {}, 404, 'NOT_FOUND', /nope\.txt/],
    ['no paths', [], {}, 400, 'BAD_INPUT', /paths/],
    ['paths that are not strings', [1, 2], {}, 400, 'BAD_INPUT', /paths/],
    [
      'more files than the entry limit',
      Array(51).fill('d0/f0.bin'),
      {},
      413,
      'TOO_LARGE',
      /51 files.*50/,
    ],
    ['more bytes than the archive limit', Object.keys(FILES), {}, 413, 'TOO_LARGE', /65536 bytes/],
    [
      'a snapshot another user may not see',
      ['d0/f0.bin'],
      { user: 'bob' },
      404,
      'NOT_FOUND',
      /app\/v1/,
    ],
  ])('and refuses %s', async (_what, paths, options, status, code, message) => {
    const r = await archive(paths, options);
    expect(r.status).toBe(status);
    expect(r.body.error).toBe(code);
    expect(r.body.message).toMatch(message);
  });

  it('and refuses to serve a corrupt stored object (500), naming it', async () => {
    const sha = sha1(FILES['d1/f7.bin'] as Buffer);
    const object = join(server.store.root, 'objects', sha.slice(0, 2), sha);
    chmodSync(object, 0o644);
    writeFileSync(object, 'tampered');
    try {
      const r = await archive(['d1/f7.bin']);
      expect(r.status).toBe(500);
      expect(r.body.error).toBe('CORRUPT_OBJECT');
      expect(r.body.message).toContain(sha);
    } finally {
      writeFileSync(object, FILES['d1/f7.bin'] as Buffer);
    }
  });
});

describe('a pull over HTTP', () => {
  it('fetches its small files in archive batches, not one download each, byte-identical', async () => {
    const calls = { batches: 0, downloads: 0 };
    class Counting extends CbClient {
      override restoreBatch(...args: Parameters<CbClient['restoreBatch']>) {
        calls.batches++;
        return super.restoreBatch(...args);
      }
      override read(...args: Parameters<CbClient['read']>) {
        calls.downloads++;
        return super.read(...args);
      }
    }
    const client = new Counting({
      server: server.url,
      credentials: { user: 'alice', password: 'alice-password' },
    });
    const dest = join(tempDir(), 'out');
    try {
      await pull({ source: client, address: { name: 'app', tag: 'v1' }, dest });
    } finally {
      await client.close();
    }
    expect(calls).toEqual({ batches: 1, downloads: 0 });
    expect(readTree(dest)).toEqual(readTree(src));
    expect(statSync(join(dest, 'tool.sh')).mode & 0o777).toBe(0o755);
  });

  it('without the extension, downloads each file and gets the same tree', async () => {
    const plain = clientWithout(server, 'archive');
    const dest = join(tempDir(), 'out');
    try {
      await pull({ source: plain, address: { name: 'app', tag: 'v1' }, dest });
    } finally {
      await plain.close();
    }
    expect(readTree(dest)).toEqual(readTree(src));
  });
});

describe('the client checks an archive answer', () => {
  it('writes the good files, refuses content that does not match its hash or size or is left out, and leaves no temp file', async () => {
    const origin = 'http://cb.test';
    const agent = new MockAgent();
    agent.disableNetConnect();
    const mock = agent.get(origin);
    mock
      .intercept({ path: '/cb/health', method: 'GET' })
      .reply(200, { extensions: ['archive', 'download'], limits: {} });
    const pack = tar.pack();
    pack.entry({ name: 'good.txt' }, 'good');
    pack.entry({ name: 'bad.txt' }, 'BAD');
    pack.entry({ name: 'long.txt' }, 'far longer than the manifest says');
    pack.entry({ name: 'extra.txt' }, 'not asked for');
    pack.finalize();
    const chunks: Buffer[] = [];
    for await (const chunk of pack) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    mock
      .intercept({ path: '/cb/snapshots/app/v1/archive', method: 'POST' })
      .reply(200, body, { headers: { 'content-type': 'application/x-tar' } });
    const client = new CbClient({ server: origin, dispatcher: agent });
    const dir = tempDir();
    const item = (path: string, content: string) => ({
      path,
      sha1: sha1(content),
      size: content.length,
      target: join(dir, path),
      mode: 0o644,
    });
    try {
      const results = await client.restoreBatch({ name: 'app', tag: 'v1' }, [
        item('good.txt', 'good'),
        item('bad.txt', 'bad'),
        item('long.txt', 'long'),
        item('missing.txt', 'missing'),
      ]);
      expect(results[0]).toBe(4);
      expect(results[1]).toMatchObject({
        code: 'CORRUPT_OBJECT',
        message: /bad\.txt: the server sent/,
      });
      expect(results[2]).toMatchObject({
        code: 'BAD_RESPONSE',
        message: /long\.txt: .* sent 33 bytes in its archive answer for a file of 4/,
      });
      expect(results[3]).toMatchObject({ code: 'BAD_RESPONSE', message: /missing\.txt/ });
      expect(readdirSync(dir)).toEqual(['good.txt']);
    } finally {
      await client.close();
      await agent.close();
    }
  });
});
