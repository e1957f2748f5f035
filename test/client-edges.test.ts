/**
 * Protocol edges a real server rarely shows. The client speaks undici's dispatcher API,
 * which nock cannot intercept (it patches node:http and the global fetch only), so these
 * use undici's own MockAgent; the connection reset uses a real socket on loopback.
 */

import { existsSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { MockAgent } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { CbClient } from '../src/client/cb-client.js';
import { pull, push } from '../src/index.js';
import { expectManifestOf, sha1, tempDir, writeTree } from './helpers.js';

const ORIGIN = 'http://cb.test';
const CONTENT = 'edge case content';
const HASH = sha1(CONTENT);

function meta(extra: Record<string, unknown> = {}) {
  return {
    name: 'app',
    tag: 'v1',
    owner: 'alice',
    frozen: false,
    createdAt: '2026-01-01T00:00:00.000Z',
    expiresAt: null,
    removeAfterExecute: false,
    accessLevel: 'Invisible',
    accessPerUser: {},
    fileCount: 1,
    size: CONTENT.length,
    ...extra,
  };
}

let agent: MockAgent | undefined;
afterEach(async () => {
  await agent?.close();
  agent = undefined;
});

function mockServer() {
  agent = new MockAgent();
  agent.disableNetConnect();
  return agent.get(ORIGIN);
}

function mock(): MockAgent {
  if (!agent) throw new Error('mockServer() first');
  return agent;
}

function client(
  retries: { retry?: object; onRetry?: (i: { delayMs: number; reason: string }) => void } = {},
) {
  return new CbClient({
    server: ORIGIN,
    credentials: { user: 'alice', password: 'pw' },
    dispatcher: mock(),
    retry: { minDelayMs: 1, maxDelayMs: 5, ...retries.retry },
    onRetry: retries.onRetry,
  });
}

function tree() {
  const dir = tempDir();
  writeTree(dir, { 'a.txt': CONTENT });
  return dir;
}

describe('CB client against protocol edges', () => {
  it('pushes to a server with Part A only, and says clearly that pull and ls are not offered', async () => {
    const server = mockServer();
    server.intercept({ path: '/cb/health', method: 'GET' }).reply(404, 'not found').persist();
    server
      .intercept({ path: '/cb/newSnapshot', method: 'POST' })
      .reply(200, { snapshot: meta(), notFound: [HASH] });
    const uploads: string[] = [];
    server
      .intercept({ path: '/cb/snapshots/app/v1/files/a.txt', method: 'POST' })
      .reply(201, (opts) => {
        uploads.push(String(opts.body));
        return { path: 'a.txt', sha1: HASH, size: CONTENT.length };
      });
    server
      .intercept({ path: '/cb/snapshots/app/v1/freeze', method: 'POST' })
      .reply(200, meta({ frozen: true }));
    const c = client();
    const s = await push({
      dir: tree(),
      target: c,
      name: 'app',
      tag: 'v1',
      cacheDir: false,
      singleMax: 0,
    });
    expect(s).toMatchObject({ mode: 'multi', uploadedFiles: 1, snapshot: { frozen: true } });
    await expect(
      pull({ source: c, address: { name: 'app', tag: 'v1' }, dest: tempDir() }),
    ).rejects.toMatchObject({
      code: 'UNSUPPORTED',
      message: expect.stringContaining('push still works'),
    });
    await expect(c.list()).rejects.toMatchObject({ code: 'UNSUPPORTED' });
  });

  it("accepts the docs' Visisble spelling in answers", async () => {
    const server = mockServer();
    server.intercept({ path: '/cb/newSnapshot', method: 'POST' }).reply(200, {
      snapshot: meta({ frozen: true, accessLevel: 'Visisble' }),
      notFound: [],
    });
    const s = await push({
      dir: tree(),
      target: client(),
      name: 'app',
      tag: 'v1',
      cacheDir: false,
      accessLevel: 'Visible',
    });
    expect(s).toMatchObject({ mode: 'none', snapshot: { frozen: true } });
  });

  it('honours Retry-After on 429, then succeeds', async () => {
    const server = mockServer();
    server
      .intercept({ path: '/cb/newSnapshot', method: 'POST' })
      .reply(429, { error: 'OVERLOADED' }, { headers: { 'retry-after': '1' } });
    server
      .intercept({ path: '/cb/newSnapshot', method: 'POST' })
      .reply(200, { snapshot: meta({ frozen: true }), notFound: [] });
    const retries: { delayMs: number; reason: string }[] = [];
    const started = Date.now();
    const s = await push({
      dir: tree(),
      target: client({ onRetry: (i) => retries.push(i) }),
      name: 'app',
      tag: 'v1',
      cacheDir: false,
    });
    expect(s.snapshot.frozen).toBe(true);
    expect(retries).toEqual([expect.objectContaining({ delayMs: 1000, reason: 'HTTP 429' })]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(990);
  });

  it('retries 500 and 503 on an upload, then succeeds', async () => {
    const server = mockServer();
    server
      .intercept({ path: '/cb/newSnapshot', method: 'POST' })
      .reply(200, { snapshot: meta(), notFound: [HASH] });
    const path = '/cb/snapshots/app/v1/files/a.txt';
    server.intercept({ path, method: 'POST' }).reply(500, { error: 'INTERNAL' });
    server.intercept({ path, method: 'POST' }).reply(503, { error: 'OVERLOADED' });
    server
      .intercept({ path, method: 'POST' })
      .reply(201, { path: 'a.txt', sha1: HASH, size: CONTENT.length });
    server
      .intercept({ path: '/cb/snapshots/app/v1/freeze', method: 'POST' })
      .reply(200, meta({ frozen: true }));
    const reasons: string[] = [];
    const s = await push({
      dir: tree(),
      target: client({ onRetry: (i) => reasons.push(i.reason) }),
      name: 'app',
      tag: 'v1',
      cacheDir: false,
      singleMax: 0,
    });
    expect(s.snapshot.frozen).toBe(true);
    expect(reasons).toEqual(['HTTP 500', 'HTTP 503']);
    mock().assertNoPendingInterceptors();
  });

  it('names the field of a malformed batch answer, and takes a well-formed one per file', async () => {
    const files = { 'a.txt': 'first file', 'b.txt': 'second file' };
    const dir = tempDir();
    writeTree(dir, files);
    const batchServer = (answer: object) => {
      const server = mockServer();
      server
        .intercept({ path: '/cb/health', method: 'GET' })
        .reply(200, { extensions: ['batch'], limits: {} });
      server.intercept({ path: '/cb/newSnapshot', method: 'POST' }).reply(200, {
        snapshot: meta(),
        notFound: Object.values(files).map(sha1),
      });
      server.intercept({ path: '/cb/snapshots/app/v1/batch', method: 'POST' }).reply(200, answer);
      return server;
    };
    const run = () =>
      push({ dir, target: client(), name: 'app', tag: 'v1', cacheDir: false, singleMax: 0 });

    batchServer({ stored: [{ path: 'a.txt', sha1: sha1(files['a.txt']) }], rejected: [] });
    await expect(run()).rejects.toMatchObject({
      code: 'BAD_RESPONSE',
      field: 'stored[0]',
      message: expect.stringContaining('batch upload answer: stored[0] is malformed'),
    });
    await agent?.close();

    batchServer({ stored: [] });
    await expect(run()).rejects.toMatchObject({ code: 'BAD_RESPONSE', field: 'rejected' });
    await agent?.close();

    batchServer({
      stored: [{ path: 'a.txt', sha1: sha1(files['a.txt']), size: 10 }],
      rejected: [{ path: 'b.txt', error: 'DISK_FULL', message: 'no space left' }],
    });
    await expect(run()).rejects.toMatchObject({
      code: 'DISK_FULL',
      message: expect.stringMatching(/b\.txt: no space left$/),
    });
  });

  it('fails clearly on a 422 hash mismatch without a retry loop', async () => {
    const server = mockServer();
    server.intercept({ path: '/cb/health', method: 'GET' }).reply(404, '');
    server
      .intercept({ path: '/cb/newSnapshot', method: 'POST' })
      .reply(200, { snapshot: meta(), notFound: [HASH] });
    let uploads = 0;
    server
      .intercept({ path: '/cb/snapshots/app/v1/files/a.txt', method: 'POST' })
      .reply(422, () => {
        uploads++;
        return { error: 'HASH_MISMATCH', message: 'content hashes to 0000' };
      })
      .persist();
    await expect(
      push({
        dir: tree(),
        target: client(),
        name: 'app',
        tag: 'v1',
        cacheDir: false,
        singleMax: 0,
      }),
    ).rejects.toMatchObject({
      code: 'HASH_MISMATCH',
      message: expect.stringMatching(/a\.txt: CB server http:\/\/cb\.test stored another hash/),
    });
    expect(uploads).toBe(1);
  });

  it('points at ~/.netrc and snapup login on 401, without retrying', async () => {
    const server = mockServer();
    let calls = 0;
    server
      .intercept({ path: '/cb/newSnapshot', method: 'POST' })
      .reply(401, () => {
        calls++;
        return { error: 'UNAUTHORIZED' };
      })
      .persist();
    await expect(
      push({ dir: tree(), target: client(), name: 'app', tag: 'v1', cacheDir: false }),
    ).rejects.toMatchObject({
      code: 'UNAUTHORIZED',
      message: expect.stringMatching(/~\/\.netrc.*snapup login http:\/\/cb\.test --user NAME/),
    });
    expect(calls).toBe(1);
  });

  it('never follows a redirect (credentials stay with the server they are for)', async () => {
    const server = mockServer();
    server
      .intercept({ path: '/cb/newSnapshot', method: 'POST' })
      .reply(307, '', { headers: { location: 'http://elsewhere.test/cb/newSnapshot' } });
    const other = mock().get('http://elsewhere.test');
    let leaked = false;
    other
      .intercept({ path: '/cb/newSnapshot', method: 'POST' })
      .reply(200, () => {
        leaked = true;
        return {};
      })
      .persist();
    await expect(
      push({ dir: tree(), target: client(), name: 'app', tag: 'v1', cacheDir: false }),
    ).rejects.toMatchObject({
      code: 'BAD_INPUT',
    });
    expect(leaked).toBe(false);
  });
});

describe('answers the client cannot use', () => {
  const pushTo = () =>
    push({ dir: tree(), target: client(), name: 'app', tag: 'v1', cacheDir: false, singleMax: 0 });

  {
    const cases: [number, unknown, Record<string, string>, string][] = [
      [
        200,
        '<html>proxy login</html>',
        { 'content-type': 'text/html' },
        'http://cb.test: POST /cb/newSnapshot: the answer is not JSON (text/html, "<html>proxy login</html>"); is the server a CB server, and not a proxy or login page?',
      ],
      [200, {}, {}, "http://cb.test: POST /cb/newSnapshot: the answer's snapshot: Required"],
      [
        200,
        { snapshot: meta(), notFound: ['zz'] },
        {},
        "http://cb.test: POST /cb/newSnapshot: the answer's notFound.0: not 40 hex digits",
      ],
      [
        200,
        { snapshot: meta({ frozen: 'yes' }), notFound: [] },
        {},
        "http://cb.test: POST /cb/newSnapshot: the answer's snapshot.frozen: Expected boolean, received string",
      ],
    ];
    for (const [status, body, headers, message] of cases) {
      it(`a 2xx answer that is not what is needed is an error naming the call: ${message.slice(41, 80)}`, async () => {
        const server = mockServer();
        server.intercept({ path: '/cb/health', method: 'GET' }).reply(404, '');
        server
          .intercept({ path: '/cb/newSnapshot', method: 'POST' })
          .reply(status, body as object, { headers });
        await expect(pushTo()).rejects.toMatchObject({ code: 'BAD_RESPONSE', message });
      });
    }
  }

  it('takes hashes in capitals as the same hashes, and an A2 answer without a body', async () => {
    const server = mockServer();
    server.intercept({ path: '/cb/health', method: 'GET' }).reply(404, '').persist();
    server
      .intercept({ path: '/cb/newSnapshot', method: 'POST' })
      .reply(200, { snapshot: meta(), notFound: [HASH.toUpperCase()] });
    server.intercept({ path: '/cb/snapshots/app/v1/files/a.txt', method: 'POST' }).reply(201, '');
    server
      .intercept({ path: '/cb/snapshots/app/v1/freeze', method: 'POST' })
      .reply(200, meta({ frozen: true }));
    const s = await pushTo();
    expect(s).toMatchObject({
      uploadedFiles: 1,
      uploadedBytes: CONTENT.length,
      snapshot: { frozen: true },
    });
  });

  it('a manifest a pull could not write is refused before anything is written', async () => {
    const server = mockServer();
    server.intercept({ path: '/cb/health', method: 'GET' }).reply(200, { extensions: ['get'] });
    server.intercept({ path: '/cb/snapshots/app/v1', method: 'GET' }).reply(200, {
      ...meta({ frozen: true }),
      fileHashes: { '../escape': { sha1: HASH, permissions: { ro: false, exe: false } } },
    });
    const dest = join(tempDir(), 'out');
    await expect(
      pull({ source: client(), address: { name: 'app', tag: 'v1' }, dest }),
    ).rejects.toMatchObject({
      code: 'BAD_RESPONSE',
      message: expect.stringMatching(
        /^http:\/\/cb\.test: GET \/cb\/snapshots\/app\/v1: the answer's fileHashes: "\.\.\/escape": /,
      ),
    });
    expect(existsSync(dest)).toBe(false);
  });
});

describe('connection reset in the middle of an upload', () => {
  it('re-opens the file and sends it whole on the retry', async () => {
    const received: Buffer[] = [];
    let uploadAttempts = 0;
    const body = (req: IncomingMessage) =>
      new Promise<Buffer>((resolve) => {
        const parts: Buffer[] = [];
        req.on('data', (d: Buffer) => parts.push(d));
        req.on('end', () => resolve(Buffer.concat(parts)));
      });
    const server = createServer(async (req, res) => {
      const json = (status: number, value: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(value));
      };
      if (req.url === '/cb/health') return json(404, {});
      if (req.url === '/cb/newSnapshot') {
        await body(req);
        return json(200, { snapshot: meta(), notFound: [sha1(big)] });
      }
      if (req.url?.startsWith('/cb/snapshots/app/v1/files/')) {
        uploadAttempts++;
        if (uploadAttempts === 1) {
          // Take a little of the body, then drop the connection.
          req.once('data', () => req.socket.destroy());
          return;
        }
        const bytes = await body(req);
        received.push(bytes);
        return json(201, { path: 'big.bin', sha1: sha1(bytes), size: bytes.length });
      }
      if (req.url === '/cb/snapshots/app/v1/freeze') return json(200, meta({ frozen: true }));
      return json(404, {});
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const big = Buffer.alloc(4 * 1024 * 1024, 7);
    const dir = tempDir();
    writeTree(dir, { 'big.bin': big });
    const c = new CbClient({
      server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      credentials: { user: 'alice', password: 'pw' },
      retry: { minDelayMs: 1, maxDelayMs: 5 },
    });
    try {
      const s = await push({
        dir,
        target: c,
        name: 'app',
        tag: 'v1',
        cacheDir: false,
        singleMax: 0,
      });
      expect(s.snapshot.frozen).toBe(true);
      expect(uploadAttempts).toBe(2);
      expect(received).toHaveLength(1);
      expect(received[0]?.equals(big)).toBe(true);
    } finally {
      await c.close();
      server.close();
    }
  });
});

describe('newSnapshot request body', () => {
  it('is the request with its file map, written from the entries, and sent whole again on a retry', async () => {
    const bodies: string[] = [];
    const server = createServer((req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (d: Buffer) => parts.push(d));
      req.on('end', () => {
        const json = (status: number, value: unknown) => {
          res.writeHead(status, { 'content-type': 'application/json' });
          res.end(JSON.stringify(value));
        };
        if (req.url !== '/cb/newSnapshot') return json(404, {});
        bodies.push(Buffer.concat(parts).toString('utf8'));
        if (bodies.length === 1) return json(503, { error: 'OVERLOADED' });
        // The whole manifest was already there, frozen (B.1): its count is the request's.
        const fileCount = Object.keys(JSON.parse(bodies[0] as string).fileHashes).length;
        return json(200, { snapshot: meta({ frozen: true, fileCount }), notFound: [] });
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const dir = tempDir();
    const files: Record<string, string> = { 'a.txt': 'a', 'd/"quoted".txt': 'q', 'é.txt': 'e' };
    for (let i = 0; i < 1500; i++) files[`many/${i}`] = `content ${i}`;
    writeTree(dir, files);
    const c = new CbClient({
      server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      credentials: { user: 'alice', password: 'pw' },
      retry: { minDelayMs: 1, maxDelayMs: 5 },
    });
    try {
      await push({
        dir,
        target: c,
        name: 'app',
        tag: 'v1',
        cacheDir: false,
        accessLevel: 'Visible',
      });
      expect(bodies).toHaveLength(2);
      expect(bodies[1]).toBe(bodies[0]);
      const sent = JSON.parse(bodies[0] as string) as Record<string, unknown>;
      expect(sent).toMatchObject({ name: 'app', tag: 'v1', accessLevel: 'Visible' });
      expectManifestOf(sent.fileHashes as Record<string, unknown>, files);
    } finally {
      await c.close();
      server.close();
    }
  });
});

describe('transport', () => {
  it('keeps a path prefix of the server URL', () => {
    const c = new CbClient({ server: 'http://127.0.0.1:1/prefix/', credentials: undefined });
    expect(c.transport.urlPath('/cb/health', { owner: 'bob', name: undefined })).toBe(
      '/prefix/cb/health?owner=bob',
    );
  });
});
