/**
 * The one piscina pool of the process, shared by hashing and store ingestion. Threads
 * start on first use and exit after an idle time, so short runs pay nothing and no caller
 * has to remember to close it (idle threads are unref'd: they never delay the exit).
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { Piscina } from 'piscina';
import { abortError } from '../errors.js';

let pool: Promise<Piscina> | undefined;

/**
 * The compiled worker. Under vitest this module runs from src/*.ts while workers can only
 * load JavaScript, so it falls back to the build output (`npm test` builds first).
 */
function workerFile(): string {
  const beside = fileURLToPath(new URL('../../workers/pool.js', import.meta.url));
  if (existsSync(beside)) return beside;
  return fileURLToPath(new URL('../../dist/workers/pool.js', import.meta.url));
}

/** The pool, made on first use: piscina itself is loaded only then (a no-op push never is). */
export function workerPool(): Promise<Piscina> {
  pool ??= import('piscina').then(
    ({ Piscina }) =>
      new Piscina({
        filename: workerFile(),
        minThreads: 0,
        maxThreads: availableParallelism(),
        // Long enough to span a push's negotiation between hashing and upload: at 200 ms
        // both threads exited and restarted there, ~35 ms of module loading each.
        idleTimeout: 2000,
      }),
  );
  return pool;
}

/**
 * Runs a worker task. `signal` cancels it cooperatively: the task gets a shared flag that
 * it checks between files and between chunks, and on seeing it raised removes what it was
 * writing and stops. (Terminating the thread instead, as piscina's own abort does, left
 * half-written temp files behind.) A cancelled task rejects with the abort's reason.
 * `transfer` hands buffers over instead of copying them: the caller must not use them again.
 */
export function runInPool<T>(
  name:
    | 'hash'
    | 'hashStage'
    | 'hashStageCopies'
    | 'ingest'
    | 'copy'
    | 'restore'
    | 'restoreLarge'
    | 'read',
  task: object,
  signal?: AbortSignal,
  transfer?: ArrayBuffer[],
): Promise<T> {
  if (signal?.aborted) return Promise.reject(abortError(signal));
  const cancel = signal ? new Int32Array(new SharedArrayBuffer(4)) : undefined;
  const onAbort = () => {
    if (cancel) Atomics.store(cancel, 0, 1);
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  const run = workerPool().then(
    (p) =>
      p.run(cancel ? { ...task, cancel } : task, {
        name,
        ...(transfer ? { transferList: transfer } : {}),
      }) as Promise<T>,
  );
  return run
    .catch((err: unknown) => {
      throw signal?.aborted ? abortError(signal) : err;
    })
    .finally(() => signal?.removeEventListener('abort', onAbort));
}
