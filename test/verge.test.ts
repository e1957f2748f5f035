/**
 * The VergeOS adapter against the wire contract of pyvergeos (specs/seed-apis.md Part B):
 * every B.9 acceptance case, plus the prose the table does not show.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { VergeClient, type VergeOptions } from '../src/adapters/verge/client.js';
import {
  CloudSnapshots,
  SNAP_FIELDS,
  TENANT_FIELDS,
  VM_FIELDS,
} from '../src/adapters/verge/cloud-snapshots.js';
import {
  NotConnectedError,
  VergeApiError,
  VergeAuthenticationError,
  VergeConflictError,
  VergeConnectionError,
  VergeError,
  VergeNotFoundError,
  VergeTaskError,
  VergeTaskTimeoutError,
  VergeTimeoutError,
  VergeValidationError,
} from '../src/adapters/verge/errors.js';
import { buildFilter, formatValue } from '../src/adapters/verge/filters.js';
import { VergeLifecycle } from '../src/adapters/verge/lifecycle.js';
import { TASK_FIELDS, waitTask } from '../src/adapters/verge/tasks.js';
import type { EngineEvent } from '../src/engine/events.js';
import { SnapupError } from '../src/errors.js';
import { MockApi } from './mock-api.js';

const NOW = 1735689600;
const BASIC = 'Basic YWRtaW46c2VjcmV0';
const SYSTEM = { $key: 1, yb_version: '4.12.0', os_version: '26.0', cloud_name: 'test-cloud' };
const SNAPSHOT = {
  $key: 1,
  name: 'Test Snapshot',
  description: 'A test cloud snapshot',
  created: 1735689600,
  expires: 1735776000,
  snapshot_profile: 5,
  private: false,
  remote_sync: false,
  immutable: true,
  immutable_status: 'locked',
  immutable_lock_expires: 1735862400,
  status: 'normal',
  status_info: '',
};
const VM = {
  $key: 100,
  name: 'TestVM',
  description: 'A test VM in snapshot',
  uuid: '550e8400-e29b-41d4-a716-446655440000',
  machine_uuid: '660e8400-e29b-41d4-a716-446655440001',
  cpu_cores: 2,
  ram: 2048,
  os_family: 'linux',
  is_snapshot: true,
  status: 'idle',
  status_info: '',
  original_key: 50,
  cloud_snapshot: 1,
};
const TENANT = {
  $key: 200,
  name: 'TestTenant',
  description: '',
  uuid: 'u',
  nodes: 2,
  cpu_cores: 8,
  ram: 16384,
  is_snapshot: true,
  status: 'idle',
  status_info: '',
  original_key: 10,
  cloud_snapshot: 1,
};

let api: MockApi;
const clients: VergeClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
  await api?.close();
});

/** A mock VergeOS at https://mock with the handshake answered, and a client on it. */
function setup(options: Partial<VergeOptions> = {}) {
  api = new MockApi('https://mock');
  api.on('GET', '/api/v4/system', { status: 200, body: SYSTEM });
  const client = new VergeClient({
    host: 'mock',
    username: 'admin',
    password: 'secret',
    dispatcher: api.agent,
    now: () => NOW * 1000,
    retry: { minDelayMs: 1, maxDelayMs: 2 },
    ...options,
  });
  clients.push(client);
  return { client, snaps: new CloudSnapshots(client) };
}

/** The requests after the handshake. */
const calls = () => api.without('/api/v4/system');

describe('VergeOS: connect, auth and transport (B.2, B.3)', () => {
  it('VG-00: connects with GET system and keeps the versions; every request has the JSON headers', async () => {
    const { client } = setup();
    const info = await client.connect();
    expect(info).toEqual({ ybVersion: '4.12.0', osVersion: '26.0', cloudName: 'test-cloud' });
    expect(client.connected).toBe(true);
    const [req] = api.requests;
    expect(req?.method).toBe('GET');
    expect(req?.path).toBe('/api/v4/system');
    expect(req?.query).toEqual({ fields: '$key,yb_version,os_version,cloud_name' });
    expect(req?.headers.authorization).toBe(BASIC);
    expect(req?.headers['content-type']).toBe('application/json');
    expect(req?.headers.accept).toBe('application/json');
  });

  it('VG-00c: a token is sent as Bearer and wins over a password', async () => {
    const { client } = setup({ token: 'abc' });
    await client.connect();
    expect(api.requests[0]?.headers.authorization).toBe('Bearer abc');
  });

  it('accepts a one-element list from system, and connects once for many calls', async () => {
    api = new MockApi('https://mock');
    api.on('GET', '/api/v4/system', { status: 200, body: [SYSTEM] });
    api.on('GET', '/api/v4/cloud_snapshots', { status: 200, body: [] });
    const client = new VergeClient({ host: 'mock', token: 't', dispatcher: api.agent });
    clients.push(client);
    const s = new CloudSnapshots(client);
    await Promise.all([s.list(), s.list(), s.list()]);
    expect(api.requests.filter((r) => r.path === '/api/v4/system')).toHaveLength(1);
    expect(client.system?.cloudName).toBe('test-cloud');
  });

  it('refuses to connect without a token or user/password, before any request', () => {
    expect(() => new VergeClient({ host: 'mock', username: 'admin' })).toThrow(
      /Either token or username\/password required/,
    );
  });

  it('builds https://{host}/api/v4 and refuses plain http except on loopback', () => {
    const c = (host: string) => new VergeClient({ host, token: 't' });
    expect(c('verge.example').baseUrl).toBe('https://verge.example/api/v4');
    expect(c('verge.example:8443').baseUrl).toBe('https://verge.example:8443/api/v4');
    expect(c('https://verge.example/').baseUrl).toBe('https://verge.example/api/v4');
    expect(c('http://127.0.0.1:9000').baseUrl).toBe('http://127.0.0.1:9000/api/v4');
    expect(() => c('http://verge.example')).toThrow(/must use https/);
    expect(() => c('https://verge.example/api')).toThrow(/not a URL with a path/);
    expect(() => c('')).toThrow(/verge host: required/);
  });

  it('401 and 403 on connect are AuthenticationError; another answer is VergeConnectionError', async () => {
    for (const [status, code] of [
      [401, 'UNAUTHORIZED'],
      [403, 'FORBIDDEN'],
    ] as const) {
      api = new MockApi('https://mock');
      api.on('GET', '/api/v4/system', { status, body: { err: 'Login required' } });
      const client = new VergeClient({ host: 'mock', token: 'bad', dispatcher: api.agent });
      clients.push(client);
      const err = await client.connect().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(VergeAuthenticationError);
      expect(err).toBeInstanceOf(VergeApiError);
      expect(err).toMatchObject({
        name: 'AuthenticationError',
        statusCode: status,
        code,
        message: 'Login required',
      });
      await api.close();
    }
    api = new MockApi('https://mock');
    api.on('GET', '/api/v4/system', { status: 200, body: 'maintenance page' });
    const client = new VergeClient({ host: 'mock', token: 't', dispatcher: api.agent });
    clients.push(client);
    const err = await client.connect().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VergeConnectionError);
    expect((err as Error).message).toBe('Unexpected response: HTTP 200');
  });

  it('with autoConnect off, a call before connect() is NotConnectedError and sends nothing', async () => {
    const { client } = setup({ autoConnect: false });
    const err = await new CloudSnapshots(client).list().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotConnectedError);
    expect(api.requests).toHaveLength(0);
    await client.connect();
    api.on('GET', '/api/v4/cloud_snapshots', { status: 200, body: [] });
    await expect(new CloudSnapshots(client).list()).resolves.toEqual([]);
  });

  it('retries 429/500/502/503/504 three times, POST included, then raises APIError with the status', async () => {
    const events: EngineEvent[] = [];
    const { snaps } = setup({ onEvent: (e) => events.push(e) });
    let posts = 0;
    api.on('POST', '/api/v4/cloud_snapshots', () => {
      posts++;
      return { status: 503, body: { error: 'busy' } };
    });
    const err = await snaps.create({ name: 'x' }).catch((e: unknown) => e);
    expect(posts).toBe(4);
    expect(err).toBeInstanceOf(VergeApiError);
    expect(err).toMatchObject({
      name: 'APIError',
      statusCode: 503,
      message: 'busy',
      code: 'REMOTE',
    });
    expect(
      events.map((e) => e.type === 'retry' && [e.attempt, e.retries, e.reason, e.url]),
    ).toEqual([
      [1, 3, 'HTTP 503', 'https://mock/api/v4/cloud_snapshots'],
      [2, 3, 'HTTP 503', 'https://mock/api/v4/cloud_snapshots'],
      [3, 3, 'HTTP 503', 'https://mock/api/v4/cloud_snapshots'],
    ]);
  });

  it('a server that does not answer in time is VergeTimeoutError', async () => {
    const { createServer } = await import('node:net');
    const silent = createServer(() => {});
    await new Promise<void>((done) => silent.listen(0, '127.0.0.1', done));
    try {
      const client = new VergeClient({
        host: `http://127.0.0.1:${(silent.address() as { port: number }).port}`,
        token: 't',
        timeoutMs: 200,
        retry: { retries: 0 },
      });
      clients.push(client);
      const err = await client.connect().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(VergeTimeoutError);
      expect(err).toMatchObject({ name: 'VergeTimeoutError', code: 'TIMEOUT' });
    } finally {
      silent.close();
    }
  });

  it('a retried status that then succeeds gives the answer (Retry-After honoured)', async () => {
    const { snaps } = setup();
    api.on('GET', '/api/v4/cloud_snapshots/1', { status: 429, headers: { 'retry-after': '0' } }, 1);
    api.on('GET', '/api/v4/cloud_snapshots/1', { status: 200, body: SNAPSHOT });
    expect((await snaps.get(1)).name).toBe('Test Snapshot');
    expect(calls()).toHaveLength(2);
  });

  it('maps statuses as pyvergeos does: 202 and 400 are APIError, only 422 is ValidationError', async () => {
    const { snaps } = setup();
    const cases: [number, unknown, new (...a: never[]) => Error, string][] = [
      [202, { task: 5 }, VergeApiError, 'APIError'],
      [400, { err: 'bad filter' }, VergeApiError, 'APIError'],
      [404, { error: 'Not found' }, VergeNotFoundError, 'NotFoundError'],
      [405, { message: 'not permitted' }, VergeApiError, 'APIError'],
      [409, { err: 'row exists' }, VergeConflictError, 'ConflictError'],
      [
        422,
        { err: "Validation error on field: 'x' - 'fails validation test'" },
        VergeValidationError,
        'ValidationError',
      ],
    ];
    for (const [status, body, type, name] of cases) {
      api.on('GET', `/api/v4/cloud_snapshots/${status}`, { status, body }, 1);
      const err = await snaps.get(status).catch((e: unknown) => e);
      expect(err, `HTTP ${status}`).toBeInstanceOf(type);
      expect(err).toBeInstanceOf(VergeError);
      expect(err).toBeInstanceOf(SnapupError);
      expect((err as VergeApiError).name).toBe(name);
      expect((err as VergeApiError).statusCode).toBe(status);
    }
    const e400 = await (async () => {
      api.on('GET', '/api/v4/cloud_snapshots/400', { status: 400, body: { err: 'bad' } }, 1);
      return snaps.get(400).catch((e: unknown) => e);
    })();
    expect(e400).not.toBeInstanceOf(VergeValidationError);
  });

  it('extracts the error message: err, error, message, inner message, whole JSON, text, HTTP code', async () => {
    const { snaps } = setup();
    const cases: [unknown, string][] = [
      [{ err: 'from err', error: 'no' }, 'from err'],
      [{ error: { message: 'inner message' } }, 'inner message'],
      [{ message: 'from message' }, 'from message'],
      [{ other: 1 }, '{"other":1}'],
      ['plain text failure', 'plain text failure'],
      [undefined, 'HTTP 409'],
    ];
    for (const [body, message] of cases) {
      api.on('DELETE', '/api/v4/cloud_snapshots/3', { status: 409, body }, 1);
      await expect(snaps.delete(3)).rejects.toThrow(message);
    }
  });

  it('a network failure is VergeConnectionError naming the URL', async () => {
    const client = new VergeClient({
      host: 'http://127.0.0.1:1',
      token: 't',
      retry: { retries: 0 },
    });
    clients.push(client);
    const err = await client.connect().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VergeConnectionError);
    expect((err as Error).message).toMatch(/127\.0\.0\.1:1\/api\/v4\/system/);
  });
});

describe('VergeOS: filters (B.5)', () => {
  it('formats values and builds clauses like build_filter', () => {
    expect(buildFilter({ name: 'web*' })).toBe("name like 'web%'");
    expect(buildFilter({ name: 'w?b' })).toBe("name like 'w_b'");
    expect(buildFilter({ status: ['running', 'stopped'] })).toBe(
      "status in ('running', 'stopped')",
    );
    expect(buildFilter({ enabled: true })).toBe('enabled eq true');
    expect(buildFilter({ name: "test's vm" })).toBe("name eq 'test''s vm'");
    expect(buildFilter({ a: 1, b: undefined, c: null })).toBe('a eq 1 and c eq null');
    expect(formatValue(false)).toBe('false');
  });

  it('refuses field names that are not identifiers (no operators smuggled in)', () => {
    expect(() => buildFilter({ 'name eq 1 or 1': 1 })).toThrow(/not a plain field name/);
  });

  it('a hostile name stays one quoted value in the query', async () => {
    const { snaps } = setup();
    api.on('GET', '/api/v4/cloud_snapshots', { status: 200, body: [] });
    await expect(snaps.getByName("x') or (name ne '")).rejects.toThrow(VergeNotFoundError);
    expect(calls()[0]?.query.filter).toBe("(name eq 'x'') or (name ne ''')");
  });
});

describe('VergeOS: cloud snapshots (B.6, B.9)', () => {
  it('VG-01: list() filters out expired ones, asks for SNAP_FIELDS, newest first', async () => {
    const { snaps } = setup();
    api.on('GET', '/api/v4/cloud_snapshots', { status: 200, body: [SNAPSHOT] });
    const list = await snaps.list();
    const [req] = calls();
    expect(req?.query).toEqual({
      filter: '(expires eq 0 or expires gt 1735689600)',
      fields: SNAP_FIELDS,
      sort: '-created',
    });
    expect(req?.queryKeys).toEqual(['filter', 'fields', 'sort']);
    expect(req?.headers.authorization).toBe(BASIC);
    expect(list).toHaveLength(1);
    const s = list[0];
    expect(s?.key).toBe(1);
    expect(s?.name).toBe('Test Snapshot');
    expect(s?.createdAt?.toISOString()).toBe('2025-01-01T00:00:00.000Z');
    expect(s?.expiresAt?.toISOString()).toBe('2025-01-02T00:00:00.000Z');
    expect(s?.neverExpires).toBe(false);
    expect(s?.isLocked).toBe(true);
    expect(s?.isImmutable).toBe(true);
    expect(s?.immutableLockExpiresAt?.toISOString()).toBe('2025-01-03T00:00:00.000Z');
  });

  it('VG-02: include_expired sends no filter at all', async () => {
    const { snaps } = setup();
    api.on('GET', '/api/v4/cloud_snapshots', { status: 200, body: [SNAPSHOT] });
    await snaps.list({ includeExpired: true });
    expect(calls()[0]?.query.filter).toBeUndefined();
  });

  it('VG-03: limit and offset are sent only when given', async () => {
    const { snaps } = setup();
    api.on('GET', '/api/v4/cloud_snapshots', { status: 200, body: [SNAPSHOT] });
    await snaps.list({ limit: 1 });
    await snaps.list({ limit: 10, offset: 20 });
    expect(calls()[0]?.query).toMatchObject({ limit: '1' });
    expect(calls()[0]?.query.offset).toBeUndefined();
    expect(calls()[1]?.query).toMatchObject({ limit: '10', offset: '20' });
  });

  it('combines the expiry clause, the caller filter and built conditions; custom fields and sort', async () => {
    const { snaps } = setup();
    api.on('GET', '/api/v4/cloud_snapshots', { status: 200, body: SNAPSHOT });
    const list = await snaps.list({
      filter: 'private eq true',
      where: { name: 'nightly*', status: ['normal', 'held'] },
      fields: ['$key', 'name'],
      sort: '+name',
    });
    expect(calls()[0]?.query).toEqual({
      filter:
        "(expires eq 0 or expires gt 1735689600) and (private eq true) and name like 'nightly%' and status in ('normal', 'held')",
      fields: '$key,name',
      sort: '+name',
    });
    // A single object is wrapped in a list.
    expect(list.map((s) => s.key)).toEqual([1]);
  });

  it('include_vms / include_tenants: one call per snapshot; a failing call gives []', async () => {
    const { snaps } = setup();
    api.on('GET', '/api/v4/cloud_snapshots', { status: 200, body: [SNAPSHOT] });
    api.on('GET', '/api/v4/cloud_snapshot_vms', { status: 200, body: [VM] });
    api.on('GET', '/api/v4/cloud_snapshot_tenants', { status: 403, body: { err: 'no' } });
    const [s] = await snaps.list({ includeVms: true, includeTenants: true });
    expect(s?.vms?.map((v) => v.name)).toEqual(['TestVM']);
    expect(s?.tenants).toEqual([]);
  });

  it('VG-04: get(1) asks for SNAP_FIELDS', async () => {
    const { snaps } = setup();
    api.on('GET', '/api/v4/cloud_snapshots/1', { status: 200, body: SNAPSHOT });
    expect((await snaps.get(1)).key).toBe(1);
    expect(calls()[0]?.query).toEqual({ fields: SNAP_FIELDS });
  });

  it('get: an empty or non-object answer is NotFoundError', async () => {
    const { snaps } = setup();
    api.on('GET', '/api/v4/cloud_snapshots/2', { status: 200 }, 1);
    api.on('GET', '/api/v4/cloud_snapshots/2', { status: 200, body: [] }, 1);
    await expect(snaps.get(2)).rejects.toThrow(
      new VergeNotFoundError('Cloud snapshot 2 not found'),
    );
    await expect(snaps.get(2)).rejects.toBeInstanceOf(VergeNotFoundError);
  });

  it('VG-05: get by name uses a name filter, limit 1, expired ones included', async () => {
    const { snaps } = setup();
    api.on('GET', '/api/v4/cloud_snapshots', { status: 200, body: [SNAPSHOT] });
    expect((await snaps.getByName('Test Snapshot')).name).toBe('Test Snapshot');
    expect(calls()[0]?.query).toEqual({
      filter: "(name eq 'Test Snapshot')",
      fields: SNAP_FIELDS,
      limit: '1',
      sort: '-created',
    });
    expect(calls()[0]?.queryKeys).toEqual(['filter', 'fields', 'limit', 'sort']);
  });

  it('VG-06: get by name with no match is NotFoundError', async () => {
    const { snaps } = setup();
    api.on('GET', '/api/v4/cloud_snapshots', { status: 200, body: [] });
    const err = await snaps.getByName('NonExistent').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VergeNotFoundError);
    expect((err as Error).message).toBe("Cloud snapshot 'NonExistent' not found");
  });

  it('VG-07: get(999) answered 404 is NotFoundError("Not found", 404)', async () => {
    const { snaps } = setup();
    api.on('GET', '/api/v4/cloud_snapshots/999', { status: 404, body: { error: 'Not found' } });
    const err = await snaps.get(999).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VergeNotFoundError);
    expect(err).toMatchObject({ message: 'Not found', statusCode: 404, code: 'NOT_FOUND' });
  });

  it('VG-08: create posts name, min_snapshots and a 3-day date expiry, then GETs the new record', async () => {
    const { snaps } = setup();
    api.on('POST', '/api/v4/cloud_snapshots', {
      status: 201,
      body: { location: '/v4/cloud_snapshots/5', dbpath: 'cloud_snapshots/5', $row: 5, $key: '5' },
    });
    api.on('GET', '/api/v4/cloud_snapshots/5', {
      status: 200,
      body: { $key: 5, name: 'Test Create', created: 1735689600, expires: 1735948800 },
    });
    const s = await snaps.create({ name: 'Test Create' });
    expect(s.key).toBe(5);
    const [post, get] = calls();
    expect(post?.method).toBe('POST');
    expect(post?.body).toEqual({
      name: 'Test Create',
      min_snapshots: 1,
      expires: 1735948800,
      expires_type: 'date',
    });
    expect(post?.body).not.toHaveProperty('retention');
    expect(post?.headers.authorization).toBe(BASIC);
    expect(get?.query).toEqual({ fields: SNAP_FIELDS });
  });

  it('VG-09 / VG-10: retention in seconds or as a longer duration gives a date expiry', async () => {
    const { snaps } = setup();
    api.on('POST', '/api/v4/cloud_snapshots', { status: 201, body: { name: 'r' } });
    await snaps.create({ name: 'Custom Retention', retentionSec: 3600 });
    await snaps.create({ name: 'Timedelta Retention', retentionSec: 2 * 3600 });
    expect(calls()[0]?.body).toMatchObject({ expires: 1735693200, expires_type: 'date' });
    expect(calls()[1]?.body).toMatchObject({ expires: 1735696800, expires_type: 'date' });
  });

  it('VG-11: never expire sends expires 0 / never and reports neverExpires', async () => {
    const { snaps } = setup();
    api.on('POST', '/api/v4/cloud_snapshots', {
      status: 201,
      body: { $key: 8, name: 'Never Expire', expires: 0 },
    });
    api.on('GET', '/api/v4/cloud_snapshots/8', {
      status: 200,
      body: { $key: 8, name: 'Never Expire', expires: 0 },
    });
    const s = await snaps.create({ name: 'Never Expire', neverExpire: true });
    expect(calls()[0]?.body).toMatchObject({ expires: 0, expires_type: 'never' });
    expect(s.neverExpires).toBe(true);
    expect(s.expiresAt).toBeNull();
    await expect(snaps.create({ neverExpire: true, retentionSec: 5 })).rejects.toThrow(
      /contradict/,
    );
  });

  it('VG-12: immutable and private are sent only when true', async () => {
    const { snaps } = setup();
    api.on('POST', '/api/v4/cloud_snapshots', { status: 201, body: { name: 'x' } });
    await snaps.create({ name: 'Immutable', immutable: true });
    await snaps.create({ name: 'Private', private: true });
    await snaps.create({ name: 'Plain', immutable: false, private: false, minSnapshots: 3 });
    expect(calls()[0]?.body).toMatchObject({ immutable: true });
    expect(calls()[0]?.body).not.toHaveProperty('private');
    expect(calls()[1]?.body).toMatchObject({ private: true });
    expect(calls()[1]?.body).not.toHaveProperty('immutable');
    expect(calls()[2]?.body).toEqual({
      name: 'Plain',
      min_snapshots: 3,
      expires: NOW + 259200,
      expires_type: 'date',
    });
  });

  it('create: the default name is Snapshot_YYYYMMDD_HHMM in local time', async () => {
    const { snaps } = setup();
    api.on('POST', '/api/v4/cloud_snapshots', { status: 201, body: { name: 'x' } });
    await snaps.create();
    const d = new Date(NOW * 1000);
    const p = (n: number) => String(n).padStart(2, '0');
    expect(calls()[0]?.body).toHaveProperty(
      'name',
      `Snapshot_${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}_${p(d.getHours())}${p(d.getMinutes())}`,
    );
  });

  it('create with wait: waits on the task the answer names before fetching the record', async () => {
    const { snaps } = setup();
    api.on('POST', '/api/v4/cloud_snapshots', { status: 201, body: { $key: '6', task: 77 } });
    api.on('GET', '/api/v4/tasks/77', { status: 200, body: { $key: 77, status: 'running' } }, 1);
    api.on('GET', '/api/v4/tasks/77', { status: 200, body: { $key: 77, status: 'idle' } });
    api.on('GET', '/api/v4/cloud_snapshots/6', { status: 200, body: { $key: 6, name: 'w' } });
    const s = await snaps.create({ name: 'w', wait: true, pollIntervalMs: 1 });
    expect(s.key).toBe(6);
    expect(calls().map((r) => `${r.method} ${r.path}`)).toEqual([
      'POST /api/v4/cloud_snapshots',
      'GET /api/v4/tasks/77',
      'GET /api/v4/tasks/77',
      'GET /api/v4/cloud_snapshots/6',
    ]);
    expect(calls()[1]?.query).toEqual({ fields: TASK_FIELDS });
  });

  it('create: an errored task raises TaskError; a non-object answer is refused', async () => {
    const { snaps } = setup();
    api.on('POST', '/api/v4/cloud_snapshots', { status: 201, body: { $key: '6', task: 78 } }, 1);
    api.on('GET', '/api/v4/tasks/78', { status: 200, body: { $key: 78, status: 'error' } });
    const err = await snaps
      .create({ name: 'e', wait: true, pollIntervalMs: 1 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VergeTaskError);
    expect(err).toMatchObject({ name: 'TaskError', message: 'Task failed', taskId: 78 });
    api.on('POST', '/api/v4/cloud_snapshots', { status: 201, body: [1, 2] }, 1);
    await expect(snaps.create({ name: 'l' })).rejects.toThrow(/not an object/);
  });

  it('VG-15: delete(1) sends DELETE and returns nothing on 204', async () => {
    const { snaps } = setup();
    api.on('DELETE', '/api/v4/cloud_snapshots/1', { status: 204 });
    await expect(snaps.delete(1)).resolves.toBeUndefined();
    expect(calls()[0]).toMatchObject({
      method: 'DELETE',
      path: '/api/v4/cloud_snapshots/1',
      body: undefined,
    });
  });

  it('deleting a locked immutable snapshot is refused locally, with no DELETE sent', async () => {
    const { snaps } = setup();
    api.on('GET', '/api/v4/cloud_snapshots/1', { status: 200, body: SNAPSHOT });
    const s = await snaps.get(1);
    const err = await s.delete().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VergeValidationError);
    expect((err as Error).message).toBe(
      "Cannot delete immutable snapshot 'Test Snapshot' while locked",
    );
    expect(calls().filter((r) => r.method === 'DELETE')).toHaveLength(0);
    // Unlocked: the DELETE goes out, and a server-side 422 is ValidationError.
    api.on('GET', '/api/v4/cloud_snapshots/2', {
      status: 200,
      body: { ...SNAPSHOT, $key: 2, immutable_status: 'unlocking' },
    });
    api.on('DELETE', '/api/v4/cloud_snapshots/2', { status: 422, body: { err: 'still locked' } });
    await expect((await snaps.get(2)).delete()).rejects.toBeInstanceOf(VergeValidationError);
  });

  it('applies the model defaults when fields are missing', async () => {
    const { snaps } = setup();
    api.on('GET', '/api/v4/cloud_snapshots/4', { status: 200, body: { $key: '4' } });
    api.on('GET', '/api/v4/cloud_snapshot_vms', {
      status: 200,
      body: [{ $key: 7, cloud_snapshot: 4 }],
    });
    const s = await snaps.get(4);
    expect([
      s.key,
      s.name,
      s.description,
      s.immutableStatus,
      s.status,
      s.neverExpires,
      s.createdAt,
    ]).toEqual([4, '', '', 'unlocked', 'normal', false, null]);
    const [vm] = await snaps.vms(4).list();
    expect(vm).toMatchObject({
      description: '',
      uuid: null,
      machineUuid: null,
      cpuCores: 0,
      ramMb: 0,
      isSnapshot: false,
      status: 'idle',
      originalKey: null,
    });
  });
});

describe('VergeOS: VMs and tenants in a snapshot, recovery (B.6 items 5-8)', () => {
  it('VG-18: lists the VMs of snapshot 1 by name', async () => {
    const { snaps } = setup();
    api.on('GET', '/api/v4/cloud_snapshot_vms', { status: 200, body: [VM] });
    const vms = await snaps.vms(1).list();
    expect(calls()[0]?.query).toEqual({
      filter: 'cloud_snapshot eq 1',
      fields: VM_FIELDS,
      sort: '+name',
    });
    expect(vms).toHaveLength(1);
    expect(vms[0]).toMatchObject({
      name: 'TestVM',
      ramMb: 2048,
      cpuCores: 2,
      osFamily: 'linux',
      originalKey: 50,
    });
  });

  it('VG-21: lists the tenants of snapshot 1', async () => {
    const { snaps } = setup();
    api.on('GET', '/api/v4/cloud_snapshot_tenants', { status: 200, body: [TENANT] });
    const tenants = await snaps.tenants(1).list();
    expect(calls()[0]?.query).toEqual({
      filter: 'cloud_snapshot eq 1',
      fields: TENANT_FIELDS,
      sort: '+name',
    });
    expect(tenants[0]).toMatchObject({ name: 'TestTenant', nodes: 2, ramMb: 16384 });
  });

  it('VM list adds the caller filter and conditions after the snapshot clause', async () => {
    const { snaps } = setup();
    api.on('GET', '/api/v4/cloud_snapshot_vms', { status: 200, body: [] });
    await snaps.vms(1).list({ filter: 'cpu_cores gt 1', where: { os_family: 'linux' }, limit: 5 });
    expect(calls()[0]?.query).toMatchObject({
      filter: "cloud_snapshot eq 1 and (cpu_cores gt 1) and os_family eq 'linux'",
      limit: '5',
    });
  });

  it('VM get checks it belongs to the snapshot; get by name says where it looked', async () => {
    const { snaps } = setup();
    api.on('GET', '/api/v4/cloud_snapshot_vms/100', { status: 200, body: VM });
    expect((await snaps.vms(1).get(100)).name).toBe('TestVM');
    expect(calls()[0]?.query).toEqual({ fields: VM_FIELDS });
    await expect(snaps.vms(2).get(100)).rejects.toThrow(
      new VergeNotFoundError('VM 100 does not belong to snapshot 2'),
    );
    api.on('GET', '/api/v4/cloud_snapshot_tenants', { status: 200, body: [] });
    await expect(snaps.tenants(1).getByName('Nope')).rejects.toThrow(
      "Tenant 'Nope' not found in cloud snapshot 1",
    );
  });

  it('recovers a VM by names: resolves both keys, posts params.rows and the new name, does not wait', async () => {
    const { snaps } = setup();
    api.on('GET', '/api/v4/cloud_snapshots', { status: 200, body: [SNAPSHOT] });
    api.on('GET', '/api/v4/cloud_snapshot_vms', { status: 200, body: [VM] });
    api.on('POST', '/api/v4/cloud_snapshot_vm_actions', { status: 201, body: { task: 12 } });
    const result = await snaps.recoverVm({
      snapshotName: 'Test Snapshot',
      name: 'TestVM',
      newName: 'TestVM-restored',
    });
    const [byName, vmList, post] = calls();
    expect(byName?.query).toMatchObject({ filter: "(name eq 'Test Snapshot')", limit: '1' });
    expect(vmList?.query.filter).toBe("cloud_snapshot eq 1 and (name eq 'TestVM')");
    expect(vmList?.query.limit).toBeUndefined();
    expect(post?.body).toEqual({
      action: 'recover',
      params: { rows: [100], name: 'TestVM-restored' },
    });
    expect(result).toEqual({
      snapshotKey: 1,
      key: 100,
      status: 'initiated',
      taskKey: 12,
      response: { task: 12 },
    });
    expect(calls()).toHaveLength(3);
  });

  it('recovers a tenant by keys without a new name; missing arguments are refused', async () => {
    const { snaps } = setup();
    api.on('POST', '/api/v4/cloud_snapshot_tenant_actions', { status: 201, body: {} });
    const result = await snaps.recoverTenant({ snapshotKey: 1, key: 200 });
    expect(calls()[0]?.body).toEqual({ action: 'recover', params: { rows: [200] } });
    expect(result).toEqual({ snapshotKey: 1, key: 200, status: 'initiated', response: {} });
    await expect(snaps.recoverVm({ key: 1 })).rejects.toThrow(
      'Either snapshot_key or snapshot_name must be provided',
    );
    await expect(snaps.recoverTenant({ snapshotKey: 1 })).rejects.toThrow(
      'Either tenant_key or tenant_name must be provided',
    );
  });
});

describe('VergeOS: task waits (B.7)', () => {
  it('polls while running; idle returns; error raises with the task error; timeout raises', async () => {
    let clock = NOW * 1000;
    const events: EngineEvent[] = [];
    const { client } = setup({ now: () => clock, onEvent: (e) => events.push(e) });
    api.on('GET', '/api/v4/tasks/1', { status: 200, body: { $key: 1, status: 'running' } }, 2);
    api.on('GET', '/api/v4/tasks/1', { status: 200, body: { $key: 1, status: 'idle' } });
    expect(await waitTask(client, 1, { pollIntervalMs: 1 })).toMatchObject({ status: 'idle' });
    expect(calls()).toHaveLength(3);
    expect(events.map((e) => e.type === 'wait' && [e.what, e.polls, e.status])).toEqual([
      ['VergeOS task 1', 1, 'running'],
      ['VergeOS task 1', 2, 'running'],
      ['VergeOS task 1', 3, 'idle'],
    ]);

    api.on('GET', '/api/v4/tasks/2', {
      status: 200,
      body: { $key: 2, status: 'error', error: 'disk full' },
    });
    await expect(waitTask(client, 2, { pollIntervalMs: 1 })).rejects.toMatchObject({
      name: 'TaskError',
      message: 'disk full',
      taskId: 2,
    });
    expect(await waitTask(client, 2, { raiseOnError: false })).toMatchObject({ status: 'error' });

    api.on('GET', '/api/v4/tasks/3', () => {
      clock += 2000;
      return { status: 200, body: { $key: 3, status: 'running' } };
    });
    const err = await waitTask(client, 3, { timeoutSec: 5, pollIntervalMs: 1 }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(VergeTaskTimeoutError);
    expect(err).toBeInstanceOf(VergeTaskError);
    expect(err).toMatchObject({
      message: 'Task 3 did not complete within 5 seconds',
      taskId: 3,
      code: 'TIMEOUT',
    });
  });

  it('timeout 0 waits for as long as it takes; an abort stops the wait', async () => {
    let clock = NOW * 1000;
    const { client } = setup({ now: () => clock });
    let polls = 0;
    api.on('GET', '/api/v4/tasks/4', () => {
      clock += 3_600_000;
      polls++;
      return { status: 200, body: { status: polls < 5 ? 'running' : 'idle' } };
    });
    await expect(waitTask(client, 4, { timeoutSec: 0, pollIntervalMs: 1 })).resolves.toMatchObject({
      status: 'idle',
    });
    const controller = new AbortController();
    api.on('GET', '/api/v4/tasks/5', () => {
      controller.abort(new Error('stop'));
      return { status: 200, body: { status: 'running' } };
    });
    await expect(
      waitTask(client, 5, { pollIntervalMs: 50, signal: controller.signal }),
    ).rejects.toMatchObject({
      code: 'ABORTED',
    });
  });
});

describe('VergeOS lifecycle', () => {
  it('maps a cloud snapshot onto the one model and refuses options VergeOS lacks', async () => {
    const { client } = setup();
    const life = new VergeLifecycle(client);
    api.on('GET', '/api/v4/cloud_snapshots', { status: 200, body: [SNAPSHOT] });
    const [info] = await life.list({ name: 'Test*' });
    expect(calls()[0]?.query.filter).toBe(
      "(expires eq 0 or expires gt 1735689600) and name like 'Test%'",
    );
    expect(info).toEqual({
      backend: 'verge',
      id: '1',
      name: 'Test Snapshot',
      description: 'A test cloud snapshot',
      createdAt: '2025-01-01T00:00:00.000Z',
      updatedAt: null,
      expiresAt: '2025-01-02T00:00:00.000Z',
      neverExpires: false,
      status: 'normal',
      frozen: true,
      private: false,
      size: null,
      raw: SNAPSHOT,
    });
    await expect(life.create({ name: 'x', source: '/tmp' })).rejects.toMatchObject({
      code: 'UNSUPPORTED',
      message: expect.stringMatching(/verge: create does not take source/),
    });
    await expect(life.restore('1', { dest: '/tmp' })).rejects.toMatchObject({
      code: 'UNSUPPORTED',
    });
    await expect(life.restore('1', {})).rejects.toThrow(/exactly one/);
  });

  it('restore recovers a VM and can wait on its task', async () => {
    const { client } = setup();
    const life = new VergeLifecycle(client);
    life.pollIntervalMs = 1;
    api.on('POST', '/api/v4/cloud_snapshot_vm_actions', { status: 201, body: { task: 9 } });
    api.on('GET', '/api/v4/tasks/9', { status: 200, body: { status: 'idle' } });
    const r = await life.restore('1', { vm: '100', newName: 'back', wait: true });
    expect(r).toMatchObject({
      backend: 'verge',
      kind: 'vm',
      target: '100',
      snapshotId: '1',
      status: 'complete',
    });
    expect(calls()[0]?.body).toEqual({ action: 'recover', params: { rows: [100], name: 'back' } });
  });
});

describe('VergeOS: TLS verification (B.2)', () => {
  // A committed self-signed test certificate for 127.0.0.1 (fixtures/tls; test use only).
  async function tlsServer() {
    const { createServer } = await import('node:https');
    const { readFileSync } = await import('node:fs');
    const server = createServer(
      {
        key: readFileSync(new URL('../fixtures/tls/self-signed.key', import.meta.url)),
        cert: readFileSync(new URL('../fixtures/tls/self-signed.crt', import.meta.url)),
      },
      (_req, res) => {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify(SYSTEM));
      },
    );
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    return { server, port: (server.address() as { port: number }).port };
  }

  it('verifies certificates by default and connects only with the explicit opt-out', async () => {
    const { server, port } = await tlsServer();
    try {
      const strict = new VergeClient({
        host: `127.0.0.1:${port}`,
        token: 't',
        retry: { retries: 0 },
      });
      clients.push(strict);
      const err = await strict.connect().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(VergeConnectionError);
      expect((err as Error).message).toMatch(/self[- ]signed/i);
      expect((err as Error).message).toMatch(
        /its TLS certificate is not trusted \(self-signed certificate\); trust its CA with NODE_EXTRA_CA_CERTS=FILE \(VergeOS: or --insecure/,
      );
      const lax = new VergeClient({ host: `127.0.0.1:${port}`, token: 't', verifyTls: false });
      clients.push(lax);
      await expect(lax.connect()).resolves.toMatchObject({ cloudName: 'test-cloud' });
    } finally {
      server.close();
    }
  });

  it('says that nothing speaks HTTPS where a plain HTTP server answers, not what OpenSSL said', async () => {
    const { createServer } = await import('node:http');
    const server = createServer((_req, res) => res.end('{}'));
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    try {
      const port = (server.address() as { port: number }).port;
      const client = new VergeClient({
        host: `127.0.0.1:${port}`,
        token: 't',
        retry: { retries: 0 },
      });
      clients.push(client);
      const err = (await client.connect().catch((e: unknown) => e)) as Error;
      expect(err.message).toMatch(
        /TLS handshake failed: nothing speaks HTTPS at this address \(a plain HTTP server or another service on that port\?\)/,
      );
      expect(err.message).not.toMatch(/SSL routines/);
    } finally {
      server.close();
    }
  });
});
