/**
 * Hashes many files on every core: a piscina pool of workers, each task a batch of small
 * files (the per-task overhead would dominate otherwise) or one large file streamed in
 * bounded chunks. Small jobs are hashed on the main thread, where starting workers would
 * cost more than the hashing.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { abortError, throwIfAborted } from '../errors.js';
import { type HashResult, sha1Files } from './sha1-file.js';

export interface HashJob {
  abs: string;
  size: number;
}

export interface HashOptions {
  signal?: AbortSignal;
  threads?: number;
  onProgress?: (files: number, bytes: number) => void;
}

const BATCH_FILES = 256;
const BATCH_BYTES = 8 << 20;
/** Below this much work, worker start-up (~40 ms) costs more than it saves. */
const INLINE_BYTES = 4 << 20;
const INLINE_FILES = 400;

/**
 * The compiled worker. Under vitest this module runs from src/*.ts while workers can only
 * load JavaScript, so it falls back to the build output (`npm test` builds first).
 */
function workerFile(): string {
  const beside = fileURLToPath(new URL('../../workers/hash.js', import.meta.url));
  if (existsSync(beside)) return beside;
  return fileURLToPath(new URL('../../dist/workers/hash.js', import.meta.url));
}

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
  const threads = Math.max(1, Math.min(options.threads ?? availableParallelism(), batches.length));
  const pool = new Piscina({
    filename: workerFile(),
    minThreads: threads,
    maxThreads: threads,
    idleTimeout: 1000,
  });
  const results: HashResult[] = new Array(jobs.length);
  let doneFiles = 0;
  let doneBytes = 0;
  try {
    await Promise.all(
      batches.map(async (batch) => {
        const out = (await pool.run(
          batch.indexes.map((i) => (jobs[i] as HashJob).abs),
          options.signal ? { signal: options.signal } : {},
        )) as HashResult[];
        batch.indexes.forEach((jobIndex, k) => {
          results[jobIndex] = out[k] as HashResult;
        });
        doneFiles += batch.indexes.length;
        doneBytes += batch.bytes;
        options.onProgress?.(doneFiles, doneBytes);
      }),
    );
  } catch (err) {
    if (options.signal?.aborted) throw abortError(options.signal);
    throw err;
  } finally {
    await pool.destroy();
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
