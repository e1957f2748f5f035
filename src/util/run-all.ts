import { setMaxListeners } from 'node:events';
import pLimit from 'p-limit';
import { abortError } from '../errors.js';

/**
 * Runs `task` for every item with at most `concurrency` in flight. On the first failure
 * no further task starts and in-flight ones get an aborted signal; the call settles only
 * when every started task has finished (so none is still writing when the caller
 * reports the error), then throws that first failure.
 */
export async function runAll<T>(
  items: readonly T[],
  concurrency: number,
  task: (item: T, signal: AbortSignal) => Promise<void>,
  signal?: AbortSignal,
): Promise<void> {
  const controller = new AbortController();
  // Every task in flight listens on it (streams, fs calls): not a leak.
  setMaxListeners(0, controller.signal);
  const onAbort = () => controller.abort(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  if (signal?.aborted) onAbort();
  const limit = pLimit(Math.max(1, concurrency));
  let failure: { error: unknown } | undefined;
  try {
    await Promise.all(
      items.map((item) =>
        limit(async () => {
          if (controller.signal.aborted) return;
          try {
            await task(item, controller.signal);
          } catch (error) {
            failure ??= { error };
            controller.abort(error);
          }
        }),
      ),
    );
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
  if (signal?.aborted) throw abortError(signal);
  if (failure) throw failure.error;
}
