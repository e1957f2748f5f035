/**
 * SHA-1 of a file read in bounded chunks into one reused buffer: no allocation per file,
 * flat memory whatever the file's size. Shared by the hash workers and the main thread.
 */
import { createHash, hash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { throwIfCancelled } from '../util/cancel.js';

export const READ_CHUNK = 1 << 20;

export interface FileDigest {
  sha1: string;
  /** Bytes actually read: differs from the stat's size when the file changed meanwhile. */
  size: number;
}

export interface HashFailure {
  error: string;
  code: string | undefined;
}

export type HashResult = FileDigest | HashFailure;

let shared: Buffer | undefined;

export function sha1File(path: string): FileDigest {
  shared ??= Buffer.allocUnsafe(READ_CHUNK);
  const buf = shared;
  const fd = openSync(path, 'r');
  try {
    const first = readSync(fd, buf, 0, buf.length, null);
    // A short read of a regular file is its end: small files (most of a tree) take one
    // read and the one-shot digest, a quarter fewer syscalls than reading until 0.
    if (first < buf.length)
      return { sha1: hash('sha1', buf.subarray(0, first), 'hex'), size: first };
    const h = createHash('sha1').update(buf);
    let size = first;
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(n === buf.length ? buf : buf.subarray(0, n));
      size += n;
    }
    return { sha1: h.digest('hex'), size };
  } finally {
    closeSync(fd);
  }
}

/** A file's failure as a result, the way a worker reports it (errors do not cross threads). */
export function hashFailure(err: unknown): HashFailure {
  const e = err as NodeJS.ErrnoException;
  return { error: e.message, code: e.code };
}

/** Hashes each path, reporting a failure per file instead of failing the batch. */
export function sha1Files(paths: readonly string[], cancel?: Int32Array): HashResult[] {
  return paths.map((path) => {
    throwIfCancelled(cancel);
    try {
      return sha1File(path);
    } catch (err) {
      return hashFailure(err);
    }
  });
}
