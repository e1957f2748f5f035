/**
 * Hashes many files on every core: a piscina pool of workers, each task a batch of small
 * files (the per-task overhead would dominate otherwise) or one large file streamed in
 * bounded chunks. Small jobs are hashed on the main thread, where starting workers would
 * cost more than the hashing.
 */
import { setMaxListeners } from 'node:events';
import { abortError, throwIfAborted } from '../errors.js';
import { runInPool } from '../util/worker-pool.js';
import { type HashResult, sha1Files } from './sha1-file.js';

export interface HashJob {
  abs: string;
  size: number;
}

export interface HashOptions {
  signal?: AbortSignal;
  onProgress?: (files: number, bytes: number) => void;
}

const BATCH_FILES = 256;
const BATCH_BYTES = 8 << 20;
/** Below this much work, worker start-up (~40 ms) costs more than it saves. */
const INLINE_BYTES = 4 << 20;
const INLINE_FILES = 400;

export async function hashFiles(
  jobs: readonly HashJob[],
  options: HashOptions = {},
): Promise<HashResult[]> {
  throwIfAborted(options.signal);
  const totalBytes = jobs.reduce((sum, j) => sum + j.size, 0);
  if (jobs.length === 0) return [];
  if (totalBytes <= INLINE_BYTES && jobs.length <= INLINE_FILES) {
    const results = sha1Files(jobs.map((j) => j.abs));
    options.onProgress?.(jobs.length, totalBytes);
    return results;
  }

  const batches = makeBatches(jobs);
  const results: HashResult[] = new Array(jobs.length);
  let doneFiles = 0;
  let doneBytes = 0;
  // Every queued task listens for the abort; that is by design, not a leak.
  const controller = new AbortController();
  setMaxListeners(0, controller.signal);
  const onAbort = () => controller.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await Promise.all(
      batches.map(async (batch) => {
        const paths = batch.indexes.map((i) => (jobs[i] as HashJob).abs);
        const out = await runInPool<HashResult[]>('hash', paths, controller.signal);
        batch.indexes.forEach((jobIndex, k) => {
          results[jobIndex] = out[k] as HashResult;
        });
        doneFiles += batch.indexes.length;
        doneBytes += batch.bytes;
        options.onProgress?.(doneFiles, doneBytes);
      }),
    );
  } catch (err) {
    controller.abort();
    if (options.signal?.aborted) throw abortError(options.signal);
    throw err;
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
  }
  return results;
}

interface Batch {
  indexes: number[];
  bytes: number;
}

/** Large files alone, small ones grouped; largest batches first so the cores finish together. */
function makeBatches(jobs: readonly HashJob[]): Batch[] {
  const batches: Batch[] = [];
  let current: Batch = { indexes: [], bytes: 0 };
  jobs.forEach((job, index) => {
    if (job.size >= BATCH_BYTES) {
      batches.push({ indexes: [index], bytes: job.size });
      return;
    }
    current.indexes.push(index);
    current.bytes += job.size;
    if (current.indexes.length >= BATCH_FILES || current.bytes >= BATCH_BYTES) {
      batches.push(current);
      current = { indexes: [], bytes: 0 };
    }
  });
  if (current.indexes.length > 0) batches.push(current);
  return batches.sort((a, b) => b.bytes - a.bytes);
}
