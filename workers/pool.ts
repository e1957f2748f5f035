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
import {
  hashAndStageCopies,
  hashAndStageShared,
  type StagedHashes,
  type StageTarget,
} from '../src/store/stage-files.js';

/** `cancel`: the shared flag of util/cancel.ts, when the caller can cancel the task. */
type Cancellable = { cancel?: Int32Array };

export function hash(task: { paths: string[] } & Cancellable): HashResult[] {
  return sha1Files(task.paths, task.cancel);
}

export function hashStage(
  task: { paths: string[]; stage: StageTarget } & Cancellable,
): StagedHashes {
  return hashAndStageShared(task.paths, task.stage, task.cancel);
}

export function hashStageCopies(
  task: { paths: string[]; stage: StageTarget } & Cancellable,
): StagedHashes {
  return hashAndStageCopies(task.paths, task.stage, task.cancel);
}

export function ingest(
  task: { packDir: string; tempDir: string; items: IngestItem[] } & Cancellable,
): IngestAnswer {
  return ingestFiles(task.packDir, task.tempDir, task.items, task.cancel);
}

export function restore(
  task: { objectsDir: string; items: RestoreItem[] } & Cancellable,
): RestoreResult[] {
  return restoreFiles(task.objectsDir, task.items, task.cancel);
}

export function read(task: { objectsDir: string; refs: ObjectRef[] } & Cancellable): ReadResult[] {
  return readObjects(task.objectsDir, task.refs, task.cancel);
}

export function copy(
  task: { objectsDir: string; tempDir: string; file: string; expected?: string } & Cancellable,
): IngestResult {
  return copyFileIn(task.objectsDir, task.tempDir, task.file, task.expected, task.cancel);
}

export function restoreLarge(
  task: { objectsDir: string; item: RestoreItem } & Cancellable,
): RestoreResult {
  return restoreLargeFile(task.objectsDir, task.item, task.cancel);
}
