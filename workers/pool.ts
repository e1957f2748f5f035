/** Piscina worker: the CPU- and syscall-heavy loops, run off the main thread on every core. */
import { type HashResult, sha1Files } from '../src/hash/sha1-file.js';
import {
  copyFileIn,
  type IngestAnswer,
  type IngestItem,
  type IngestResult,
  ingestFiles,
} from '../src/store/ingest.js';
import {
  type ObjectRef,
  type ReadResult,
  type RestoreItem,
  type RestoreResult,
  readObjects,
  restoreFiles,
  restoreLargeFile,
} from '../src/store/restore.js';

export function hash(paths: string[]): HashResult[] {
  return sha1Files(paths);
}

export function ingest(task: {
  packDir: string;
  tempDir: string;
  items: IngestItem[];
}): IngestAnswer {
  return ingestFiles(task.packDir, task.tempDir, task.items);
}

export function restore(task: { objectsDir: string; items: RestoreItem[] }): RestoreResult[] {
  return restoreFiles(task.objectsDir, task.items);
}

export function read(task: { objectsDir: string; refs: ObjectRef[] }): ReadResult[] {
  return readObjects(task.objectsDir, task.refs);
}

export function copy(task: {
  objectsDir: string;
  tempDir: string;
  file: string;
  expected?: string;
}): IngestResult {
  return copyFileIn(task.objectsDir, task.tempDir, task.file, task.expected);
}

export function restoreLarge(task: { objectsDir: string; item: RestoreItem }): RestoreResult {
  return restoreLargeFile(task.objectsDir, task.item);
}
