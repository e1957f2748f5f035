/**
 * Copies small files (local paths, or bytes received by the server) into the object store
 * with synchronous calls, for a worker thread: read, hash, compare with the declared hash,
 * write a temp file, rename. A few
 * syscalls a file and no promise round trips, which is what a push of tens of thousands of
 * small files spends its time on.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tempPathIn, writeNewFileSync } from './sync-write.js';

export interface IngestItem {
  /** The local file to copy, or… */
  file?: string;
  /** …the bytes themselves (a server's batch entry). */
  bytes?: Uint8Array;
  /** The hash its content must have. */
  expected: string;
}

export type IngestResult =
  | { sha1: string; size: number }
  | { error: string; code: string | undefined; actual?: string };

export function ingestFiles(
  objectsDir: string,
  tempDir: string,
  items: readonly IngestItem[],
): IngestResult[] {
  return items.map((item) => {
    let temp: string | undefined;
    try {
      const bytes = item.bytes ?? readFileSync(item.file as string);
      const sha1 = createHash('sha1').update(bytes).digest('hex');
      if (sha1 !== item.expected) {
        return {
          error: `content hashes to ${sha1}, not the declared ${item.expected}`,
          code: 'HASH_MISMATCH',
          actual: sha1,
        };
      }
      temp = tempPathIn(tempDir, sha1);
      writeNewFileSync(temp, bytes, 0o444);
      const target = join(objectsDir, sha1.slice(0, 2), sha1);
      try {
        renameSync(temp, target);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        mkdirSync(join(objectsDir, sha1.slice(0, 2)), { recursive: true });
        renameSync(temp, target);
      }
      return { sha1, size: bytes.length };
    } catch (err) {
      if (temp) rmSync(temp, { force: true });
      const e = err as NodeJS.ErrnoException;
      return { error: e.message, code: e.code };
    }
  });
}
