import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../src/server/serve.js';
import { TarPieces } from '../src/util/tar-write.js';
import { sha1 } from './helpers.js';
import { basic, testServer } from './server-helpers.js';

let server: RunningServer;
const HELLO = sha1('hello');

beforeAll(async () => {
  server = await testServer({ maxJsonBytes: 64 * 1024, maxUploadBytes: 1024, maxBatchBytes: 4096 });
  const r = await call('POST', '/cb/newSnapshot', {
    json: {
      name: 'app',
      tag: 'v1',
      fileHashes: { 'a.txt': { sha1: HELLO, permissions: { ro: false, exe: false } } },
    },
  });
  expect(r.status).toBe(200);
});
afterAll(() => server.close());

async function call(
  method: string,
  path: string,
  options: { json?: unknown; raw?: string | Buffer; type?: string; auth?: string | null } = {},
): Promise<{ status: number; body: { error?: string; message?: string } }> {
  const headers: Record<string, string> = {};
  if (options.auth !== null) headers.authorization = options.auth ?? basic('alice');
  let body: string | Buffer | undefined;
  if (options.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(options.json);
  } else if (options.raw !== undefined) {
    headers['content-type'] = options.type ?? 'application/octet-stream';
    body = options.raw;
  }
  const res = await fetch(`${server.url}${path}`, { method, headers, body });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : {} };
}

/** Everything the store holds, to prove a refused request wrote nothing. */
function storeState(): string[] {
  const root = server.store.root;
  const list = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? list(join(dir, e.name)) : [join(dir, e.name).slice(root.length)],
    );
  return list(root)
    .filter((p) => !p.startsWith('/lock'))
    .sort();
}

describe('the server refuses bad input with the right status, and writes nothing', () => {
  const upload = (path: string, raw = 'hello') =>
    call('POST', `/cb/snapshots/app/v1/files/${path}`, { raw });

  it.each([
    ['..%2Fescape', /"\.\." segment/],
    ['a/..%2F..%2Fescape', /"\.\." segment/],
    ['%2Fetc%2Fpasswd', /absolute/],
    ['a%5Cb', /backslash/],
    ['nul%00byte', /NUL/],
    ['a//b', /empty segment/],
    ['x'.repeat(5000), /longer than 4096 bytes/],
  ])('upload path %s → 400', async (path, message) => {
    const before = storeState();
    const r = await upload(path);
    expect(r.status).toBe(400);
    expect(r.body.error).toBe('BAD_INPUT');
    expect(r.body.message).toMatch(message);
    expect(storeState()).toEqual(before);
  });

  it.each([
    ['malformed JSON', '{"name": "x",', /malformed JSON/],
    ['a JSON array', '[1,2]', /must be a JSON object/],
  ])('newSnapshot with %s → 400', async (_what, raw, message) => {
    const before = storeState();
    const r = await call('POST', '/cb/newSnapshot', { raw, type: 'application/json' });
    expect(r.status).toBe(400);
    expect(r.body.message).toMatch(message);
    expect(storeState()).toEqual(before);
  });

  it.each([
    [{ name: 42 }, /newSnapshot\["name"\]/],
    [{ expirationTimeSec: 'soon' }, /expirationTimeSec/],
    // A date past JavaScript's last one failed as an internal error.
    [{ name: 'far', expirationTimeSec: 1e14 }, /expirationTimeSec.*at most 100 years/],
    [{ accessLevel: 'Everyone' }, /accessLevel/],
    [
      { fileHashes: { 'a.txt': { sha1: 'not-hex', permissions: { ro: false, exe: false } } } },
      /"a\.txt"\.sha1: must be 40 lowercase hex/,
    ],
    [
      {
        fileHashes: {
          'a.txt': { sha1: HELLO.toUpperCase(), permissions: { ro: false, exe: false } },
        },
      },
      /sha1/,
    ],
    [
      { fileHashes: { 'a.txt': { sha1: HELLO, permissions: { ro: 'no', exe: false } } } },
      /permissions/,
    ],
    [
      { fileHashes: { '../up': { sha1: HELLO, permissions: { ro: false, exe: false } } } },
      /"\.\." segment/,
    ],
    [{ name: 'bad/name' }, /name/],
  ])('newSnapshot with wrong types %j → 400 naming the field', async (json, message) => {
    const before = storeState();
    const r = await call('POST', '/cb/newSnapshot', { json });
    expect(r.status).toBe(400);
    expect(r.body.error).toBe('BAD_INPUT');
    expect(r.body.message).toMatch(message);
    expect(storeState()).toEqual(before);
  });

  it('an oversized JSON body → 413', async () => {
    const before = storeState();
    const r = await call('POST', '/cb/newSnapshot', {
      json: { name: 'big', padding: 'x'.repeat(100 * 1024) },
    });
    expect(r.status).toBe(413);
    expect(r.body.message).toBe(
      "request body is over the server's limit of 65536 bytes for JSON (snapup serve --max-json)",
    );
    expect(storeState()).toEqual(before);
  });

  it('an oversized upload → 413, and no object', async () => {
    const before = storeState();
    const r = await upload('a.txt', 'y'.repeat(2000));
    expect(r.status).toBe(413);
    expect(r.body.error).toBe('TOO_LARGE');
    expect(storeState()).toEqual(before);
  });

  it('content that does not match the declared hash → 422, and no object', async () => {
    const before = storeState();
    const r = await upload('a.txt', 'not hello');
    expect(r.status).toBe(422);
    expect(r.body.error).toBe('HASH_MISMATCH');
    expect(storeState()).toEqual(before);
  });

  it('missing or wrong credentials → 401 with a Basic challenge', async () => {
    const before = storeState();
    for (const auth of [null, basic('alice', 'wrong'), basic('mallory', 'x'), 'Bearer abc']) {
      const res = await fetch(`${server.url}/cb/newSnapshot`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(auth ? { authorization: auth } : {}) },
        body: JSON.stringify({ name: 'x' }),
      });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Basic/);
      expect(((await res.json()) as { error: string }).error).toBe('UNAUTHORIZED');
    }
    expect(storeState()).toEqual(before);
  });

  it('health needs no credentials and advertises extensions and limits', async () => {
    const r = await call('GET', '/cb/health', { auth: null });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      status: 'ok',
      extensions: expect.arrayContaining(['batch', 'list']),
      limits: { maxUploadBytes: 1024 },
    });
  });

  it('an unknown snapshot → 404, a freeze with missing content → 409 listing the paths', async () => {
    expect((await call('POST', '/cb/snapshots/nope/v1/freeze')).status).toBe(404);
    const r = await call('POST', '/cb/snapshots/app/v1/freeze');
    expect(r.status).toBe(409);
    expect(r.body).toMatchObject({ error: 'MISSING_CONTENT', missing: ['a.txt'] });
  });

  it('a batch body that is not tar, is empty or is cut short → 400 naming it, and no object', async () => {
    const tar = new TarPieces();
    tar.add('a.txt', 5, (into, at) => Buffer.from('hello').copy(into, at));
    const whole = Buffer.concat([...tar.take(), ...tar.end()]);
    const before = storeState();
    for (const [raw, problem] of [
      [Buffer.from('{"a.txt": "hello"}'), /not a tar stream/],
      [Buffer.alloc(0), /empty body/],
      [whole.subarray(0, 600), /truncated/],
      [whole.subarray(0, 1024), /end-of-archive/],
    ] as const) {
      const r = await call('POST', '/cb/snapshots/app/v1/batch', {
        raw,
        type: 'application/x-tar',
      });
      expect(r.status).toBe(400);
      expect(r.body).toMatchObject({ error: 'BAD_INPUT', message: expect.stringMatching(problem) });
      expect(r.body.message).toMatch(/^batch body: /);
    }
    expect(storeState()).toEqual(before);
    const r = await call('POST', '/cb/snapshots/app/v1/batch', {
      raw: whole,
      type: 'application/x-tar',
    });
    expect(r).toMatchObject({ status: 200, body: { stored: [{ path: 'a.txt', sha1: HELLO }] } });
  });

  it("paths and users named like Object's members are only found when they exist", async () => {
    const made = await call('POST', '/cb/snapshot', {
      json: {
        meta: { name: 'odd', tag: 'v1' },
        files: { 'a.txt': { content: 'aGk=', permissions: { ro: false, exe: false } } },
      },
    });
    expect(made.status).toBe(200);
    for (const path of ['constructor', 'toString', '__proto__']) {
      const file = await call('GET', `/cb/snapshots/odd/v1/files/${path}`);
      expect(file).toMatchObject({
        status: 404,
        body: { message: `${path}: no such file in the snapshot` },
      });
      const archive = await call('POST', '/cb/snapshots/odd/v1/archive', {
        json: { paths: [path] },
      });
      expect(archive.status).toBe(404);
    }
    // An undeclared entry is recorded with the hash of what arrived (spec B.3), whatever its name.
    const tar = new TarPieces();
    tar.add('constructor', 5, (into, at) => Buffer.from('hello').copy(into, at));
    const batch = await call('POST', '/cb/snapshots/app/v1/batch', {
      raw: Buffer.concat([...tar.take(), ...tar.end()]),
      type: 'application/x-tar',
    });
    expect(batch).toMatchObject({
      status: 200,
      body: { stored: [{ path: 'constructor', sha1: HELLO }], rejected: [] },
    });
    const app = (await call('GET', '/cb/snapshots/app/v1')) as { body: { fileHashes?: object } };
    expect(Object.keys(app.body.fileHashes ?? {}).sort()).toEqual(['a.txt', 'constructor']);
    // A user of that name sees another's invisible snapshot no more than anyone else.
    await server.users.add('constructor', 'constructor-password');
    const other = await call('GET', '/cb/snapshots/odd/v1?owner=alice', {
      auth: basic('constructor', 'constructor-password'),
    });
    expect(other.status).toBe(404);
    expect((await call('GET', '/cb/snapshots/odd/v1')).status).toBe(200);
  });

  it('a manifest where a path is a file and a folder → 400 naming both, and no object', async () => {
    const before = storeState();
    const entry = { sha1: HELLO, permissions: { ro: false, exe: false } };
    const declared = await call('POST', '/cb/newSnapshot', {
      json: { name: 'clash', fileHashes: { 'x/y': entry, 'x/y/z.txt': entry } },
    });
    expect(declared.status).toBe(400);
    expect(declared.body.message).toBe(
      'newSnapshot["fileHashes"]: "x/y/z.txt": "x/y" is a file of the snapshot, not a folder',
    );
    const inline = await call('POST', '/cb/snapshot', {
      json: {
        meta: { name: 'clash', fileHashes: { 'a/b.txt': entry } },
        files: { a: { content: 'aGk=', permissions: { ro: false, exe: false } } },
      },
    });
    expect(inline.status).toBe(400);
    expect(inline.body.message).toBe(
      'files: "a/b.txt": "a" is a file of the snapshot, not a folder',
    );
    expect(storeState()).toEqual(before);
    // An undeclared upload (B.3 records it) may not make one either way, alone or in a batch.
    for (const path of ['a.txt/inside', 'a.txt/deeper/x']) {
      const up = await call('POST', `/cb/snapshots/app/v1/files/${path}`, { raw: 'x' });
      expect(up.status).toBe(400);
      expect(up.body.message).toBe(`"${path}": "a.txt" is a file of the snapshot, not a folder`);
    }
    const made = await call('POST', '/cb/newSnapshot', {
      json: { name: 'deep', tag: 'v1', fileHashes: { 'd/e/f.txt': entry } },
    });
    expect(made.status).toBe(200);
    const afterMade = storeState();
    for (const path of ['d', 'd/e']) {
      const up = await call('POST', `/cb/snapshots/deep/v1/files/${path}`, { raw: 'x' });
      expect(up.status).toBe(400);
      expect(up.body.message).toBe(
        `"d/e/f.txt": "${path}" is a file of the snapshot, not a folder`,
      );
    }
    const tar = new TarPieces();
    tar.add('d/e', 1, (into, at) => Buffer.from('x').copy(into, at));
    const batch = await call('POST', '/cb/snapshots/deep/v1/batch', {
      raw: Buffer.concat([...tar.take(), ...tar.end()]),
      type: 'application/x-tar',
    });
    expect(batch.body).toMatchObject({
      stored: [],
      rejected: [{ path: 'd/e', error: 'BAD_INPUT' }],
    });
    expect(storeState()).toEqual(afterMade);
  });

  it('a bad A4 body → 400', async () => {
    const before = storeState();
    const r = await call('POST', '/cb/snapshot', {
      json: {
        meta: { name: 'x' },
        files: { 'a.txt': { content: '!!not base64!!', permissions: { ro: false, exe: false } } },
      },
    });
    expect(r.status).toBe(400);
    expect(r.body.message).toMatch(/not base64/);
    expect(storeState()).toEqual(before);
  });
});
