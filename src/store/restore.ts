/**
 * Writes small stored objects out as files with synchronous calls, for a worker thread:
 * read the object, check its hash, write a temp file beside the target with the final
 * mode, rename. The pull counterpart of ingest.ts.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  fchmodSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { threadId } from 'node:worker_threads';

export interface RestoreItem {
  sha1: string;
  /** Absolute path of the file to write; its folder exists. */
  target: string;
  mode: number;
}

export type RestoreResult =
  | { size: number }
  | { error: string; code: string | undefined; actual?: string };

const nonce = randomBytes(4).toString('hex');
let counter = 0;

export function objectPathIn(objectsDir: string, sha1: string): string {
  return join(objectsDir, sha1.slice(0, 2), sha1);
}

export function restoreFiles(objectsDir: string, items: readonly RestoreItem[]): RestoreResult[] {
  return items.map((item) => {
    let temp: string | undefined;
    try {
      let bytes: Buffer;
      try {
        bytes = readFileSync(objectPathIn(objectsDir, item.sha1));
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        return { error: e.message, code: e.code === 'ENOENT' ? 'MISSING_OBJECT' : e.code };
      }
      const actual = createHash('sha1').update(bytes).digest('hex');
      if (actual !== item.sha1)
        return { error: 'store object is corrupt', code: 'CORRUPT_OBJECT', actual };
      temp = join(
        dirname(item.target),
        `.pull.${process.pid}-${threadId}-${nonce}-${++counter}.tmp`,
      );
      const fd = openSync(temp, 'wx', 0o600);
      try {
        let off = 0;
        while (off < bytes.length) off += writeSync(fd, bytes, off);
        fchmodSync(fd, item.mode);
      } finally {
        closeSync(fd);
      }
      renameSync(temp, item.target);
      return { size: bytes.length };
    } catch (err) {
      if (temp) rmSync(temp, { force: true });
      const e = err as NodeJS.ErrnoException;
      return { error: e.message, code: e.code };
    }
  });
}
