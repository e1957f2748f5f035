/**
 * The HTTP transport every remote backend shares: one undici Pool per origin with
 * keep-alive, timeouts on connect and on a stalled body, and retries with exponential
 * backoff and full jitter that honour Retry-After. Request bodies are factories so that a
 * retried upload re-opens its file instead of replaying a consumed stream.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { type Dispatcher, Pool, errors as undiciErrors } from 'undici';
import type { EventSink } from '../engine/events.js';
import { abortError, SnapupError } from '../errors.js';

export interface RetryPolicy {
  /** Attempts after the first. */
  retries: number;
  minDelayMs: number;
  maxDelayMs: number;
  /** Statuses that are retried (besides connection errors and timeouts). */
  retryStatuses: readonly number[];
  /** Whether a method may be retried (all are, for CB: every call is idempotent or resumable). */
  retryMethods: readonly string[];
  /** Longest Retry-After honoured; longer ones are capped to it. */
  maxRetryAfterMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = {
  retries: 5,
  minDelayMs: 200,
  maxDelayMs: 10_000,
  retryStatuses: [408, 429, 500, 502, 503, 504],
  retryMethods: ['GET', 'HEAD', 'PUT', 'POST', 'DELETE', 'PATCH'],
  maxRetryAfterMs: 60_000,
};

export interface TransportOptions {
  /** Base URL, e.g. http://127.0.0.1:8080 (a path prefix is kept). */
  baseUrl: string;
  headers?: Record<string, string>;
  /** Connections per origin; match it to the upload concurrency. */
  connections?: number;
  connectTimeoutMs?: number;
  /** Longest wait for response headers. */
  headersTimeoutMs?: number;
  /** Longest pause between two chunks of a response body. */
  bodyTimeoutMs?: number;
  retry?: Partial<RetryPolicy>;
  /**
   * Verify the server's TLS certificate (default true). Turning it off is an explicit,
   * per-client choice (VergeOS appliances often run self-signed certificates).
   */
  verifyTls?: boolean;
  /** For tests: a MockAgent or other dispatcher instead of the pool. */
  dispatcher?: Dispatcher;
  /** Receives a `retry` event before each retry (progress, logs). */
  onEvent?: EventSink;
  /** Called before each retry, for progress and logs. */
  onRetry?: (info: { attempt: number; delayMs: number; reason: string; path: string }) => void;
}

export type BodyFactory = () => Dispatcher.DispatchOptions['body'];

export interface RequestSpec {
  method: Dispatcher.HttpMethod;
  path: string;
  query?: Record<string, string | undefined>;
  headers?: Record<string, string>;
  /** Called once per attempt. */
  body?: BodyFactory;
  /** `path` is already the full path and query on the base origin (e.g. a Location). */
  absolute?: boolean;
  signal?: AbortSignal;
  /** Override the retry policy for this request (e.g. never for a hash mismatch). */
  retry?: Partial<RetryPolicy>;
}

export interface Response {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Dispatcher.ResponseData['body'];
}

export const DEFAULTS = {
  connections: 8,
  connectTimeoutMs: 10_000,
  headersTimeoutMs: 120_000,
  bodyTimeoutMs: 60_000,
};

export class Transport {
  readonly baseUrl: URL;
  private readonly dispatcher: Dispatcher;
  private readonly policy: RetryPolicy;
  private readonly ownsDispatcher: boolean;

  constructor(private readonly options: TransportOptions) {
    this.baseUrl = new URL(options.baseUrl);
    if (this.baseUrl.protocol !== 'http:' && this.baseUrl.protocol !== 'https:') {
      throw new SnapupError('BAD_INPUT', `server: "${options.baseUrl}" is not an http(s) URL`, {
        field: 'server',
      });
    }
    this.policy = { ...DEFAULT_RETRY, ...options.retry };
    this.ownsDispatcher = options.dispatcher === undefined;
    this.dispatcher =
      options.dispatcher ??
      new Pool(this.baseUrl.origin, {
        connections: options.connections ?? DEFAULTS.connections,
        connectTimeout: options.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs,
        headersTimeout: options.headersTimeoutMs ?? DEFAULTS.headersTimeoutMs,
        bodyTimeout: options.bodyTimeoutMs ?? DEFAULTS.bodyTimeoutMs,
        keepAliveTimeout: 30_000,
        ...(options.verifyTls === false ? { connect: { rejectUnauthorized: false } } : {}),
      });
  }

  /** Full URL path for an API path, keeping a prefix of the base URL. */
  urlPath(path: string, query?: Record<string, string | undefined>): string {
    const prefix = this.baseUrl.pathname.replace(/\/$/, '');
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) params.set(k, v);
    const qs = params.toString();
    return `${prefix}${path}${qs ? `?${qs}` : ''}`;
  }

  /**
   * Sends a request, retrying what the policy allows. Resolves with any final status
   * (the caller maps 4xx/5xx to errors); rejects on network failure after the retries.
   */
  async request(spec: RequestSpec): Promise<Response> {
    const policy = { ...this.policy, ...spec.retry };
    const path = spec.absolute ? spec.path : this.urlPath(spec.path, spec.query);
    const retryable = policy.retryMethods.includes(spec.method);
    for (let attempt = 0; ; attempt++) {
      if (spec.signal?.aborted) throw abortError(spec.signal);
      let reason: string;
      let retryAfterMs: number | undefined;
      try {
        const res = await this.dispatcher.request({
          origin: this.baseUrl.origin,
          method: spec.method,
          path,
          headers: { ...this.options.headers, ...spec.headers },
          body: spec.body?.(),
          signal: spec.signal,
          // Never follow redirects: credentials must not travel to another host.
          maxRedirections: 0,
        } as Dispatcher.RequestOptions);
        if (
          !retryable ||
          !policy.retryStatuses.includes(res.statusCode) ||
          attempt >= policy.retries
        ) {
          return { status: res.statusCode, headers: res.headers, body: res.body };
        }
        await res.body.dump().catch(() => {});
        reason = `HTTP ${res.statusCode}`;
        retryAfterMs = parseRetryAfter(res.headers['retry-after']);
      } catch (err) {
        if (spec.signal?.aborted) throw abortError(spec.signal);
        if (!retryable || !isTransient(err) || attempt >= policy.retries)
          throw networkError(err, this.baseUrl, path);
        reason = (err as Error).message || (err as { code?: string }).code || 'connection error';
      }
      const backoff = Math.random() * Math.min(policy.maxDelayMs, policy.minDelayMs * 2 ** attempt);
      const delayMs = Math.min(policy.maxRetryAfterMs, retryAfterMs ?? backoff);
      this.options.onRetry?.({ attempt: attempt + 1, delayMs, reason, path });
      this.options.onEvent?.({
        type: 'retry',
        url: `${this.baseUrl.origin}${path}`,
        attempt: attempt + 1,
        retries: policy.retries,
        delayMs,
        reason,
      });
      await sleep(delayMs, undefined, spec.signal ? { signal: spec.signal } : {}).catch(() => {
        throw abortError(spec.signal);
      });
    }
  }

  async close(): Promise<void> {
    if (this.ownsDispatcher) await this.dispatcher.close();
  }
}

/** The body as JSON, `undefined` when empty, or the raw text when it is not JSON. */
export async function readBody(res: Response): Promise<unknown> {
  return parseBodyText(await res.body.text());
}

export function parseBodyText(text: string): unknown {
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** Retry-After as seconds or an HTTP date, in ms; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | string[] | undefined): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined || v === '') return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CLOSED',
]);

function isTransient(err: unknown): boolean {
  if (err instanceof undiciErrors.RequestAbortedError) return false;
  const code =
    (err as { code?: string }).code ?? (err as { cause?: { code?: string } }).cause?.code;
  return code !== undefined && TRANSIENT_CODES.has(code);
}

/** Certificate errors Node reports by code, for which trusting the right CA is the remedy. */
const UNTRUSTED_CERT = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
]);

/**
 * What a TLS failure means for the user, instead of OpenSSL's own line
 * ("80CC…:error:0A00010B:SSL routines:ssl3_get_record:wrong version number:…").
 */
function tlsProblem(code: string | undefined, message: string): string | undefined {
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || /wrong version number/.test(message))
    return 'TLS handshake failed: nothing speaks HTTPS at this address (a plain HTTP server or another service on that port?)';
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID')
    return `its certificate is for another host (${message})`;
  if (code !== undefined && UNTRUSTED_CERT.has(code))
    return `its TLS certificate is not trusted (${message}); trust its CA with NODE_EXTRA_CA_CERTS=FILE (VergeOS: or --insecure for a self-signed appliance)`;
  return undefined;
}

function networkError(err: unknown, base: URL, path: string): SnapupError {
  if (err instanceof SnapupError) return err;
  const code = (err as { code?: string }).code;
  const message = (err as Error).message || code || String(err);
  const what = tlsProblem(code, message) ?? message;
  return new SnapupError(
    'IO',
    `${base.origin}${path}: ${what}${code === 'ECONNREFUSED' ? ' (is the server running?)' : ''}`,
    {
      path: `${base.origin}${path}`,
      cause: err,
    },
  );
}
