/** Waiting on a VergeOS task the way pyvergeos's TaskManager.wait does. */
import { setTimeout as sleep } from 'node:timers/promises';
import { abortError } from '../../errors.js';
import { isRecord, type VergeClient } from './client.js';
import { VergeTaskError, VergeTaskTimeoutError } from './errors.js';

export const TASK_FIELDS =
  '$key,name,description,enabled,status,action,action_display,table,owner,owner#$display as owner_display,creator,creator#$display as creator_display,last_run,delete_after_run,system_created,id,count(triggers) as triggers_count,count(events) as events_count';

/** pyvergeos TASK_WAIT_TIMEOUT and POLL_INTERVAL. */
export const TASK_WAIT_TIMEOUT_SEC = 300;
export const TASK_POLL_INTERVAL_MS = 2000;

export interface TaskWaitOptions {
  /** Seconds; 0 waits forever. */
  timeoutSec?: number;
  pollIntervalMs?: number;
  /** Throw TaskError when the task ends in `error` (default); otherwise return it. */
  raiseOnError?: boolean;
  signal?: AbortSignal;
  /** Called after each poll, for progress. */
  onPoll?: (task: Record<string, unknown>) => void;
}

/**
 * Polls `tasks/{key}` until it is `idle` (done) or `error`; any other status (e.g.
 * `running`) keeps polling. The order of the checks follows pyvergeos.
 */
export async function waitTask(
  client: VergeClient,
  key: number,
  options: TaskWaitOptions = {},
): Promise<Record<string, unknown>> {
  const timeoutSec = options.timeoutSec ?? TASK_WAIT_TIMEOUT_SEC;
  const interval = options.pollIntervalMs ?? TASK_POLL_INTERVAL_MS;
  const start = client.now();
  let polls = 0;
  for (;;) {
    const task = await client.request('GET', `tasks/${key}`, {
      query: { fields: TASK_FIELDS },
      signal: options.signal,
    });
    const record = isRecord(task) ? task : {};
    polls++;
    options.onPoll?.(record);
    client.onEvent?.({
      type: 'wait',
      what: `VergeOS task ${key}`,
      polls,
      elapsedMs: client.now() - start,
      status: typeof record.status === 'string' ? record.status : undefined,
    });
    if (record.status === 'idle') return record;
    if (record.status === 'error') {
      if (options.raiseOnError ?? true) {
        const message =
          typeof record.error === 'string' && record.error ? record.error : 'Task failed';
        throw new VergeTaskError(message, key, { body: record });
      }
      return record;
    }
    if (timeoutSec > 0 && (client.now() - start) / 1000 > timeoutSec) {
      throw new VergeTaskTimeoutError(
        `Task ${key} did not complete within ${timeoutSec} seconds`,
        key,
      );
    }
    await sleep(interval, undefined, options.signal ? { signal: options.signal } : {}).catch(() => {
      throw abortError(options.signal);
    });
  }
}
