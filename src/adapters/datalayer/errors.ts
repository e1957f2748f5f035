/**
 * The Datalayer SDK's errors inside snapup's hierarchy: `RunResponseError` for any
 * non-2xx answer (message from body `message`, else `detail`, else `detail.message`, else
 * `Invalid response: <status> <statusText>`), `NetworkError` when no answer came at all.
 */
import { STATUS_CODES } from 'node:http';
import { codeForStatus, RemoteApiError } from '../../errors.js';

/** What the SDK's `error.response` offers: a Response-like object without `.data`. */
export interface RunResponse {
  status: number;
  statusText: string;
  ok: false;
  json(): Promise<unknown>;
  text(): Promise<string>;
}

export class RunResponseError extends RemoteApiError {
  readonly response: RunResponse;
  readonly errors: unknown[];
  readonly warnings: unknown[];
  readonly exceptionMessage: string | undefined;
  readonly traceback: string | undefined;
  readonly detail: unknown;

  constructor(status: number, body: unknown, text: string, url?: string) {
    const statusText = STATUS_CODES[status] ?? '';
    const record =
      typeof body === 'object' && body !== null && !Array.isArray(body)
        ? (body as Record<string, unknown>)
        : {};
    super(
      'RunResponseError',
      status >= 500 ? 'REMOTE' : codeForStatus(status),
      runResponseMessage(record, status, statusText),
      {
        statusCode: status,
        body,
        path: url,
      },
    );
    this.response = {
      status,
      statusText,
      ok: false,
      json: async () => JSON.parse(text) as unknown,
      text: async () => text,
    };
    this.errors = Array.isArray(record.errors) ? record.errors : [];
    this.warnings = Array.isArray(record.warnings) ? record.warnings : [];
    this.exceptionMessage = typeof record.exception === 'string' ? record.exception : undefined;
    this.traceback = typeof record.traceback === 'string' ? record.traceback : undefined;
    this.detail = record.detail;
  }
}

function runResponseMessage(
  body: Record<string, unknown>,
  status: number,
  statusText: string,
): string {
  if (typeof body.message === 'string' && body.message !== '') return body.message;
  if (typeof body.detail === 'string' && body.detail !== '') return body.detail;
  const detail = body.detail;
  if (
    typeof detail === 'object' &&
    detail !== null &&
    typeof (detail as { message?: unknown }).message === 'string'
  ) {
    return (detail as { message: string }).message;
  }
  return `Invalid response: ${status} ${statusText}`;
}

/** No HTTP answer at all (refused, reset, DNS, TLS). */
export class NetworkError extends RemoteApiError {
  constructor(message: string, cause?: unknown) {
    super('NetworkError', 'IO', message, { cause });
  }
}
