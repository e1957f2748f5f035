/**
 * The Datalayer adapter against the wire contract of @datalayer/core 1.0.20
 * (specs/seed-apis.md Part A): every A.9 acceptance case, plus the prose around them.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { DatalayerClient, type DatalayerOptions } from '../src/adapters/datalayer/client.js';
import { NetworkError, RunResponseError } from '../src/adapters/datalayer/errors.js';
import { DatalayerLifecycle } from '../src/adapters/datalayer/lifecycle.js';
import { RuntimeSnapshots } from '../src/adapters/datalayer/snapshots.js';
import { validateToken } from '../src/adapters/datalayer/token.js';
import type { EngineEvent } from '../src/engine/events.js';
import { SnapupError } from '../src/errors.js';
import { MOCK_JWT } from './fake-apis.js';
import { MockApi } from './mock-api.js';

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

const B = '/api/runtimes/v1';
const RECORD = {
  uid: 'snapshot-123',
  name: 'Test Snapshot',
  description: 'Test snapshot description',
  environment: 'python-cpu',
  updated_at: '2023-01-01T12:00:00Z',
};

let api: MockApi;
const clients: DatalayerClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
  await api?.close();
});

function setup(options: Partial<DatalayerOptions> = {}, origin = 'http://mock') {
  api = new MockApi(origin);
  const client = new DatalayerClient({
    baseUrl: origin,
    token: MOCK_JWT,
    dispatcher: api.agent,
    pollInitialMs: 1,
    ...options,
  });
  clients.push(client);
  return new RuntimeSnapshots(client);
}

describe('Datalayer: token and id checks before any request (A.2)', () => {
  it('accepts the SDK fixture token', () => {
    expect(validateToken(MOCK_JWT)).toBe(MOCK_JWT);
  });

  it('refuses a service URL that is not one, naming the option', () => {
    for (const baseUrl of ['notaurl', 'r1.datalayer.run', 'http://[bad']) {
      expect(() => new DatalayerClient({ baseUrl, token: MOCK_JWT })).toThrow(
        expect.objectContaining({
          code: 'BAD_INPUT',
          message: expect.stringMatching(
            /^Invalid service URL ".*": give one like https:\/\/r1\.datalayer\.run \(--datalayer-url/,
          ),
        }),
      );
    }
  });

  it('refuses bad tokens with the SDK messages, sending nothing', async () => {
    const now = 1_800_000_000;
    const make = (header: unknown, payload: unknown, sig = 's'.repeat(47)) =>
      `${b64(header)}.${b64(payload)}.${sig}`;
    const pad = { sub: 'x'.repeat(60) };
    const cases: [string | undefined, RegExp][] = [
      [undefined, /^Authentication token is required/],
      ['   ', /^Authentication token is required/],
      ['abc.def', /^Invalid token format: a JWT has three/],
      ['a.b.c', /^Invalid token format: the token is 5 characters/],
      [
        `${'a'.repeat(40)}.${'b'.repeat(40)}.${'c'.repeat(5000)}`,
        /^Invalid token format: the token is 5082/,
      ],
      [make({ typ: 'JWT' }, pad), /^Invalid token format: the header has no "alg"/],
      [
        `${b64({ alg: 'HS256' })}.${'e'.repeat(80)}.${'s'.repeat(30)}`,
        /^Invalid token format: the payload/,
      ],
      [make({ alg: 'HS256' }, { ...pad, exp: now - 1 }), /^Token has expired/],
      [make({ alg: 'HS256' }, { ...pad, nbf: now + 60 }), /^Token is not valid yet/],
      [
        make({ alg: 'HS256' }, pad, 's'.repeat(19)),
        /^Invalid token format: the signature part is shorter than 20/,
      ],
    ];
    for (const [token, message] of cases) {
      expect(() => validateToken(token, now), String(token)).toThrow(message);
    }
    const snaps = setup({ token: 'not-a-jwt' });
    await expect(snaps.list()).rejects.toMatchObject({ code: 'BAD_INPUT', field: 'token' });
    expect(api.requests).toHaveLength(0);
  });

  it('refuses blank ids and pod names without a request', async () => {
    const snaps = setup();
    await expect(snaps.get('  ')).rejects.toThrow('Snapshot ID is required');
    await expect(snaps.delete('')).rejects.toThrow('Snapshot ID is required');
    await expect(snaps.create('', 'n')).rejects.toThrow('Pod name is required');
    await expect(snaps.loadInto(' ', 'snapshot-123')).rejects.toThrow('Pod name is required');
    expect(api.requests).toHaveLength(0);
  });
});

describe('Datalayer: snapshots (A.5, A.9)', () => {
  it('DL-01: lists snapshots with the SDK headers; the DTO has the SDK getters', async () => {
    const snaps = setup();
    api.on('GET', `${B}/runtime-snapshots`, {
      status: 200,
      body: { success: true, message: 'ok', snapshots: [RECORD] },
    });
    const [s] = await snaps.list();
    const req = api.requests[0];
    expect(req?.method).toBe('GET');
    expect(req?.path).toBe(`${B}/runtime-snapshots`);
    expect(req?.query).toEqual({});
    expect(req?.headers).toMatchObject({
      authorization: `Bearer ${MOCK_JWT}`,
      accept: 'application/json',
      'content-type': 'application/json',
      'cache-control': 'no-store, no-cache, must-revalidate',
      pragma: 'no-cache',
    });
    expect(s?.uid).toBe('snapshot-123');
    expect(s?.updatedAt.toISOString()).toBe('2023-01-01T12:00:00.000Z');
    expect(String(s)).toBe('Snapshot(snapshot-123, Test Snapshot)');
    expect(s?.toJSON()).toEqual({
      uid: 'snapshot-123',
      name: 'Test Snapshot',
      description: 'Test snapshot description',
      environment: 'python-cpu',
      updatedAt: '2023-01-01T12:00:00.000Z',
    });
    expect(s?.rawData()).toEqual(RECORD);
  });

  it('DL-02: a record without description reads as ""', async () => {
    const snaps = setup();
    api.on('GET', `${B}/runtime-snapshots`, {
      status: 200,
      body: {
        success: true,
        message: 'ok',
        snapshots: [
          {
            uid: 'snapshot-456',
            name: 'Minimal',
            environment: 'python-gpu',
            updated_at: '2023-01-01T10:00:00Z',
          },
        ],
      },
    });
    const [s] = await snaps.list();
    expect(s?.description).toBe('');
    expect(s?.rawData()).not.toHaveProperty('description');
  });

  it('DL-03: create posts pod_name, name, description and stop', async () => {
    const snaps = setup();
    api.on('POST', `${B}/runtime-snapshots`, {
      status: 201,
      body: { success: true, message: 'created', snapshot: { ...RECORD, uid: 'snap-new' } },
    });
    const s = await snaps.create('jupyter-pod-123', 'My Snapshot', 'desc', false);
    expect(s.uid).toBe('snap-new');
    const req = api.requests[0];
    expect(req?.body).toEqual({
      pod_name: 'jupyter-pod-123',
      name: 'My Snapshot',
      description: 'desc',
      stop: false,
    });
    expect(req?.headers['content-type']).toBe('application/json');
    expect(req?.headers['cache-control']).toBeUndefined();
    expect(req?.headers.pragma).toBeUndefined();
  });

  it('DL-04: a name alone sends stop:false and no description key', async () => {
    const snaps = setup();
    api.on('POST', `${B}/runtime-snapshots`, {
      status: 201,
      body: { success: true, message: 'created', snapshot: { ...RECORD, uid: 'snap-new' } },
    });
    await snaps.create('jupyter-pod-123', 'My Snapshot');
    expect(api.requests[0]?.body).toEqual({
      pod_name: 'jupyter-pod-123',
      name: 'My Snapshot',
      stop: false,
    });
  });

  it('DL-05: get returns the snapshot with its uid and environment', async () => {
    const snaps = setup();
    api.on('GET', `${B}/runtime-snapshots/snapshot-123`, {
      status: 200,
      body: { success: true, message: 'ok', snapshot: RECORD },
    });
    const s = await snaps.get('snapshot-123');
    expect([s.uid, s.environment]).toEqual(['snapshot-123', 'python-cpu']);
  });

  it('DL-06 / DL-07: delete resolves on 204; the object is then refused; a later GET is a 404 RunResponseError', async () => {
    const snaps = setup();
    api.on(
      'GET',
      `${B}/runtime-snapshots/snapshot-123`,
      { status: 200, body: { success: true, message: 'ok', snapshot: RECORD } },
      1,
    );
    api.on('DELETE', `${B}/runtime-snapshots/snapshot-123`, { status: 204 });
    api.on('GET', `${B}/runtime-snapshots/snapshot-123`, {
      status: 404,
      body: { success: false, message: 'Snapshot not found' },
    });
    const s = await snaps.get('snapshot-123');
    await expect(s.delete()).resolves.toBeUndefined();
    const del = api.requests[1];
    expect(del?.method).toBe('DELETE');
    expect(del?.headers['content-type']).toBe('application/json');
    expect(del?.headers['cache-control']).toBeUndefined();
    expect(() => s.uid).toThrow('Snapshot snapshot-123 has been deleted and no longer exists');
    await expect(s.delete()).rejects.toThrow('has been deleted');
    await expect(s.restore(10)).rejects.toThrow('has been deleted');
    expect(() => s.toJSON()).toThrow('has been deleted');
    expect(api.requests.filter((r) => r.method === 'DELETE')).toHaveLength(1);

    const err = await snaps.get('snapshot-123').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RunResponseError);
    expect(err).toBeInstanceOf(SnapupError);
    expect(err).toMatchObject({
      name: 'RunResponseError',
      message: 'Snapshot not found',
      code: 'NOT_FOUND',
    });
    const response = (err as RunResponseError).response;
    expect([response.status, response.statusText, response.ok]).toEqual([404, 'Not Found', false]);
    expect(response).not.toHaveProperty('data');
    expect(await response.json()).toEqual({ success: false, message: 'Snapshot not found' });
  });

  it('any 2xx is a successful delete (200, 202 without Location)', async () => {
    const snaps = setup();
    api.on('DELETE', `${B}/runtime-snapshots/a`, { status: 200, body: { success: true } });
    api.on('DELETE', `${B}/runtime-snapshots/b`, { status: 202 });
    await expect(snaps.delete('a')).resolves.toBeUndefined();
    await expect(snaps.delete('b')).resolves.toBeUndefined();
  });

  it('DL-08: a non-JSON 500 gives the default message', async () => {
    const snaps = setup();
    api.on('GET', `${B}/runtime-snapshots`, { status: 500, body: '<html>oops</html>' });
    const err = await snaps.list().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RunResponseError);
    expect((err as Error).message).toBe('Invalid response: 500 Internal Server Error');
    expect(await (err as RunResponseError).response.text()).toBe('<html>oops</html>');
    // axios does not retry, and neither does the adapter.
    expect(api.requests).toHaveLength(1);
  });

  it('DL-09: detail as a string or as an object with a message', async () => {
    const snaps = setup();
    api.on('POST', `${B}/runtime-snapshots`, { status: 400, body: { detail: 'bad pod' } }, 1);
    api.on(
      'POST',
      `${B}/runtime-snapshots`,
      { status: 400, body: { detail: { message: 'bad pod' } } },
      1,
    );
    for (let i = 0; i < 2; i++) {
      const err = await snaps.create('p', 'n').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RunResponseError);
      expect((err as Error).message).toBe('bad pod');
      expect((err as RunResponseError).detail).toBeTruthy();
    }
  });

  it('copies errors, warnings, exception and traceback from the body; message wins over detail', async () => {
    const snaps = setup();
    api.on('GET', `${B}/runtime-snapshots`, {
      status: 422,
      body: {
        message: 'top',
        detail: 'lower',
        errors: ['e1'],
        warnings: ['w1'],
        exception: 'ValueError: x',
        traceback: 'Traceback ...',
      },
    });
    const err = (await snaps.list().catch((e: unknown) => e)) as RunResponseError;
    expect(err).toMatchObject({
      message: 'top',
      errors: ['e1'],
      warnings: ['w1'],
      exceptionMessage: 'ValueError: x',
      traceback: 'Traceback ...',
      detail: 'lower',
      statusCode: 422,
    });
  });

  it('no answer at all is NetworkError', async () => {
    const client = new DatalayerClient({ baseUrl: 'http://127.0.0.1:1', token: MOCK_JWT });
    clients.push(client);
    const err = await new RuntimeSnapshots(client).list().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NetworkError);
    expect(err).toMatchObject({ name: 'NetworkError', code: 'IO' });
  });

  it('a 2xx envelope with success:false, or without the record, is an error naming it', async () => {
    const snaps = setup();
    api.on(
      'GET',
      `${B}/runtime-snapshots/x`,
      { status: 200, body: { success: false, message: 'quota exceeded' } },
      1,
    );
    api.on(
      'GET',
      `${B}/runtime-snapshots/x`,
      { status: 200, body: { success: true, snapshot: { uid: 'x' } } },
      1,
    );
    await expect(snaps.get('x')).rejects.toThrow('Datalayer: quota exceeded');
    await expect(snaps.get('x')).rejects.toMatchObject({
      code: 'BAD_RESPONSE',
      field: 'snapshot.name',
    });
  });

  it('base URL, prefix and path segment are configurable (sandbox-snapshots upstream)', async () => {
    const snaps = setup({
      baseUrl: 'http://mock/',
      prefix: '/api/sandboxes/v2/',
      snapshotsSegment: 'sandbox-snapshots',
    });
    api.on('GET', '/api/sandboxes/v2/sandbox-snapshots', {
      status: 200,
      body: { success: true, snapshots: [] },
    });
    await expect(snaps.list()).resolves.toEqual([]);
    expect(api.requests[0]?.path).toBe('/api/sandboxes/v2/sandbox-snapshots');
  });
});

describe('Datalayer: 202 with Location (A.3 item 2)', () => {
  it('polls the Location with GET while 202, waiting longer each time, and returns the final body', async () => {
    const events: EngineEvent[] = [];
    const snaps = setup({ onEvent: (e) => events.push(e) }, 'http://mock:8080');
    api.on('POST', `${B}/runtime-snapshots`, {
      status: 202,
      headers: { location: `${B}/operations/7` },
    });
    api.on('GET', `${B}/operations/7`, { status: 202 }, 2);
    api.on('GET', `${B}/operations/7`, {
      status: 200,
      body: { success: true, message: 'done', snapshot: { ...RECORD, uid: 'late' } },
    });
    const s = await snaps.create('pod', 'n');
    expect(s.uid).toBe('late');
    // A relative Location keeps the port (the 1.0.20 SDK dropped it).
    const polls = api.requests.filter((r) => r.path === `${B}/operations/7`);
    expect(polls).toHaveLength(3);
    expect(events.map((e) => e.type === 'wait' && e.polls)).toEqual([1, 2]);
    for (const p of polls) {
      expect(p.method).toBe('GET');
      expect(p.body).toBeUndefined();
      expect(p.headers.authorization).toBe(`Bearer ${MOCK_JWT}`);
    }
  });

  it('a failing poll is a RunResponseError; a Location on another host is not followed', async () => {
    const snaps = setup();
    api.on('DELETE', `${B}/runtime-snapshots/a`, {
      status: 202,
      headers: { location: 'http://mock/op/1' },
    });
    api.on('GET', '/op/1', { status: 500, body: { message: 'worker died' } });
    await expect(snaps.delete('a')).rejects.toMatchObject({
      name: 'RunResponseError',
      message: 'worker died',
    });
    api.on('DELETE', `${B}/runtime-snapshots/b`, {
      status: 202,
      headers: { location: 'http://elsewhere/op/2' },
    });
    await expect(snaps.delete('b')).rejects.toThrow(/another host/);
  });

  it('gives up with TIMEOUT after pollTimeoutMs', async () => {
    let now = 0;
    // The test's clock moves 1.5 s per poll; the real sleeps stay tiny (1, 2, 4 ms).
    const snaps = setup({ pollTimeoutMs: 5000, pollInitialMs: 1, now: () => now });
    api.on('DELETE', `${B}/runtime-snapshots/a`, { status: 202, headers: { location: '/op/1' } });
    api.on('GET', '/op/1', () => {
      now += 1500;
      return { status: 202 };
    });
    await expect(snaps.delete('a')).rejects.toMatchObject({ code: 'TIMEOUT' });
    expect(api.requests.filter((r) => r.path === '/op/1')).toHaveLength(4);
  });
});

describe('Datalayer: restore and load (A.6)', () => {
  const ENVIRONMENTS = {
    success: true,
    message: 'ok',
    environments: [
      { name: 'python-cpu', title: 'Python CPU', burning_rate: 0.5 },
      { name: 'ai-env', title: 'AI', burning_rate: 1 },
    ],
  };
  const RUNTIME = {
    pod_name: 'runtime-pod-1',
    uid: 'r-1',
    given_name: 'Restored from Test Snapshot',
    environment_name: 'python-cpu',
    type: 'notebook',
    burning_rate: 0.5,
    token: 'tok',
    ingress: 'https://jupyter/x',
    started_at: '1700000000',
    expired_at: 1700009000,
  };

  it('restores into a new notebook runtime: environments once, credits from the burning rate', async () => {
    const snaps = setup();
    api.on('GET', `${B}/runtime-snapshots/snapshot-123`, {
      status: 200,
      body: { success: true, snapshot: RECORD },
    });
    api.on('GET', `${B}/environments`, { status: 200, body: ENVIRONMENTS });
    api.on('POST', `${B}/runtimes`, {
      status: 201,
      body: { success: true, message: 'ok', runtime: RUNTIME },
    });
    const s = await snaps.get('snapshot-123');
    const runtime = await s.restore(150);
    await s.restore(1);
    const posts = api.requests.filter((r) => r.method === 'POST');
    expect(posts[0]?.body).toEqual({
      environment_name: 'python-cpu',
      type: 'notebook',
      given_name: 'Restored from Test Snapshot',
      credits_limit: 4500,
      from: 'snapshot-123',
    });
    expect(posts[1]?.body).toHaveProperty('credits_limit', 30);
    expect(api.requests.filter((r) => r.path === `${B}/environments`)).toHaveLength(1);
    expect(runtime).toMatchObject({
      podName: 'runtime-pod-1',
      givenName: 'Restored from Test Snapshot',
      environmentTitle: '',
      startedAt: new Date(1700000000 * 1000),
      expiredAt: new Date(1700009000 * 1000),
    });
  });

  it('an unknown environment fails before any POST, listing the ones there are', async () => {
    const snaps = setup();
    api.on('GET', `${B}/runtime-snapshots/s`, {
      status: 200,
      body: { success: true, snapshot: { ...RECORD, uid: 's', environment: 'gone-env' } },
    });
    api.on('GET', `${B}/environments`, { status: 200, body: ENVIRONMENTS });
    const err = await (await snaps.get('s')).restore(10).catch((e: unknown) => e);
    expect((err as Error).message).toBe(
      'Environment "gone-env" not found. Available environments: python-cpu, ai-env',
    );
    expect(api.requests.filter((r) => r.method === 'POST')).toHaveLength(0);
  });

  it('404 and 503 on runtime create get the SDK messages', async () => {
    const snaps = setup();
    api.on('GET', `${B}/environments`, { status: 200, body: ENVIRONMENTS });
    api.on('POST', `${B}/runtimes`, { status: 404, body: { message: 'no env' } }, 1);
    api.on('POST', `${B}/runtimes`, { status: 503, body: { message: 'full' } }, 1);
    const request = { environmentName: 'python-cpu', givenName: 'g', minutesLimit: 10 };
    await expect(snaps.createRuntime(request)).rejects.toThrow(
      "Environment 'python-cpu' not found. Please check the environment name and try again.",
    );
    await expect(snaps.createRuntime(request)).rejects.toThrow(
      'No runtime available. The service is temporarily unavailable or at capacity. Please try again later.',
    );
    await expect(snaps.createRuntime({ ...request, minutesLimit: 0 })).rejects.toMatchObject({
      field: 'minutes',
    });
  });

  it('loads a snapshot into a running runtime with PUT {from}; 404 names the pod', async () => {
    const snaps = setup();
    api.on('PUT', `${B}/runtimes/pod-a`, {
      status: 200,
      body: { success: true, message: 'loaded' },
    });
    api.on('PUT', `${B}/runtimes/pod-b`, { status: 404, body: {} });
    await expect(snaps.loadInto('pod-a', 'snapshot-123')).resolves.toEqual({
      success: true,
      message: 'loaded',
    });
    expect(api.requests[0]?.body).toEqual({ from: 'snapshot-123' });
    await expect(snaps.loadInto('pod-b', 'snapshot-123')).rejects.toThrow(
      "Runtime with pod name 'pod-b' not found.",
    );
  });
});

describe('Datalayer lifecycle', () => {
  it('delete with wait polls the snapshot until a 404, as the UI does', async () => {
    const snaps = setup();
    const life = new DatalayerLifecycle(snaps.client);
    api.on('DELETE', `${B}/runtime-snapshots/s1`, { status: 204 });
    api.on(
      'GET',
      `${B}/runtime-snapshots/s1`,
      { status: 200, body: { success: true, snapshot: { ...RECORD, uid: 's1' } } },
      2,
    );
    api.on('GET', `${B}/runtime-snapshots/s1`, { status: 404, body: { message: 'gone' } });
    await life.delete('s1', { wait: true });
    expect(api.requests.map((r) => r.method)).toEqual(['DELETE', 'GET', 'GET', 'GET']);
  });

  it('maps onto the one model and refuses what Datalayer lacks', async () => {
    const snaps = setup();
    const life = new DatalayerLifecycle(snaps.client);
    api.on('GET', `${B}/runtime-snapshots/snapshot-123`, {
      status: 200,
      body: { success: true, snapshot: { ...RECORD, size: 1024000, status: 'ready' } },
    });
    expect(await life.get('snapshot-123')).toEqual({
      backend: 'datalayer',
      id: 'snapshot-123',
      name: 'Test Snapshot',
      description: 'Test snapshot description',
      createdAt: null,
      updatedAt: '2023-01-01T12:00:00.000Z',
      expiresAt: null,
      neverExpires: true,
      status: 'ready',
      frozen: false,
      private: false,
      size: 1024000,
      raw: { ...RECORD, size: 1024000, status: 'ready' },
    });
    await expect(life.create({ name: 'n', runtime: 'p', retentionSec: 60 })).rejects.toMatchObject({
      code: 'UNSUPPORTED',
      message: expect.stringMatching(/datalayer: create does not take retentionSec/),
    });
    await expect(life.create({ name: 'n' })).rejects.toThrow(/Pod name is required/);
    await expect(life.restore('snapshot-123', { vm: 'x' })).rejects.toMatchObject({
      code: 'UNSUPPORTED',
    });
    await expect(life.restore('snapshot-123', {})).rejects.toThrow(/exactly one/);
    expect(api.requests).toHaveLength(1);
  });
});
