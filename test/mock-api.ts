/**
 * A recording HTTP mock for the adapters' API tests. The adapters speak undici's
 * dispatcher API, which nock cannot intercept (nock patches node:http and the global
 * fetch only), so this is undici's MockAgent with one catch-all interceptor that records
 * every request (method, path, decoded query, headers, parsed body) and answers from a
 * route table, so each test can assert the exact request it expects.
 */
import { MockAgent } from 'undici';

export interface RecordedRequest {
  method: string;
  /** The path without the query. */
  path: string;
  /** The query after URL-decoding. */
  query: Record<string, string>;
  /** Query parameter names in the order they were sent. */
  queryKeys: string[];
  headers: Record<string, string>;
  /** Parsed JSON body, or the raw text, or undefined. */
  body: unknown;
}

export interface MockReply {
  status: number;
  /** An object or array is sent as JSON; a string as is. */
  body?: unknown;
  headers?: Record<string, string>;
}

type Reply = MockReply | ((req: RecordedRequest) => MockReply);

interface Route {
  method: string;
  path: string | RegExp;
  reply: Reply;
  times: number;
}

export class MockApi {
  readonly agent = new MockAgent();
  readonly requests: RecordedRequest[] = [];
  private readonly routes: Route[] = [];

  constructor(readonly origin: string) {
    this.agent.disableNetConnect();
    this.agent
      .get(origin)
      .intercept({ path: () => true, method: () => true })
      .reply((opts) => {
        const req = record(opts, origin);
        this.requests.push(req);
        const route = this.routes.find(
          (r) =>
            r.times > 0 &&
            r.method === req.method &&
            (typeof r.path === 'string' ? r.path === req.path : r.path.test(req.path)),
        );
        if (!route) {
          return { statusCode: 599, data: `no mock route for ${req.method} ${req.path}` };
        }
        route.times--;
        const out = typeof route.reply === 'function' ? route.reply(req) : route.reply;
        const data =
          out.body === undefined
            ? ''
            : typeof out.body === 'string'
              ? out.body
              : JSON.stringify(out.body);
        return {
          statusCode: out.status,
          data,
          responseOptions: {
            headers: {
              ...(typeof out.body === 'object' ? { 'content-type': 'application/json' } : {}),
              ...out.headers,
            },
          },
        };
      })
      .persist();
  }

  /** Answers `method path` with `reply`, `times` times (default: always). */
  on(method: string, path: string | RegExp, reply: Reply, times = Number.POSITIVE_INFINITY): this {
    this.routes.push({ method, path, reply, times });
    return this;
  }

  /** The requests other than the ones to `path` (e.g. a handshake). */
  without(path: string): RecordedRequest[] {
    return this.requests.filter((r) => r.path !== path);
  }

  private closed = false;

  /** Idempotent, so a test may close it early and the shared teardown still runs. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.agent.close();
  }
}

function record(
  opts: { method: string; path: string; headers?: unknown; body?: unknown },
  origin: string,
): RecordedRequest {
  const url = new URL(opts.path, origin);
  const query: Record<string, string> = {};
  const queryKeys: string[] = [];
  for (const [k, v] of url.searchParams) {
    query[k] = v;
    queryKeys.push(k);
  }
  const headers: Record<string, string> = {};
  const h = opts.headers;
  if (Array.isArray(h)) {
    for (let i = 0; i + 1 < h.length; i += 2)
      headers[String(h[i]).toLowerCase()] = String(h[i + 1]);
  } else if (h && typeof h === 'object') {
    for (const [k, v] of Object.entries(h as Record<string, unknown>))
      headers[k.toLowerCase()] = String(v);
  }
  let body: unknown;
  if (typeof opts.body === 'string' && opts.body !== '') {
    try {
      body = JSON.parse(opts.body);
    } catch {
      body = opts.body;
    }
  }
  return { method: opts.method, path: url.pathname, query, queryKeys, headers, body };
}
