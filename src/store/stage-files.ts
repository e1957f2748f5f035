/**
 * Hashing that stores as it goes, for a worker thread (or the main thread, for a few
 * files): each small file is read once into the pack being assembled, hashed there, and
 * kept when its content is new to the store (claimed in the shared table); the batch's new
 * contents are written as one staged pack in the store's temp folder. Larger files are
 * copied into the temp folder as they are hashed (hashAndStageCopies). The main thread
 * moves what was staged into the store once the push has declared its content
 * (staging.ts). A first push then reads each file once instead of twice (once to hash,
 * once to store after negotiation).
 */
import { hash } from 'node:crypto';
import { closeSync, existsSync, openSync, rmSync } from 'node:fs';
import { hashFailure, sha1File } from '../hash/sha1-file.js';
import { Cancelled, throwIfCancelled } from '../util/cancel.js';
import { ClaimTable } from './claims.js';
import type { IngestResult } from './ingest.js';
import { objectPathIn } from './object-path.js';
import { packBytes, readFileIntoPack } from './pack-assembly.js';
import { type PackEntry, type PackTemps, writePackTempsSync } from './pack-file.js';
import { copyToNewFileSync, tempPathIn } from './sync-write.js';

/** Where to stage: the store's temp folder, and up to which file size packs take. */
export interface StagePlace {
  tempDir: string;
  /** Larger files are staged as copies, each to become a loose object (hashAndStageCopies). */
  maxFileSize: number;
  /** The store's loose objects: content found there is not copied again. */
  objectsDir: string;
}

/** Where a worker stages, with the shared table of claimed hashes (claims.ts). */
export interface StageTarget extends StagePlace {
  claims: SharedArrayBuffer;
}

/** A pack written to the temp folder, not yet part of the store. */
export interface StagedPack extends PackTemps {
  entries: PackEntry[];
}

/** A large file's content copied into the temp folder, to become a loose object. */
export interface StagedCopy {
  sha1: string;
  size: number;
  temp: string;
}

export interface StagedHashes {
  /** Per path, its hash and size (what was read), or why it could not be read. */
  results: IngestResult[];
  pack?: StagedPack;
  copies?: StagedCopy[];
}

/** On a worker: staging against the shared claim table. */
export function hashAndStageShared(
  paths: readonly string[],
  target: StageTarget,
  cancel?: Int32Array,
): StagedHashes {
  const claims = ClaimTable.of(target.claims);
  return hashAndStage(paths, target, (sha1) => claims.claim(sha1), cancel);
}

/** `claim` answers true for a content this call is the first to keep (see claims.ts). */
export function hashAndStage(
  paths: readonly string[],
  target: StagePlace,
  claim: (sha1: string) => boolean,
  cancel?: Int32Array,
): StagedHashes {
  const entries: PackEntry[] = [];
  let used = 0;
  const results = paths.map((path): IngestResult => {
    throwIfCancelled(cancel);
    try {
      const size = readFileIntoPack(path, used, target.maxFileSize);
      // A file that grew past the limit since the walk is hashed as it streams, not staged:
      // the upload stores it alone (loose).
      if (size > target.maxFileSize) return sha1File(path);
      const sha1 = hash('sha1', packBytes(used, used + size), 'hex');
      if (claim(sha1)) {
        entries.push({ sha1, offset: used, size });
        used += size;
      }
      return { sha1, size };
    } catch (err) {
      return hashFailure(err);
    }
  });
  if (entries.length === 0) return { results };
  throwIfCancelled(cancel);
  try {
    return {
      results,
      pack: { ...writePackTempsSync(target.tempDir, packBytes(0, used), entries), entries },
    };
  } catch {
    // Staging is a shortcut: without it these contents are uploaded after negotiation.
    return { results };
  }
}

/**
 * On a worker, for files larger than a pack takes: each is copied into the temp folder as
 * it is hashed (one read instead of one to hash and one to store after negotiation, and
 * the store's writes overlap the hashing). The copy is kept when its content is new (not
 * a loose object already, not claimed by another batch), else removed at once; being
 * still in the page cache then, it mostly never reaches the disk.
 */
export function hashAndStageCopies(
  paths: readonly string[],
  target: StageTarget,
  cancel?: Int32Array,
): StagedHashes {
  const claims = ClaimTable.of(target.claims);
  const copies: StagedCopy[] = [];
  try {
    const results = paths.map((path): IngestResult => {
      throwIfCancelled(cancel);
      const copy = copyHashing(path, target.tempDir, cancel);
      if (!('temp' in copy)) return copy;
      const { sha1, size, temp } = copy;
      if (existsSync(objectPathIn(target.objectsDir, sha1)) || !claims.claim(sha1))
        rmSync(temp, { force: true });
      else copies.push(copy);
      return { sha1, size };
    });
    return { results, copies };
  } catch (err) {
    // Stopped mid-batch: what it copied is nobody's to commit.
    for (const c of copies) rmSync(c.temp, { force: true });
    throw err;
  }
}

/**
 * A file copied into `tempDir` while hashed; when the temp folder cannot take it (full,
 * say), just its hash (staging is a shortcut: the upload then stores it); why it could
 * not be read when it could not.
 */
function copyHashing(
  path: string,
  tempDir: string,
  cancel?: Int32Array,
): StagedCopy | IngestResult {
  let source: number;
  try {
    source = openSync(path, 'r');
  } catch (err) {
    return hashFailure(err);
  }
  try {
    const temp = tempPathIn(tempDir, 'stage');
    return { ...copyToNewFileSync(source, temp, 0o444, cancel), temp };
  } catch (err) {
    if (err instanceof Cancelled) throw err;
    if ((err as { side?: string }).side === 'source') return hashFailure(err);
    try {
      return sha1File(path);
    } catch (again) {
      return hashFailure(again);
    }
  } finally {
    closeSync(source);
  }
}
