/**
 * Writes small stored objects out as files with synchronous calls, for a worker thread:
 * read the object, check its hash, write a temp file beside the target with the final
 * mode, rename. The pull counterpart of ingest.ts.
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
}

export type RestoreResult =
  | { size: number }
  | { error: string; code: string | undefined; actual?: string };

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
      temp = tempPathIn(dirname(item.target), 'pull');
      writeNewFileSync(temp, bytes, item.mode);
      renameSync(temp, item.target);
      return { size: bytes.length };
    } catch (err) {
      if (temp) rmSync(temp, { force: true });
      const e = err as NodeJS.ErrnoException;
      return { error: e.message, code: e.code };
    }
  });
}
