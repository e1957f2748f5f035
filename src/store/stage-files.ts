/**
 * Hashing that stores as it goes, for a worker thread (or the main thread, for a few
 * files): each small file is read once into
 * the pack being assembled, hashed there, and kept when its content is new to the store
 * (claimed in the shared table); the batch's new contents are written as one staged pack
 * in the store's temp folder. The main thread moves staged packs into the store once the
 * push has declared their content (staging.ts). A first push of many small files then
 * reads each file once instead of twice (once to hash, once to store after negotiation).
 */
import { hash } from 'node:crypto';
import { sha1File } from '../hash/sha1-file.js';
import { throwIfCancelled } from '../util/cancel.js';
import { ClaimTable } from './claims.js';
import type { IngestResult } from './ingest.js';
import { packBytes, readFileIntoPack } from './pack-assembly.js';
import { type PackEntry, type PackTemps, writePackTempsSync } from './pack-file.js';

/** Where to stage: the store's temp folder, and up to which file size. */
export interface StagePlace {
  tempDir: string;
  /** Larger files are not staged: the upload stores them alone (as loose objects). */
  maxFileSize: number;
}

/** Where a worker stages, with the shared table of claimed hashes (claims.ts). */
export interface StageTarget extends StagePlace {
  claims: SharedArrayBuffer;
}

/** A pack written to the temp folder, not yet part of the store. */
export interface StagedPack extends PackTemps {
  entries: PackEntry[];
}

export interface StagedHashes {
  /** Per path, its hash and size (what was read), or why it could not be read. */
  results: IngestResult[];
  pack?: StagedPack;
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
      const e = err as NodeJS.ErrnoException;
      return { error: e.message, code: e.code };
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
