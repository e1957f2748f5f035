/**
 * Turns a directory into a manifest: walk, look each file up in the hash cache, hash the
 * rest on the worker pool, and sort. Used by push, `snapup manifest` and `snapup bench`.
 */
import { statSync } from 'node:fs';
import envPaths from 'env-paths';
import type { EventSink, StageClock } from '../engine/events.js';
import { fsError, SnapupError } from '../errors.js';
import { comparePaths, digestOfSorted } from '../protocol/manifest.js';
import { type Permissions, sharedPermissions } from '../protocol/types.js';
import { checkRoot, type ScannedFile, walk } from '../scan/walk.js';
import { HashCache, scanStartMs } from './cache.js';
import { HashQueue, type StagingOpener } from './hasher.js';
import { type HashResult, hashFailure, sha1File } from './sha1-file.js';

export interface ManifestFile extends ScannedFile {
  permissions: Permissions;
}

export interface ManifestOptions {
  excludes?: readonly string[];
  followSymlinks?: boolean;
  /** Folder for the hash cache; false to neither read nor write one. */
  cacheDir?: string | false;
  signal?: AbortSignal;
  /** Where new small contents are stored as they are hashed (a push to the local store). */
  staging?: StagingOpener;
  /** A folder the run writes into (the local store), never part of the tree. */
  ownFolder?: { abs: string; why: string };
}

export interface Manifest {
  rootReal: string;
  /** Sorted by path. */
  files: ManifestFile[];
  digest: string;
  bytes: number;
  hashedFiles: number;
  hashedBytes: number;
  cachedFiles: number;
  cachedBytes: number;
  skipped: number;
}

export function defaultCacheDir(): string {
  return envPaths('snapup', { suffix: '' }).cache;
}

/** `exe` = any execute bit; `ro` = no owner write bit. */
export function permissionsOf(mode: number): Permissions {
  return sharedPermissions((mode & 0o200) === 0, (mode & 0o111) !== 0);
}

/** Turns a scanned file into a manifest file in place (no copy per file). */
function withHash(f: ScannedFile, sha1: string): ManifestFile {
  const m = f as ManifestFile;
  m.sha1 = sha1;
  m.permissions = permissionsOf(f.mode);
  return m;
}

export async function buildManifest(
  root: string,
  options: ManifestOptions,
  emit: EventSink,
  clock: StageClock,
): Promise<Manifest> {
  const startMs = scanStartMs();
  let skipped = 0;
  const rootReal = checkRoot(root);
  const cacheDir = options.cacheDir === undefined ? defaultCacheDir() : options.cacheDir;
  const cache = cacheDir === false ? undefined : await HashCache.load(cacheDir, rootReal, startMs);
  const files: ManifestFile[] = [];
  const misses: ScannedFile[] = [];
  let cachedBytes = 0;
  let missBytes = 0;
  // Files the cache does not vouch for are hashed on the workers while the walk goes on.
  const queue = new HashQueue({
    signal: options.signal,
    staging: options.staging,
    onProgress: (n, b) =>
      emit({ type: 'hash', files: n, bytes: b, totalFiles: misses.length, totalBytes: missBytes }),
  });
  const lookUp = (found: readonly ScannedFile[]) => {
    for (const f of found) {
      const sha1 = cache?.lookup(f);
      if (sha1 === undefined) {
        misses.push(f);
        missBytes += f.size;
        queue.add(f);
      } else {
        files.push(withHash(f, sha1));
        cachedBytes += f.size;
      }
    }
  };
  try {
    await clock.run('scan', () =>
      walk(root, {
        excludes: options.excludes,
        followSymlinks: options.followSymlinks,
        signal: options.signal,
        skipFolders: [
          ...(options.ownFolder ? [options.ownFolder] : []),
          ...(cacheDir === false ? [] : [{ abs: cacheDir, why: 'the hash cache' }]),
        ],
        onWarning: (message, path) => {
          skipped++;
          emit({ type: 'warning', message, path });
        },
        onProgress: (n, bytes) => emit({ type: 'scan', files: n, bytes }),
        onFiles: lookUp,
      }),
    );
  } catch (err) {
    await queue.cancel();
    throw err;
  }
  const cachedFiles = files.length;

  let hashedBytes = 0;
  // What is left of the hashing once the walk is done.
  await clock.run('hash', async () => {
    const results = await queue.finish();
    misses.forEach((f, i) => {
      const digest = settle(f, results[i] as HashResult, emit);
      if (!digest) {
        skipped++;
        return;
      }
      // The i-th miss of the walk is the cache's i-th miss: lookups and misses go in step.
      cache?.setMiss(i, digest.file, digest.sha1);
      // In place, as for cache hits: a copy per hashed file was 50,000 objects for small.
      files.push(withHash(digest.file, digest.sha1));
      hashedBytes += digest.file.size;
    });
  });

  files.sort((a, b) => comparePaths(a.path, b.path));
  if (cache) {
    await cache.save().catch((err: unknown) => {
      // Named like every file error (the folder that failed, if that was it), with what it costs.
      const failed = (err as NodeJS.ErrnoException).path ?? cache.file;
      emit({
        type: 'warning',
        message: `could not save the hash cache: ${fsError(err, failed, 'write it').message}; the next push hashes every file again`,
        path: cache.file,
      });
    });
  }
  return {
    rootReal,
    files,
    digest: digestOfSorted(files),
    bytes: files.reduce((s, f) => s + f.size, 0),
    hashedFiles: files.length - cachedFiles,
    hashedBytes,
    cachedFiles,
    cachedBytes,
    skipped,
  };
}

/**
 * Accepts a hash result for `f`, or re-reads a file that changed while it was being
 * hashed (its size no longer matches its stat) until stat and content agree. Returns
 * undefined, with a warning, for a file that vanished `during` the scan or push.
 */
export function settle(
  f: ScannedFile,
  result: HashResult,
  emit: EventSink,
  during = 'the scan',
): { file: ScannedFile; sha1: string } | undefined {
  let file: ScannedFile | undefined = f;
  let current = result;
  for (let attempt = 0; attempt < 3; attempt++) {
    if ('error' in current) {
      if (current.code !== 'ENOENT') {
        throw fsError(
          Object.assign(new Error(current.error), { code: current.code }),
          f.abs,
          'read',
        );
      }
      file = undefined;
    } else if (current.size === file.size) {
      return { file, sha1: current.sha1 };
    } else {
      file = restat(file);
    }
    if (!file) {
      emit({
        type: 'warning',
        message: `skipping ${f.path}: it was removed during ${during}`,
        path: f.abs,
      });
      return undefined;
    }
    current = hashNow(file);
  }
  throw new SnapupError(
    'FILE_CHANGED',
    `${f.abs}: file keeps changing while it is read; push again when it is stable`,
    { path: f.abs },
  );
}

/** Re-stats and re-hashes a file that changed since it was scanned; undefined if it is gone. */
export function rehashFile(
  f: ScannedFile,
  emit: EventSink,
  during: string,
): { file: ScannedFile; sha1: string } | undefined {
  const fresh = restat(f);
  if (!fresh) {
    emit({
      type: 'warning',
      message: `skipping ${f.path}: it was removed during ${during}`,
      path: f.abs,
    });
    return undefined;
  }
  return settle(fresh, hashNow(fresh), emit, during);
}

/** Hashes one file on this thread, reporting a failure as a result like the workers do. */
export function hashNow(f: ScannedFile): HashResult {
  try {
    return sha1File(f.abs);
  } catch (err) {
    return hashFailure(err);
  }
}

/** A fresh stat of a scanned file, or undefined when it is gone. */
export function restat(f: ScannedFile): ScannedFile | undefined {
  try {
    const s = statSync(f.abs);
    return { ...f, size: s.size, mtimeMs: s.mtimeMs, ino: s.ino, mode: s.mode };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw fsError(err, f.abs, 'stat');
  }
}
