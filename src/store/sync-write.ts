/**
 * Synchronous temp-file writing for the worker threads (ingest.ts, restore.ts): names no
 * other process or thread picks, and a new file written whole with its final mode.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fchmodSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { threadId } from 'node:worker_threads';

const nonce = randomBytes(4).toString('hex');
let counter = 0;

/** A temp file name in `dir`, unique per process, thread and call. */
export function tempPathIn(dir: string, prefix: string): string {
  return join(dir, `.${prefix}.${process.pid}-${threadId}-${nonce}-${++counter}.tmp`);
}

/** Creates `path` (which must not exist) holding `bytes`, with `mode` applied. */
export function writeNewFileSync(path: string, bytes: Uint8Array, mode: number): void {
  const fd = openSync(path, 'wx', 0o600);
  try {
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off);
    fchmodSync(fd, mode);
  } finally {
    closeSync(fd);
  }
}
