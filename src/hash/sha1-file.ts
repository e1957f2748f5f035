/**
 * SHA-1 of a file read in bounded chunks into one reused buffer: no allocation per file,
 * flat memory whatever the file's size. Shared by the hash workers and the main thread.
 */
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';

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
  const hash = createHash('sha1');
  const fd = openSync(path, 'r');
  let size = 0;
  try {
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      hash.update(n === buf.length ? buf : buf.subarray(0, n));
      size += n;
    }
  } finally {
    closeSync(fd);
  }
  return { sha1: hash.digest('hex'), size };
}

/** Hashes each path, reporting a failure per file instead of failing the batch. */
export function sha1Files(paths: readonly string[]): HashResult[] {
  return paths.map((path) => {
    try {
      return sha1File(path);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      return { error: e.message, code: e.code };
    }
  });
}
