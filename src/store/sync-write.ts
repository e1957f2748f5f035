/**
 * Synchronous temp-file writing for the worker threads (ingest.ts, restore.ts): names no
 * other process or thread picks, and a new file written whole with its final mode.
 */
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, fchmodSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { threadId } from 'node:worker_threads';
import { throwIfCancelled } from '../util/cancel.js';

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

/** One 1 MiB buffer per thread for chunked copies, reused. */
let chunk: Buffer | undefined;

/**
 * Copies everything left in `source` to `target` in 1 MiB chunks, hashing on the way.
 * A failure carries `side`: whether reading the source or writing the target failed;
 * a raised `cancel` flag stops it with Cancelled between chunks.
 */
function copyHashingSync(
  source: number,
  target: number,
  cancel?: Int32Array,
): { sha1: string; size: number } {
  chunk ??= Buffer.allocUnsafeSlow(1 << 20);
  const buf = chunk;
  const digest = createHash('sha1');
  let size = 0;
  for (;;) {
    throwIfCancelled(cancel);
    let n: number;
    try {
      n = readSync(source, buf, 0, buf.length, null);
    } catch (err) {
      throw Object.assign(err as Error, { side: 'source' });
    }
    if (n === 0) break;
    const part = n === buf.length ? buf : buf.subarray(0, n);
    digest.update(part);
    try {
      let written = 0;
      while (written < n) written += writeSync(target, part, written);
    } catch (err) {
      throw Object.assign(err as Error, { side: 'target' });
    }
    size += n;
  }
  return { sha1: digest.digest('hex'), size };
}

/**
 * Creates `temp` (which must not exist) holding everything left in `source`, hashed on
 * the way, with `mode` applied. On any failure, a Cancelled included, the temp file is
 * closed and removed before the error goes on.
 */
export function copyToNewFileSync(
  source: number,
  temp: string,
  mode: number,
  cancel?: Int32Array,
): { sha1: string; size: number } {
  const target = openSync(temp, 'wx', 0o600);
  try {
    const copied = copyHashingSync(source, target, cancel);
    fchmodSync(target, mode);
    closeSync(target);
    return copied;
  } catch (err) {
    closeSync(target);
    rmSync(temp, { force: true });
    throw err;
  }
}
