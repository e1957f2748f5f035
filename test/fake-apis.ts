/**
 * Small stateful fakes of the Datalayer and VergeOS APIs on 127.0.0.1, for the shared
 * lifecycle suite and the CLI tests (a CLI process cannot see an in-process MockAgent).
 * They follow the wire shapes of specs/seed-apis.md; the exact-request tests use MockApi.
 */

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

/** The SDK tests' MOCK_JWT_TOKEN shape: HS256 header, far-future exp, 47 filler characters. */
export const MOCK_JWT = [
  b64({ alg: 'HS256', typ: 'JWT' }),
  b64({
    sub: 'test-user-id',
    iss: 'datalayer',
    iat: 1700000000,
    aud: 'datalayer-api',
    exp: 9999999999,
  }),
  'x'.repeat(47),
].join('.');

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

type Handler = (
  req: IncomingMessage,
  url: URL,
  body: unknown,
) => { status: number; body?: unknown };

export interface FakeServer<S> {
  url: string;
  state: S;
  requests: { method: string; path: string }[];
  close(): Promise<void>;
}

async function serve<S>(
  state: S,
  auth: (header: string | undefined) => boolean,
  handle: Handler,
): Promise<FakeServer<S>> {
  const requests: { method: string; path: string }[] = [];
  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://fake');
    requests.push({ method: req.method ?? '', path: url.pathname });
    let out: { status: number; body?: unknown };
    if (!auth(req.headers.authorization))
      out = { status: 401, body: { message: 'Login required' } };
    else {
      try {
        out = handle(req, url, text ? JSON.parse(text) : undefined);
      } catch (err) {
        out = { status: 500, body: { message: String(err) } };
      }
    }
    res.statusCode = out.status;
    if (out.body !== undefined) {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(out.body));
    } else res.end();
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    state,
    requests,
    close: () => new Promise<void>((done) => server.close(() => done())),
  };
}

export interface DatalayerState {
  pods: Set<string>;
  snapshots: Map<string, Record<string, unknown>>;
  runtimes: Record<string, unknown>[];
  loads: { pod: string; from: string }[];
}

/** Datalayer's Runtimes API: snapshots of running pods, environments, runtimes. */
export function fakeDatalayer(): Promise<FakeServer<DatalayerState>> {
  const state: DatalayerState = {
    pods: new Set(['pod-1']),
    snapshots: new Map(),
    runtimes: [],
    loads: [],
  };
  let next = 1;
  const P = '/api/runtimes/v1';
  return serve(
    state,
    (h) => h === `Bearer ${MOCK_JWT}`,
    (req, url, body) => {
      const path = url.pathname;
      const b = (body ?? {}) as Record<string, string>;
      const one = new RegExp(`^${P}/runtime-snapshots/([^/]+)$`).exec(path);
      if (path === `${P}/runtime-snapshots` && req.method === 'GET') {
        return {
          status: 200,
          body: { success: true, message: 'ok', snapshots: [...state.snapshots.values()] },
        };
      }
      if (path === `${P}/runtime-snapshots` && req.method === 'POST') {
        if (!state.pods.has(b.pod_name ?? ''))
          return { status: 404, body: { detail: `Runtime '${b.pod_name}' not found` } };
        const snapshot: Record<string, unknown> = {
          uid: `snap-${next++}`,
          name: b.name,
          environment: 'python-cpu',
          updated_at: new Date().toISOString(),
          size: 2048,
          status: 'ready',
        };
        if (b.description !== undefined) snapshot.description = b.description;
        state.snapshots.set(snapshot.uid as string, snapshot);
        return { status: 201, body: { success: true, message: 'created', snapshot } };
      }
      if (one && req.method === 'GET') {
        const snapshot = state.snapshots.get(decodeURIComponent(one[1] as string));
        return snapshot
          ? { status: 200, body: { success: true, message: 'ok', snapshot } }
          : { status: 404, body: { success: false, message: 'Snapshot not found' } };
      }
      if (one && req.method === 'DELETE') {
        return state.snapshots.delete(decodeURIComponent(one[1] as string))
          ? { status: 204 }
          : { status: 404, body: { success: false, message: 'Snapshot not found' } };
      }
      if (path === `${P}/environments`) {
        return {
          status: 200,
          body: {
            success: true,
            message: 'ok',
            environments: [{ name: 'python-cpu', title: 'Python', burning_rate: 0.01 }],
          },
        };
      }
      if (path === `${P}/runtimes` && req.method === 'POST') {
        const runtime = { ...b, pod_name: `runtime-${next++}`, uid: 'r', started_at: 1700000000 };
        state.runtimes.push(runtime);
        return { status: 201, body: { success: true, message: 'ok', runtime } };
      }
      const pod = new RegExp(`^${P}/runtimes/([^/]+)$`).exec(path);
      if (pod && req.method === 'PUT') {
        const name = decodeURIComponent(pod[1] as string);
        if (!state.pods.has(name)) return { status: 404, body: {} };
        state.loads.push({ pod: name, from: b.from as string });
        return { status: 200, body: { success: true, message: 'loaded' } };
      }
      return { status: 404, body: { message: `no route ${req.method} ${path}` } };
    },
  );
}

export interface VergeState {
  snapshots: Map<number, Record<string, unknown>>;
  vms: Record<string, unknown>[];
  tenants: Record<string, unknown>[];
  recovered: { table: string; body: unknown }[];
}

/** Reads the clauses this fake understands out of a VergeOS filter. */
function matches(record: Record<string, unknown>, filter: string | null): boolean {
  if (!filter) return true;
  const gt = /expires gt (\d+)/.exec(filter);
  if (gt && Number(record.expires) !== 0 && Number(record.expires) <= Number(gt[1])) return false;
  const eq = /name eq '((?:[^']|'')*)'/.exec(filter);
  if (eq && record.name !== (eq[1] as string).replaceAll("''", "'")) return false;
  const like = /name like '((?:[^']|'')*)'/.exec(filter);
  if (like) {
    const pattern = (like[1] as string).replaceAll("''", "'");
    const re = new RegExp(
      `^${pattern
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replaceAll('%', '.*')
        .replaceAll('_', '.')}$`,
    );
    if (!re.test(String(record.name))) return false;
  }
  const snap = /cloud_snapshot eq (\d+)/.exec(filter);
  if (snap && record.cloud_snapshot !== Number(snap[1])) return false;
  return true;
}

/** VergeOS's cloud snapshot tables; every snapshot holds VM "web" and tenant "acme". */
export function fakeVerge(): Promise<FakeServer<VergeState>> {
  const state: VergeState = { snapshots: new Map(), vms: [], tenants: [], recovered: [] };
  let next = 1;
  const P = '/api/v4';
  const basic = `Basic ${Buffer.from('admin:secret').toString('base64')}`;
  return serve(
    state,
    (h) => h === basic || h === 'Bearer verge-token',
    (req, url, body) => {
      const path = url.pathname;
      const filter = url.searchParams.get('filter');
      const limit = Number(url.searchParams.get('limit') ?? 0);
      const page = (rows: Record<string, unknown>[]) => (limit > 0 ? rows.slice(0, limit) : rows);
      if (path === `${P}/system`) {
        return {
          status: 200,
          body: { $key: 1, yb_version: '4.12.0', os_version: '26.0', cloud_name: 'fake' },
        };
      }
      if (path === `${P}/cloud_snapshots` && req.method === 'GET') {
        const rows = [...state.snapshots.values()].filter((r) => matches(r, filter));
        return {
          status: 200,
          body: page(rows.sort((a, b) => Number(b.created) - Number(a.created))),
        };
      }
      if (path === `${P}/cloud_snapshots` && req.method === 'POST') {
        const b = body as Record<string, unknown>;
        const key = next++;
        state.snapshots.set(key, {
          $key: key,
          name: b.name,
          description: '',
          created: Math.floor(Date.now() / 1000),
          expires: b.expires,
          private: b.private === true,
          immutable: b.immutable === true,
          immutable_status: b.immutable === true ? 'locked' : 'unlocked',
          status: 'normal',
        });
        state.vms.push({
          $key: 100 + key,
          name: 'web',
          cloud_snapshot: key,
          ram: 2048,
          cpu_cores: 2,
          status: 'idle',
        });
        state.tenants.push({
          $key: 200 + key,
          name: 'acme',
          cloud_snapshot: key,
          nodes: 2,
          ram: 4096,
          status: 'idle',
        });
        return {
          status: 201,
          body: {
            location: `/v4/cloud_snapshots/${key}`,
            dbpath: `cloud_snapshots/${key}`,
            $row: key,
            $key: String(key),
          },
        };
      }
      const one = new RegExp(`^${P}/cloud_snapshots/(\\d+)$`).exec(path);
      if (one) {
        const key = Number(one[1]);
        const record = state.snapshots.get(key);
        if (!record) return { status: 404, body: { error: 'Not found' } };
        if (req.method === 'GET') return { status: 200, body: record };
        if (record.immutable_status === 'locked')
          return { status: 422, body: { err: 'snapshot is locked' } };
        state.snapshots.delete(key);
        return { status: 200 };
      }
      if (path === `${P}/cloud_snapshot_vms`)
        return { status: 200, body: page(state.vms.filter((r) => matches(r, filter))) };
      if (path === `${P}/cloud_snapshot_tenants`) {
        return { status: 200, body: page(state.tenants.filter((r) => matches(r, filter))) };
      }
      const action = new RegExp(`^${P}/(cloud_snapshot_(?:vm|tenant)_actions)$`).exec(path);
      if (action && req.method === 'POST') {
        state.recovered.push({ table: action[1] as string, body });
        return { status: 201, body: { task: 500 } };
      }
      if (path === `${P}/tasks/500`) return { status: 200, body: { $key: 500, status: 'idle' } };
      return { status: 404, body: { error: `no route ${req.method} ${path}` } };
    },
  );
}
