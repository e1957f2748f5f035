/**
 * The pack a worker thread is assembling, reused from task to task: files are read
 * straight into it (one read for a small file), so a batch costs no allocation and no
 * copy per file. Shared by the store's ingest (ingest.ts) and the staging of content
 * while it is hashed (staging-worker.ts).
 */
import { closeSync, openSync, readSync } from 'node:fs';

let assembly = Buffer.alloc(0);

/** Makes room for `more` bytes after `used`, keeping what is there. */
function reserve(used: number, more: number): void {
  if (used + more <= assembly.length) return;
  // A batch is at most 8 MiB plus one file of up to 1 MiB (see engine/plan.ts).
  const bigger = Buffer.allocUnsafeSlow(Math.max(assembly.length * 2, used + more, 9 << 20));
  assembly.copy(bigger, 0, 0, used);
  assembly = bigger;
}

/**
 * Puts a file's bytes at `at`; returns how many. A short read is the end of the file. With
 * `limit`, stops once more than that was read (the caller then treats the file as too
 * large), so a file that grew meanwhile cannot grow the pack without bound.
 */
export function readFileIntoPack(
  path: string,
  at: number,
  limit = Number.POSITIVE_INFINITY,
): number {
  const fd = openSync(path, 'r');
  try {
    let end = at;
    for (;;) {
      reserve(end, 64 * 1024);
      const room = assembly.length - end;
      const n = readSync(fd, assembly, end, room, null);
      end += n;
      if (n < room || end - at > limit) return end - at;
    }
  } finally {
    closeSync(fd);
  }
}

/** Puts `bytes` at `at`. */
export function appendToPack(bytes: Uint8Array, at: number): void {
  reserve(at, bytes.length);
  assembly.set(bytes, at);
}

/** The assembled bytes from `start` to `end` (a view: valid until the next task). */
export function packBytes(start: number, end: number): Buffer {
  return assembly.subarray(start, end);
}
