/**
 * pyvergeos's exception tree, inside snapup's one error hierarchy. `name` is the SDK's
 * class name; `code` is snapup's stable code; `statusCode` the HTTP status, when any.
 *
 *   VergeError ─┬─ VergeConnectionError, NotConnectedError, VergeTimeoutError
 *               ├─ APIError ─┬─ AuthenticationError (401/403), NotFoundError (404),
 *               │            └─ ConflictError (409), ValidationError (422 only)
 *               └─ TaskError ── TaskTimeoutError
 */
import { codeForStatus, type ErrorCode, RemoteApiError } from '../../errors.js';

interface Details {
  statusCode?: number;
  body?: unknown;
  cause?: unknown;
  field?: string;
}

export class VergeError extends RemoteApiError {
  constructor(
    message: string,
    details: Details = {},
    code: ErrorCode = 'REMOTE',
    sdkName = 'VergeError',
  ) {
    super(sdkName, code, message, details);
  }
}

export class VergeConnectionError extends VergeError {
  constructor(message: string, details: Details = {}) {
    super(message, details, 'IO', 'VergeConnectionError');
  }
}

export class NotConnectedError extends VergeError {
  constructor(message = 'Not connected to VergeOS', details: Details = {}) {
    super(message, details, 'NOT_CONNECTED', 'NotConnectedError');
  }
}

export class VergeTimeoutError extends VergeError {
  constructor(message: string, details: Details = {}) {
    super(message, details, 'TIMEOUT', 'VergeTimeoutError');
  }
}

/** Any HTTP error answer; 400, 405, other 4xx, 5xx after the retries, and 202 too. */
export class VergeApiError extends VergeError {
  constructor(message: string, details: Details = {}, code?: ErrorCode, sdkName = 'APIError') {
    const status = details.statusCode;
    super(
      message,
      details,
      code ??
        (status !== undefined && status >= 400 && status < 500 ? codeForStatus(status) : 'REMOTE'),
      sdkName,
    );
  }
}

export class VergeAuthenticationError extends VergeApiError {
  constructor(message: string, details: Details = {}) {
    super(
      message,
      details,
      details.statusCode === 403 ? 'FORBIDDEN' : 'UNAUTHORIZED',
      'AuthenticationError',
    );
  }
}

export class VergeNotFoundError extends VergeApiError {
  constructor(message: string, details: Details = {}) {
    super(message, details, 'NOT_FOUND', 'NotFoundError');
  }
}

export class VergeConflictError extends VergeApiError {
  constructor(message: string, details: Details = {}) {
    super(message, details, 'CONFLICT', 'ConflictError');
  }
}

/** 422 from the server, or a local refusal such as deleting a locked immutable snapshot. */
export class VergeValidationError extends VergeApiError {
  constructor(message: string, details: Details = {}) {
    super(message, details, 'VALIDATION', 'ValidationError');
  }
}

export class VergeTaskError extends VergeError {
  readonly taskId: number;
  constructor(
    message: string,
    taskId: number,
    details: Details = {},
    code: ErrorCode = 'TASK_FAILED',
    sdkName = 'TaskError',
  ) {
    super(message, details, code, sdkName);
    this.taskId = taskId;
  }
}

export class VergeTaskTimeoutError extends VergeTaskError {
  constructor(message: string, taskId: number) {
    super(message, taskId, {}, 'TIMEOUT', 'TaskTimeoutError');
  }
}
