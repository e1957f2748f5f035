/**
 * Writes small files out with synchronous calls, for a worker thread: take the bytes (a
 * stored object read here, or bytes a server sent), check their hash, write a temp file
 * beside the target with the final mode, rename. The pull counterpart of ingest.ts; also
 * reads objects for a server's archive answer.
 */
import { createHash } from 'node:crypto';
import { readFileSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { tempPathIn, writeNewFileSync } from './sync-write.js';

export interface RestoreItem {
  sha1: string;
  /** Absolute path of the file to write; its folder exists. */
  target: string;
  mode: number;
  /** The content, when it came from elsewhere (a server's archive); else the stored object. */
  bytes?: Uint8Array;
}

export type RestoreResult =
  | { size: number }
  | { error: string; code: string | undefined; actual?: string };

export type ReadResult = { bytes: Uint8Array } | Extract<RestoreResult, { error: string }>;

export function objectPathIn(objectsDir: string, sha1: string): string {
  return join(objectsDir, sha1.slice(0, 2), sha1);
}

/** An object's bytes, checked against its hash (CORRUPT_OBJECT, MISSING_OBJECT otherwise). */
function readVerified(objectsDir: string, sha1: string): ReadResult {
  let bytes: Buffer;
  try {
    bytes = readFileSync(objectPathIn(objectsDir, sha1));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return { error: e.message, code: e.code === 'ENOENT' ? 'MISSING_OBJECT' : e.code };
  }
  return checked(bytes, sha1, 'store object is corrupt');
}

function checked(bytes: Uint8Array, sha1: string, problem: string): ReadResult {
  const actual = createHash('sha1').update(bytes).digest('hex');
  return actual === sha1 ? { bytes } : { error: problem, code: 'CORRUPT_OBJECT', actual };
}

export function readObjects(objectsDir: string, sha1s: readonly string[]): ReadResult[] {
  return sha1s.map((sha1) => readVerified(objectsDir, sha1));
}

export function restoreFiles(objectsDir: string, items: readonly RestoreItem[]): RestoreResult[] {
  return items.map((item) => {
    let temp: string | undefined;
    try {
      const read = item.bytes
        ? checked(item.bytes, item.sha1, 'content does not match its hash')
        : readVerified(objectsDir, item.sha1);
      if ('error' in read) return read;
      temp = tempPathIn(dirname(item.target), 'pull');
      writeNewFileSync(temp, read.bytes, item.mode);
      renameSync(temp, item.target);
      return { size: read.bytes.length };
    } catch (err) {
      if (temp) rmSync(temp, { force: true });
      const e = err as NodeJS.ErrnoException;
      return { error: e.message, code: e.code };
    }
  });
}
