/**
 * Stores small files (local paths, or bytes received by the server) as one pack, with
 * synchronous calls, for a worker thread: read each, hash it, compare with the declared
 * hash, and write the good ones together (see pack-file.ts). A few syscalls a file and no
 * promise round trips, which is what a push of tens of thousands of small files spends
 * its time on.
 */
import { hash } from 'node:crypto';
import { closeSync, mkdirSync, openSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Cancelled, throwIfCancelled } from '../util/cancel.js';
import { objectPathIn } from './object-path.js';
import { appendToPack, packBytes, readFileIntoPack } from './pack-assembly.js';
import { type PackEntry, writePackSync } from './pack-file.js';
import { copyToNewFileSync, tempPathIn } from './sync-write.js';

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

export interface IngestAnswer {
  results: IngestResult[];
  /** The pack written, when any item was good. */
  pack?: { id: string; entries: PackEntry[] };
}

export function ingestFiles(
  packDir: string,
  tempDir: string,
  items: readonly IngestItem[],
  cancel?: Int32Array,
): IngestAnswer {
  const entries: PackEntry[] = [];
  const packed = new Set<string>();
  let used = 0;
  const results = items.map((item): IngestResult => {
    throwIfCancelled(cancel);
    let size: number;
    try {
      if (item.bytes) {
        appendToPack(item.bytes, used);
        size = item.bytes.length;
      } else size = readFileIntoPack(item.file as string, used);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      return { error: e.message, code: e.code };
    }
    const sha1 = hash('sha1', packBytes(used, used + size), 'hex');
    if (sha1 !== item.expected) {
      return {
        error: `content hashes to ${sha1}, not the declared ${item.expected}`,
        code: 'HASH_MISMATCH',
        actual: sha1,
      };
    }
    // A content twice in one batch is packed once.
    if (!packed.has(sha1)) {
      packed.add(sha1);
      entries.push({ sha1, offset: used, size });
      used += size;
    }
    return { sha1, size };
  });
  if (entries.length === 0) return { results };
  throwIfCancelled(cancel);
  try {
    const id = writePackSync(packDir, tempDir, packBytes(0, used), entries);
    return { results, pack: { id, entries } };
  } catch (err) {
    // Nothing was stored: every item that was good fails with the write's error.
    const e = err as NodeJS.ErrnoException;
    return {
      results: results.map((r) => ('error' in r ? r : { error: e.message, code: e.code })),
    };
  }
}

/**
 * Copies one large file into the store on a worker: read in 1 MiB chunks, hash, write to a
 * temp file, compare with `expected`, rename into `objects/`. The hashing runs on the
 * workers of both cores instead of the main thread's one.
 */
export function copyFileIn(
  objectsDir: string,
  tempDir: string,
  file: string,
  expected: string | undefined,
  cancel?: Int32Array,
): IngestResult & { side?: 'source' | 'store' } {
  let source: number;
  try {
    source = openSync(file, 'r');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return { error: e.message, code: e.code, side: 'source' };
  }
  const temp = tempPathIn(tempDir, expected ?? 'copy');
  try {
    const { sha1, size } = copyToNewFileSync(source, temp, 0o444, cancel);
    if (expected !== undefined && sha1 !== expected) {
      rmSync(temp, { force: true });
      return {
        error: `content hashes to ${sha1}, not the declared ${expected}`,
        code: 'HASH_MISMATCH',
        actual: sha1,
      };
    }
    publishSync(objectsDir, temp, sha1);
    return { sha1, size };
  } catch (err) {
    rmSync(temp, { force: true });
    if (err instanceof Cancelled) throw err;
    const e = err as NodeJS.ErrnoException & { side?: string };
    return { error: e.message, code: e.code, side: e.side === 'source' ? 'source' : 'store' };
  } finally {
    closeSync(source);
  }
}

/** Renames a verified temp file to its object path, making the shard folder if it is gone. */
export function publishSync(objectsDir: string, temp: string, sha1: string): void {
  const target = objectPathIn(objectsDir, sha1);
  try {
    renameSync(temp, target);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    mkdirSync(join(objectsDir, sha1.slice(0, 2)), { recursive: true });
    renameSync(temp, target);
  }
}
