/**
 * One error hierarchy for the whole tool. Every error a user can cause or act on is a
 * SnapupError with a stable `code`, an HTTP-like `status` (so the store and a CB server
 * answer alike) and the process exit code the CLI uses for it.
 */

/** Process exit codes, documented in the README. */
export const ExitCode = {
  ok: 0,
  failure: 1,
  usage: 2,
  notFound: 3,
  conflict: 4,
  integrity: 5,
  io: 6,
  denied: 7,
  interrupted: 130,
} as const;

export type ErrorCode =
  | 'BAD_INPUT'
  | 'TOO_LARGE'
  | 'NOT_A_DIRECTORY'
  | 'NOT_FOUND'
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'GONE'
  | 'CONFLICT'
  | 'FROZEN'
  | 'MISSING_CONTENT'
  | 'HASH_MISMATCH'
  | 'FILE_CHANGED'
  | 'CORRUPT_OBJECT'
  | 'CORRUPT_STORE'
  | 'UNREADABLE'
  | 'DISK_FULL'
  | 'IO'
  | 'ABORTED'
  | 'UNSUPPORTED'
  | 'VALIDATION'
  | 'REMOTE'
  | 'BAD_RESPONSE'
  | 'TIMEOUT'
  | 'TASK_FAILED'
  | 'NOT_CONNECTED';

const statusOf: Record<ErrorCode, number> = {
  BAD_INPUT: 400,
  TOO_LARGE: 413,
  NOT_A_DIRECTORY: 400,
  NOT_FOUND: 404,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  GONE: 410,
  CONFLICT: 409,
  FROZEN: 409,
  MISSING_CONTENT: 409,
  HASH_MISMATCH: 422,
  FILE_CHANGED: 409,
  CORRUPT_OBJECT: 500,
  CORRUPT_STORE: 500,
  UNREADABLE: 400,
  DISK_FULL: 507,
  IO: 500,
  ABORTED: 499,
  UNSUPPORTED: 501,
  VALIDATION: 422,
  REMOTE: 502,
  BAD_RESPONSE: 502,
  TIMEOUT: 504,
  TASK_FAILED: 500,
  NOT_CONNECTED: 500,
};

const exitOf: Record<ErrorCode, number> = {
  BAD_INPUT: ExitCode.usage,
  TOO_LARGE: ExitCode.usage,
  NOT_A_DIRECTORY: ExitCode.usage,
  NOT_FOUND: ExitCode.notFound,
  UNAUTHORIZED: ExitCode.denied,
  FORBIDDEN: ExitCode.denied,
  GONE: ExitCode.notFound,
  CONFLICT: ExitCode.conflict,
  FROZEN: ExitCode.conflict,
  MISSING_CONTENT: ExitCode.conflict,
  HASH_MISMATCH: ExitCode.integrity,
  FILE_CHANGED: ExitCode.integrity,
  CORRUPT_OBJECT: ExitCode.integrity,
  CORRUPT_STORE: ExitCode.integrity,
  UNREADABLE: ExitCode.io,
  DISK_FULL: ExitCode.io,
  IO: ExitCode.io,
  ABORTED: ExitCode.interrupted,
  // Asking a backend for what it does not do (an option, gc on a server) is a usage mistake.
  UNSUPPORTED: ExitCode.usage,
  VALIDATION: ExitCode.usage,
  REMOTE: ExitCode.failure,
  BAD_RESPONSE: ExitCode.failure,
  TIMEOUT: ExitCode.failure,
  TASK_FAILED: ExitCode.failure,
  NOT_CONNECTED: ExitCode.failure,
};

export interface SnapupErrorDetails {
  /** The file, store path or URL the error is about. */
  path?: string;
  /** The option or JSON field the error is about. */
  field?: string;
  /** Extra machine-readable data (e.g. the missing paths of a freeze). */
  data?: Record<string, unknown>;
  cause?: unknown;
}

export class SnapupError extends Error {
  readonly code: ErrorCode;
  readonly path: string | undefined;
  readonly field: string | undefined;
  readonly data: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, details: SnapupErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'SnapupError';
    this.code = code;
    this.path = details.path;
    this.field = details.field;
    this.data = details.data;
  }

  get status(): number {
    return statusOf[this.code];
  }

  get exitCode(): number {
    return exitOf[this.code];
  }
}

/**
 * An error reported by (or about) a remote snapshot API an adapter drives. `name` keeps
 * the class name the vendor's SDK uses (e.g. VergeOS `NotFoundError`, Datalayer
 * `RunResponseError`) so code ported from the SDK reads the same; `code` stays ours.
 */
export class RemoteApiError extends SnapupError {
  /** The HTTP status the server answered with, when there was an answer. */
  readonly statusCode: number | undefined;
  /** The parsed response body (or its text), for callers that need the server's details. */
  readonly body: unknown;

  constructor(
    sdkName: string,
    code: ErrorCode,
    message: string,
    details: SnapupErrorDetails & { statusCode?: number; body?: unknown } = {},
  ) {
    super(code, message, details);
    this.name = sdkName;
    this.statusCode = details.statusCode;
    this.body = details.body;
  }
}

/** Our code for an HTTP error status a remote API answered with. */
export function codeForStatus(status: number): ErrorCode {
  if (status === 401) return 'UNAUTHORIZED';
  if (status === 403) return 'FORBIDDEN';
  if (status === 404) return 'NOT_FOUND';
  if (status === 409) return 'CONFLICT';
  if (status === 410) return 'GONE';
  if (status === 413) return 'TOO_LARGE';
  if (status === 422) return 'VALIDATION';
  if (status >= 400 && status < 500) return 'BAD_INPUT';
  return 'REMOTE';
}

export function isSnapupError(err: unknown): err is SnapupError {
  return err instanceof SnapupError;
}

/** A worker thread's reported failure (message and errno code) as an error fsError reads. */
export function errnoError(failure: { error: string; code: string | undefined }): Error {
  return Object.assign(new Error(failure.error), { code: failure.code });
}

/**
 * Turns an operating-system error on `path` into a SnapupError a user can act on.
 * `doing` says what we were doing ("read", "write", ...).
 */
export function fsError(err: unknown, path: string, doing: string): SnapupError {
  if (err instanceof SnapupError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT':
      return new SnapupError('NOT_FOUND', `${path}: no such file or directory`, {
        path,
        cause: err,
      });
    case 'EACCES':
    case 'EPERM':
      return new SnapupError('UNREADABLE', `${path}: permission denied (could not ${doing})`, {
        path,
        cause: err,
      });
    case 'ENOSPC':
    case 'EDQUOT':
      return new SnapupError('DISK_FULL', `${path}: no space left on device (could not ${doing})`, {
        path,
        cause: err,
      });
    case 'ENOTDIR':
      return new SnapupError('NOT_A_DIRECTORY', `${path}: not a directory`, { path, cause: err });
    case 'EISDIR':
      return new SnapupError('BAD_INPUT', `${path}: is a directory (could not ${doing})`, {
        path,
        cause: err,
      });
    default: {
      const reason = err instanceof Error ? err.message : String(err);
      return new SnapupError('IO', `${path}: could not ${doing}: ${reason}`, { path, cause: err });
    }
  }
}

export function abortError(signal?: AbortSignal): SnapupError {
  const reason = signal?.reason;
  const text = reason instanceof Error ? reason.message : 'the operation was aborted';
  return new SnapupError('ABORTED', text, { cause: reason });
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortError(signal);
}
