/**
 * The VergeOS API client as pyvergeos drives it: `https://{host}/api/v4`, Bearer token or
 * Basic auth on every request, a connect handshake on `system`, pyvergeos's retry rule
 * (429/500/502/503/504, three times, POST included), a 30 s request timeout, and its
 * mapping of answers to errors (202 is an error; 400 is APIError, only 422 is
 * ValidationError).
 */
import type { Dispatcher } from 'undici';
import { type RetryPolicy, readBody, Transport } from '../../client/http.js';
import type { EventSink } from '../../engine/events.js';
import { SnapupError } from '../../errors.js';
import {
  NotConnectedError,
  VergeApiError,
  VergeAuthenticationError,
  VergeConflictError,
  VergeConnectionError,
  VergeNotFoundError,
  VergeTimeoutError,
  VergeValidationError,
} from './errors.js';

export interface VergeOptions {
  /** `host`, `host:port` or `https://host[:port]`; `http://` only for a loopback host. */
  host: string;
  /** API token; wins over user/password. */
  token?: string;
  username?: string;
  password?: string;
  /** Verify the TLS certificate (default true). */
  verifyTls?: boolean;
  /** Per-request timeout (pyvergeos DEFAULT_TIMEOUT: 30 s). */
  timeoutMs?: number;
  /** Connect on first use (default true); false makes calls before connect() fail. */
  autoConnect?: boolean;
  retry?: Partial<RetryPolicy>;
  onRetry?: ConstructorParameters<typeof Transport>[0]['onRetry'];
  /** Progress: `retry` events from the transport, `wait` events from task waits. */
  onEvent?: EventSink;
  /** For tests: a MockAgent instead of a connection pool. */
  dispatcher?: Dispatcher;
  /** The clock, in ms since the epoch (tests freeze it). */
  now?: () => number;
}

/** pyvergeos: urllib3 Retry(total=3, backoff_factor=1, status_forcelist=[429, 500, 502, 503, 504]). */
export const VERGE_RETRY: Partial<RetryPolicy> = {
  retries: 3,
  minDelayMs: 1000,
  maxDelayMs: 4000,
  retryStatuses: [429, 500, 502, 503, 504],
  retryMethods: ['GET', 'PUT', 'DELETE', 'POST'],
};

export const VERGE_TIMEOUT_MS = 30_000;
const SYSTEM_FIELDS = '$key,yb_version,os_version,cloud_name';

export interface SystemInfo {
  ybVersion: string;
  osVersion: string;
  cloudName: string;
}

export type Query = Record<string, string | undefined>;

export class VergeClient {
  readonly baseUrl: string;
  readonly now: () => number;
  private readonly transport: Transport;
  private readonly autoConnect: boolean;
  private connecting: Promise<SystemInfo> | undefined;
  private closed = false;
  readonly onEvent: EventSink | undefined;
  system: SystemInfo | undefined;

  constructor(options: VergeOptions) {
    this.baseUrl = vergeBaseUrl(options.host);
    this.now = options.now ?? Date.now;
    this.autoConnect = options.autoConnect ?? true;
    const timeout = options.timeoutMs ?? VERGE_TIMEOUT_MS;
    this.transport = new Transport({
      baseUrl: this.baseUrl,
      headers: {
        authorization: authorization(options),
        'content-type': 'application/json',
        accept: 'application/json',
      },
      connections: 4,
      headersTimeoutMs: timeout,
      bodyTimeoutMs: timeout,
      verifyTls: options.verifyTls ?? true,
      retry: { ...VERGE_RETRY, ...options.retry },
      dispatcher: options.dispatcher,
      onRetry: options.onRetry,
      onEvent: options.onEvent,
    });
    this.onEvent = options.onEvent;
  }

  get connected(): boolean {
    return this.system !== undefined;
  }

  /** The handshake: GET system; 401/403 → AuthenticationError; other answers → VergeConnectionError. */
  connect(signal?: AbortSignal): Promise<SystemInfo> {
    if (this.closed) return Promise.reject(new NotConnectedError('the VergeOS client is closed'));
    this.connecting ??= this.handshake(signal).catch((err: unknown) => {
      this.connecting = undefined;
      throw err;
    });
    return this.connecting;
  }

  private async handshake(signal?: AbortSignal): Promise<SystemInfo> {
    const res = await this.send('GET', 'system', { query: { fields: SYSTEM_FIELDS }, signal });
    const body = await readBody(res);
    if (res.status === 401 || res.status === 403) {
      throw new VergeAuthenticationError(errorMessage(body, res.status), {
        statusCode: res.status,
        body,
      });
    }
    const record = Array.isArray(body) && body.length === 1 ? body[0] : body;
    if ((res.status === 200 || res.status === 201) && isRecord(record)) {
      this.system = {
        ybVersion: String(record.yb_version ?? ''),
        osVersion: String(record.os_version ?? ''),
        cloudName: String(record.cloud_name ?? ''),
      };
      return this.system;
    }
    throw new VergeConnectionError(`Unexpected response: HTTP ${res.status}`, {
      statusCode: res.status,
      body,
    });
  }

  /**
   * One API call on `endpoint` (e.g. `cloud_snapshots/5`). Resolves with the parsed
   * JSON (null for an empty body or 204); rejects with the SDK's error for the status.
   */
  async request(
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    endpoint: string,
    options: { query?: Query; body?: unknown; signal?: AbortSignal } = {},
  ): Promise<unknown> {
    if (!this.connected) {
      if (!this.autoConnect || this.closed) throw new NotConnectedError();
      await this.connect(options.signal);
    }
    const res = await this.send(method, endpoint, options);
    const body = await readBody(res);
    if (res.status === 200 || res.status === 201) {
      if (typeof body === 'string') {
        throw new VergeApiError(`${method} ${endpoint}: the answer is not JSON`, {
          statusCode: res.status,
          body,
        });
      }
      return body ?? null;
    }
    if (res.status === 204) return null;
    throw errorFor(res.status, body);
  }

  private async send(
    method: Dispatcher.HttpMethod,
    endpoint: string,
    options: { query?: Query; body?: unknown; signal?: AbortSignal },
  ) {
    const json = options.body === undefined ? undefined : JSON.stringify(options.body);
    try {
      return await this.transport.request({
        method,
        path: `/${endpoint}`,
        query: options.query,
        body: json === undefined ? undefined : () => json,
        signal: options.signal,
      });
    } catch (err) {
      throw connectionError(err);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.system = undefined;
    await this.transport.close();
  }
}

/** `https://{host}/api/v4`. The scheme is https; plain http only reaches loopback. */
export function vergeBaseUrl(host: string): string {
  const trimmed = host.trim().replace(/\/+$/, '');
  if (trimmed === '') {
    throw new SnapupError('BAD_INPUT', 'verge host: required (--verge-host or VERGE_HOST)', {
      field: 'host',
    });
  }
  const withScheme = /^[a-z]+:\/\//i.test(trimmed) ? trimmed : `https://${trimmed}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new SnapupError('BAD_INPUT', `verge host: "${host}" is not a host name`, {
      field: 'host',
    });
  }
  const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
    throw new SnapupError(
      'BAD_INPUT',
      `verge host: "${host}" must use https (plain http is accepted only for 127.0.0.1/localhost)`,
      { field: 'host' },
    );
  }
  if (url.pathname !== '/' || url.search) {
    throw new SnapupError(
      'BAD_INPUT',
      `verge host: "${host}" must be a host, not a URL with a path`,
      {
        field: 'host',
      },
    );
  }
  return `${url.origin}/api/v4`;
}

function authorization(o: VergeOptions): string {
  if (o.token) return `Bearer ${o.token}`;
  if (o.username && o.password !== undefined && o.password !== '') {
    return `Basic ${Buffer.from(`${o.username}:${o.password}`).toString('base64')}`;
  }
  throw new SnapupError(
    'BAD_INPUT',
    'verge: Either token or username/password required (--token or VERGE_TOKEN; --user and --password or VERGE_USER and VERGE_PASSWORD)',
    { field: 'token' },
  );
}

/** The answer's error text: `err`, `error` or `message` (an object's inner message), else the JSON, text or `HTTP <code>`. */
export function errorMessage(body: unknown, status: number): string {
  if (body === undefined || body === null || body === '') return `HTTP ${status}`;
  if (typeof body === 'string') return body;
  if (isRecord(body)) {
    for (const key of ['err', 'error', 'message']) {
      if (!(key in body)) continue;
      const value = body[key];
      if (typeof value === 'string') return value;
      if (isRecord(value) && typeof value.message === 'string') return value.message;
    }
  }
  return JSON.stringify(body);
}

export function errorFor(status: number, body: unknown): VergeApiError {
  const message = errorMessage(body, status);
  const details = { statusCode: status, body };
  if (status === 401 || status === 403) return new VergeAuthenticationError(message, details);
  if (status === 404) return new VergeNotFoundError(message, details);
  if (status === 409) return new VergeConflictError(message, details);
  if (status === 422) return new VergeValidationError(message, details);
  return new VergeApiError(message, details);
}

function connectionError(err: unknown): Error {
  if (!(err instanceof SnapupError) || err.code !== 'IO') return err as Error;
  const cause = err.cause as { code?: string } | undefined;
  if (cause?.code === 'UND_ERR_HEADERS_TIMEOUT' || cause?.code === 'UND_ERR_BODY_TIMEOUT') {
    return new VergeTimeoutError(err.message, { cause: err });
  }
  return new VergeConnectionError(err.message, { cause: err });
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
