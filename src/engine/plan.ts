/**
 * How missing content travels (spec Part D), shared by push and by `snapup bench`'s
 * estimate: one A4 request up to the single-request threshold; otherwise small files in
 * batches where the target takes them and everything else one request per file.
 */
import type { UploadMode } from './events.js';

/** Files up to this size travel in batches where the target takes them. */
export const BATCH_FILE_MAX = 1 << 20;
export const BATCH_MAX_FILES = 256;
export const BATCH_MAX_BYTES = 8 << 20;

/**
 * Groups transfers (uploads, or restores on pull): small files in batches when `batching`,
 * anything else alone. Batches and large files are interleaved by bytes: a server takes a
 * batch on its workers and a large file on its main thread, so sending all large files
 * first left its workers idle until the end (HTTP push of `mixed`: workers busy only in
 * the last 0.6 s of a 2 s upload).
 */
export function groupTransfers<T extends { size: number }>(
  files: readonly T[],
  batching: boolean,
  batchBytes = BATCH_MAX_BYTES,
): T[][] {
  if (!batching) return files.map((f) => [f]);
  const alone = files.filter((f) => f.size > BATCH_FILE_MAX).map((f) => [f]);
  const small = files.filter((f) => f.size <= BATCH_FILE_MAX);
  return interleaveByBytes(alone, splitWithin(small, BATCH_MAX_FILES, batchBytes));
}

/** Merges two lists of units, taking next from whichever has sent the smaller share of its bytes. */
function interleaveByBytes<T extends { size: number }>(a: T[][], b: T[][]): T[][] {
  const totalA = a.reduce((s, u) => s + weight(u), 0);
  const totalB = b.reduce((s, u) => s + weight(u), 0);
  const out: T[][] = [];
  let i = 0;
  let j = 0;
  let doneA = 0;
  let doneB = 0;
  while (i < a.length || j < b.length) {
    if (j >= b.length || (i < a.length && doneA * totalB <= doneB * totalA)) {
      const unit = a[i++] as T[];
      doneA += weight(unit);
      out.push(unit);
    } else {
      const unit = b[j++] as T[];
      doneB += weight(unit);
      out.push(unit);
    }
  }
  return out;
}

/** A unit's bytes, plus one so that a unit of empty files still counts. */
function weight(unit: readonly { size: number }[]): number {
  return unit.reduce((s, f) => s + f.size, 1);
}

/** Consecutive runs of `items` of at most `maxItems` items and `maxBytes` bytes (an item over `maxBytes` goes alone). */
export function splitWithin<T extends { size: number }>(
  items: readonly T[],
  maxItems: number,
  maxBytes: number,
): T[][] {
  const parts: T[][] = [];
  let part: T[] = [];
  let bytes = 0;
  for (const item of items) {
    if (part.length > 0 && (part.length >= maxItems || bytes + item.size > maxBytes)) {
      parts.push(part);
      part = [];
      bytes = 0;
    }
    part.push(item);
    bytes += item.size;
  }
  if (part.length > 0) parts.push(part);
  return parts;
}

export interface UploadPlan {
  mode: UploadMode;
  files: number;
  bytes: number;
  /** Upload requests (not counting newSnapshot and freeze). */
  requests: number;
  batches: number;
  singleFiles: number;
}

export function planUploads(
  files: readonly { size: number }[],
  singleMax: number,
  batching: boolean,
): UploadPlan {
  const bytes = files.reduce((s, f) => s + f.size, 0);
  if (files.length === 0)
    return { mode: 'none', files: 0, bytes: 0, requests: 0, batches: 0, singleFiles: 0 };
  if (bytes <= singleMax)
    return { mode: 'single', files: files.length, bytes, requests: 1, batches: 0, singleFiles: 0 };
  const units = groupTransfers(files, batching);
  const batches = units.filter((u) => u.length > 1).length;
  return {
    mode: 'multi',
    files: files.length,
    bytes,
    requests: units.length,
    batches,
    singleFiles: units.length - batches,
  };
}
