/**
 * The Datalayer Runtimes API as `@datalayer/core` calls it: `{base}/api/runtimes/v1/...`,
 * a Bearer token checked before any request, JSON headers on every call (no-cache on
 * GET), any 2xx body returned as is, a 202 with `Location` polled with GETs at 1 s, 2 s,
 * 4 s ..., and non-2xx answers as RunResponseError. The SDK (axios) does not retry.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Dispatcher } from 'undici';
import { parseBodyText, type RetryPolicy, Transport } from '../../client/http.js';
import type { EventSink } from '../../engine/events.js';
import { abortError, SnapupError } from '../../errors.js';
import { NetworkError, RunResponseError } from './errors.js';
import { validateToken } from './token.js';

export const DATALAYER_RUN_URL = 'https://r1.datalayer.run';
export const RUNTIMES_PREFIX = '/api/runtimes/v1';
/** `sandbox-snapshots` at the SDK's HEAD; `runtime-snapshots` in the releases that ship RuntimeSnapshotDTO. */
export const SNAPSHOTS_SEGMENT = 'runtime-snapshots';

export interface DatalayerOptions {
  token?: string;
  /** The Runtimes service (default https://r1.datalayer.run). */
  baseUrl?: string;
  /** Default /api/runtimes/v1. */
  prefix?: string;
  /** Default runtime-snapshots. */
  snapshotsSegment?: string;
  /** First wait of a 202 poll (SDK: 1000 ms, doubling). */
  pollInitialMs?: number;
  /** Longest single wait between polls (the SDK has no cap). */
  pollMaxDelayMs?: number;
  /** Give up a 202 poll or a delete wait after this long; 0 waits forever (as the SDK does). */
  pollTimeoutMs?: number;
  retry?: Partial<RetryPolicy>;
  /** For tests: a MockAgent instead of a connection pool. */
  dispatcher?: Dispatcher;
  now?: () => number;
  /** Progress: `wait` events while polling. */
  onEvent?: EventSink;
}

export const DEFAULT_POLL_TIMEOUT_MS = 15 * 60_000;

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export class DatalayerClient {
  readonly baseUrl: string;
  readonly segment: string;
  readonly now: () => number;
  private readonly transport: Transport;
  private readonly token: string | undefined;
  private readonly options: DatalayerOptions;

  constructor(options: DatalayerOptions) {
    this.options = options;
    const base = (options.baseUrl ?? DATALAYER_RUN_URL).replace(/\/+$/, '');
    if (!URL.canParse(base))
      throw new SnapupError(
        'BAD_INPUT',
        `Invalid service URL "${base}": give one like https://r1.datalayer.run (--datalayer-url or DATALAYER_RUN_URL)`,
        { field: 'datalayer-url' },
      );
    const prefix = `/${(options.prefix ?? RUNTIMES_PREFIX).replace(/^\/+|\/+$/g, '')}`;
    this.baseUrl = `${base}${prefix === '/' ? '' : prefix}`;
    this.segment = (options.snapshotsSegment ?? SNAPSHOTS_SEGMENT).replace(/^\/+|\/+$/g, '');
    this.now = options.now ?? Date.now;
    this.token = options.token;
    this.transport = new Transport({
      baseUrl: this.baseUrl,
      connections: 4,
      // axios retries nothing; neither does the adapter, so a POST is never sent twice.
      retry: { retries: 0, ...options.retry },
      dispatcher: options.dispatcher,
    });
  }

  /** The path of the snapshot collection, or of one snapshot. */
  snapshotsPath(uid?: string): string {
    return uid === undefined ? `/${this.segment}` : `/${this.segment}/${encodeURIComponent(uid)}`;
  }

  /** One call; resolves with the parsed body of the final 2xx answer. */
  async request(
    method: Method,
    path: string,
    body?: unknown,
    signal?: AbortSignal,
  ): Promise<unknown> {
    const token = validateToken(this.token, this.now() / 1000);
    const res = await this.send({ method, path, body, token, signal });
    if (res.status === 202 && typeof res.headers.location === 'string') {
      await res.body.dump().catch(() => {});
      return this.pollLocation(res.headers.location, token, signal);
    }
    return this.answer(res, `${this.baseUrl}${path}`);
  }

  /** GET the `Location` while it answers 202, waiting 1 s, 2 s, 4 s ... between polls. */
  private pollLocation(location: string, token: string, signal?: AbortSignal): Promise<unknown> {
    const target = this.sameOrigin(location);
    return this.poll(`${target.href} still answers 202 (accepted, not done)`, signal, async () => {
      const res = await this.send({
        method: 'GET',
        path: target.pathname + target.search,
        absolute: true,
        token,
        signal,
      });
      if (res.status === 202) {
        await res.body.dump().catch(() => {});
        return { done: false };
      }
      return { done: true, value: await this.answer(res, target.href) };
    });
  }

  /**
   * Calls `step` after 1 s, 2 s, 4 s ... (capped at pollMaxDelayMs) until it is done;
   * fails with TIMEOUT after pollTimeoutMs (0: never), saying `what` was still true.
   */
  async poll<T>(
    what: string,
    signal: AbortSignal | undefined,
    step: () => Promise<{ done: false } | { done: true; value: T }>,
  ): Promise<T> {
    const timeout = this.options.pollTimeoutMs ?? DEFAULT_POLL_TIMEOUT_MS;
    const start = this.now();
    let delay = this.options.pollInitialMs ?? 1000;
    for (let polls = 1; ; polls++) {
      if (timeout > 0 && this.now() - start + delay > timeout) {
        throw new SnapupError('TIMEOUT', `${what} after ${Math.round(timeout / 1000)} s`);
      }
      await sleep(delay, undefined, signal ? { signal } : {}).catch(() => {
        throw abortError(signal);
      });
      delay = Math.min(delay * 2, this.options.pollMaxDelayMs ?? Number.POSITIVE_INFINITY);
      const result = await step();
      if (result.done) return result.value;
      this.options.onEvent?.({ type: 'wait', what, polls, elapsedMs: this.now() - start });
    }
  }

  /**
   * Resolves a Location against the API's origin, keeping the port (the 1.0.20 SDK lost
   * it). An http Location for the same https host is upgraded; another host is refused,
   * because the Bearer token would go with the request.
   */
  private sameOrigin(location: string): URL {
    const base = new URL(this.baseUrl);
    const url = new URL(location, base);
    if (url.hostname === base.hostname && url.protocol === 'http:' && base.protocol === 'https:') {
      url.protocol = 'https:';
      if (url.port === '' && base.port !== '') url.port = base.port;
    }
    if (url.origin !== base.origin) {
      throw new SnapupError(
        'BAD_RESPONSE',
        `the server asked to poll ${url.href}, another host than ${base.origin}; not following (the token would go with it)`,
        {
          path: url.href,
        },
      );
    }
    return url;
  }

  private async answer(
    res: Awaited<ReturnType<Transport['request']>>,
    url: string,
  ): Promise<unknown> {
    const text = await res.body.text();
    const body = parseBodyText(text);
    if (res.status >= 200 && res.status < 300) return body;
    throw new RunResponseError(res.status, body, text, url);
  }

  private async send(spec: {
    method: Method;
    path: string;
    body?: unknown;
    token: string;
    absolute?: boolean;
    signal?: AbortSignal;
  }) {
    const json = spec.body === undefined ? undefined : JSON.stringify(spec.body);
    const headers: Record<string, string> = {
      authorization: `Bearer ${spec.token}`,
      accept: 'application/json',
      'content-type': 'application/json',
    };
    if (spec.method === 'GET') {
      headers['cache-control'] = 'no-store, no-cache, must-revalidate';
      headers.pragma = 'no-cache';
    }
    try {
      return await this.transport.request({
        method: spec.method,
        path: spec.path,
        absolute: spec.absolute,
        headers,
        body: json === undefined ? undefined : () => json,
        signal: spec.signal,
      });
    } catch (err) {
      if (err instanceof SnapupError && err.code === 'IO') throw new NetworkError(err.message, err);
      throw err;
    }
  }

  close(): Promise<void> {
    return this.transport.close();
  }
}

/** The SDK's local check on ids: a non-blank string, or the given message. */
export function requireId(value: string | undefined, message: string, field: string): string {
  if (typeof value !== 'string' || value.trim() === '')
    throw new SnapupError('BAD_INPUT', message, { field });
  return value;
}
