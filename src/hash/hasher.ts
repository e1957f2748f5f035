/**
 * Hashes many files on every core: a piscina pool of workers, each task a batch of small
 * files (the per-task overhead would dominate otherwise) or one large file streamed in
 * bounded chunks. Small jobs are hashed on the main thread, where starting workers would
 * cost more than the hashing.
 */
import { setMaxListeners } from 'node:events';
import { abortError, throwIfAborted } from '../errors.js';
import {
  hashAndStage,
  hashAndStageCopies,
  type StagedCopy,
  type StagedHashes,
  type StagedPack,
  type StagePlace,
  type StageTarget,
} from '../store/stage-files.js';
import { runInPool } from '../util/worker-pool.js';
import { type HashResult, sha1Files } from './sha1-file.js';

export interface HashJob {
  abs: string;
  size: number;
}

export interface HashOptions {
  signal?: AbortSignal;
  onProgress?: (files: number, bytes: number) => void;
  /**
   * Where the workers store new content as they hash it (store/staging.ts): small files
   * in packs, larger ones as copies. Opened when the first such batch goes to the workers
   * (a run that hashes little never opens it).
   */
  staging?: StagingOpener;
}

/** Files up to `maxFileSize` are staged in packs, larger ones as copies, in the area `open` gives (asked once). */
export interface StagingOpener {
  maxFileSize: number;
  /**
   * A run small enough to hash on this thread stages only when its small files hold more
   * bytes than this (below, the push's one A4 request stores them as cheaply).
   */
  inlineFrom: number;
  open: () => Promise<HashStaging>;
}

/** What the hash queue needs of a staging area: where to stage, and who takes the packs. */
export interface HashStaging {
  /** For the workers (builds the shared claim table when first asked). */
  readonly target: StageTarget;
  /** For this thread: where, and whether a content is new (see claims.ts). */
  readonly place: StagePlace;
  claim(sha1: string): boolean;
  accept(pack: StagedPack): void;
  acceptCopies(copies: readonly StagedCopy[]): void;
}

/** Measured on 50,000 small files: 256 → 1024 cut the task overhead (manifest 0.83 → 0.77 s); more gains nothing. */
const BATCH_FILES = 1024;
const BATCH_BYTES = 8 << 20;
/**
 * Below this much work, worker start-up costs more than it saves: 2,000 small files hash in
 * ~15 ms on this thread (500 of them were the 1% edit of 50,000 files, which started both
 * workers when this was 400), and 21 MiB of large files (the 1% edit of mixed) hash and
 * stage in ~50 ms here where the workers' hash stage took ~200 ms (at 4 MiB).
 */
const INLINE_BYTES = 32 << 20;
const INLINE_FILES = 2000;

/**
 * Hashes jobs as they are found, so hashing on the workers overlaps the walk on the main
 * thread. Jobs wait until there is enough work to be worth starting the workers; then
 * small files go in batches and large ones alone. A small total is hashed inline when
 * `finish` is called. Results come back in the order the jobs were added.
 */
export class HashQueue {
  private readonly jobs: HashJob[] = [];
  private readonly results: HashResult[] = [];
  private readonly running: Promise<void>[] = [];
  /** Files too large for a pack: staged as copies when staging. */
  private open: Batch;
  /** Files small enough for a pack, when staging: their batches store as they hash. */
  private openStaged: Batch;
  private queuedBytes = 0;
  private started = false;
  private doneFiles = 0;
  private doneBytes = 0;
  private failure: unknown;
  private staging: Promise<HashStaging> | undefined;
  private readonly controller = new AbortController();
  private readonly onAbort = () => this.controller.abort(this.options.signal?.reason);

  constructor(private readonly options: HashOptions = {}) {
    // Every queued task listens for the abort; that is by design, not a leak.
    setMaxListeners(0, this.controller.signal);
    options.signal?.addEventListener('abort', this.onAbort, { once: true });
    // Here, not as field initialisers: those run before `options` is set.
    this.open = this.newBatch(false);
    this.openStaged = this.newBatch(true);
  }

  get size(): number {
    return this.jobs.length;
  }

  add(job: HashJob): void {
    throwIfAborted(this.options.signal);
    const index = this.jobs.push(job) - 1;
    this.queuedBytes += job.size;
    if (!this.started) {
      if (this.queuedBytes <= INLINE_BYTES && this.jobs.length <= INLINE_FILES) return;
      this.started = true;
      for (let i = 0; i < this.jobs.length; i++) this.place(i);
      return;
    }
    this.place(index);
  }

  /** All results, once every job is hashed. */
  async finish(): Promise<HashResult[]> {
    try {
      throwIfAborted(this.options.signal);
      if (!this.started) {
        const results = await this.hashInline();
        this.options.onProgress?.(this.jobs.length, this.queuedBytes);
        return results;
      }
      this.dispatch(this.open);
      this.dispatch(this.openStaged);
      await Promise.all(this.running);
      if (this.failure !== undefined) throw this.failure;
      return this.results;
    } catch (err) {
      await this.stop();
      if (this.options.signal?.aborted) throw abortError(this.options.signal);
      throw err;
    } finally {
      this.options.signal?.removeEventListener('abort', this.onAbort);
    }
  }

  /**
   * Hashes a small run's jobs on this thread. When staging, files are staged as they are
   * hashed, as the workers would (small ones in a pack, large ones as copies): a push of a
   * few edited files then needs no upload, and no worker thread at all.
   */
  private async hashInline(): Promise<HashResult[]> {
    const opener = this.options.staging;
    if (!opener) return sha1Files(this.jobs.map((j) => j.abs));
    const small: number[] = [];
    const large: number[] = [];
    let smallBytes = 0;
    this.jobs.forEach((j, i) => {
      if (j.size > opener.maxFileSize) large.push(i);
      else {
        small.push(i);
        smallBytes += j.size;
      }
    });
    // Below inlineFrom, the push's one A4 request stores the small files as cheaply.
    const packSmall = smallBytes > opener.inlineFrom;
    if (!packSmall && large.length === 0) return sha1Files(this.jobs.map((j) => j.abs));
    const staging = await this.stagingArea(opener);
    const results = new Array<HashResult>(this.jobs.length);
    const fill = (indexes: number[], hash: (paths: string[]) => HashResult[]) => {
      if (indexes.length === 0) return;
      const out = hash(indexes.map((i) => (this.jobs[i] as HashJob).abs));
      indexes.forEach((jobIndex, k) => {
        results[jobIndex] = out[k] as HashResult;
      });
    };
    fill(small, (paths) => {
      if (!packSmall) return sha1Files(paths);
      const staged = hashAndStage(paths, staging.place, (sha1) => staging.claim(sha1));
      if (staged.pack) staging.accept(staged.pack);
      return staged.results as HashResult[];
    });
    fill(large, (paths) => {
      const { results: out, copies } = hashAndStageCopies(paths, staging.target);
      if (copies?.length) staging.acceptCopies(copies);
      return out as HashResult[];
    });
    return results;
  }

  /** Stops: queued work is dropped and running tasks are aborted (after a failed walk). */
  async cancel(): Promise<void> {
    this.options.signal?.removeEventListener('abort', this.onAbort);
    await this.stop();
  }

  /**
   * Aborts the running tasks and waits for them to end (they stop between files): what a
   * task staged before it saw the abort has reached the staging area by then, for the
   * push to remove. Their rejections are recorded by dispatch.
   */
  private async stop(): Promise<void> {
    this.controller.abort();
    await Promise.all(this.running);
  }

  /** An empty batch; when staging, its files are staged in a pack or as copies. */
  private newBatch(packed: boolean): Batch {
    const stage = this.options.staging ? (packed ? 'pack' : 'copies') : undefined;
    return { indexes: [], bytes: 0, stage };
  }

  /** Large files go alone; small ones fill the open batch, sent once it is full. */
  private place(index: number): void {
    const job = this.jobs[index] as HashJob;
    if (job.size >= BATCH_BYTES) {
      this.dispatch({ ...this.newBatch(false), indexes: [index], bytes: job.size });
      return;
    }
    const batch =
      this.options.staging && job.size <= this.options.staging.maxFileSize
        ? this.openStaged
        : this.open;
    batch.indexes.push(index);
    batch.bytes += job.size;
    if (batch.indexes.length >= BATCH_FILES || batch.bytes >= BATCH_BYTES) this.dispatch(batch);
  }

  /** The staging area, opened by the first batch that stages. */
  private stagingArea(opener: StagingOpener): Promise<HashStaging> {
    this.staging ??= opener.open();
    return this.staging;
  }

  /** Sends a batch; an open one is replaced by a new, empty one. */
  private dispatch(batch: Batch): void {
    if (batch === this.open) this.open = this.newBatch(false);
    if (batch === this.openStaged) this.openStaged = this.newBatch(true);
    if (batch.indexes.length === 0) return;
    const paths = batch.indexes.map((i) => (this.jobs[i] as HashJob).abs);
    const opener = batch.stage ? this.options.staging : undefined;
    const hashed = opener
      ? this.stagingArea(opener).then(async (staging) => {
          const { results, pack, copies } = await runInPool<StagedHashes>(
            batch.stage === 'pack' ? 'hashStage' : 'hashStageCopies',
            { paths, stage: staging.target },
            this.controller.signal,
          );
          if (pack) staging.accept(pack);
          if (copies?.length) staging.acceptCopies(copies);
          return results;
        })
      : runInPool<HashResult[]>('hash', { paths }, this.controller.signal);
    const task = hashed.then(
      (out) => {
        batch.indexes.forEach((jobIndex, k) => {
          this.results[jobIndex] = out[k] as HashResult;
        });
        this.doneFiles += batch.indexes.length;
        this.doneBytes += batch.bytes;
        this.options.onProgress?.(this.doneFiles, this.doneBytes);
      },
      (err: unknown) => {
        // Kept for finish(): a rejection nobody awaits yet must not go unhandled.
        this.failure ??= err;
        this.controller.abort();
      },
    );
    this.running.push(task);
  }
}

interface Batch {
  indexes: number[];
  bytes: number;
  /** Hashed by workers that also stage the content (HashOptions.staging), and how. */
  stage: 'pack' | 'copies' | undefined;
}
