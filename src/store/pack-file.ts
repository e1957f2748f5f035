/**
 * Pack files: many small objects in one file, the way git and restic store them. Creating
 * a file is what storing tens of thousands of small objects spends its time on (about
 * 50 µs each on ext4, plus the flush before a freeze), so a batch of small files becomes
 * one pack instead of hundreds of object files.
 *
 *   packs/<id>.pack   the objects' bytes end to end, read-only
 *   packs/<id>.idx    where each object is in the pack (format in pack-index-file.ts)
 *
 * Both are written to tmp/ and renamed into place, the index last: the index is what
 * makes a pack's objects exist, so a crash between the two leaves a pack nobody reads,
 * which gc removes. Packs are never changed once written; gc rewrites a pack that holds
 * dead objects into a new one and then removes the old.
 *
 * Synchronous, for the worker threads (and small enough to load there).
 */
import { randomBytes } from 'node:crypto';
import { renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { encodePackIndex, type PackEntry } from './pack-index-file.js';
import { tempPathIn, writeNewFileSync } from './sync-write.js';

export type { PackEntry };

/** Where a packed object's bytes are. */
export interface PackedLocation {
  /** Absolute path of the pack file. */
  file: string;
  offset: number;
  size: number;
}

/** A fresh pack id: sortable by creation time, unique without coordination. */
export function newPackId(): string {
  return `${Date.now().toString(36).padStart(9, '0')}-${randomBytes(8).toString('hex')}`;
}

/** A pack and its index written to a temp folder, not yet part of the store. */
export interface PackTemps {
  packTemp: string;
  indexTemp: string;
}

/**
 * Writes a pack and its index as new files in `tempDir`: `data` holds the objects' bytes
 * end to end as `entries` describe them, each already verified against its hash. On a
 * failure neither file is left.
 */
export function writePackTempsSync(
  tempDir: string,
  data: Uint8Array,
  entries: readonly PackEntry[],
): PackTemps {
  const packTemp = tempPathIn(tempDir, 'pack');
  const indexTemp = tempPathIn(tempDir, 'idx');
  try {
    writeNewFileSync(packTemp, data, 0o444);
    writeNewFileSync(indexTemp, encodePackIndex(entries), 0o444);
  } catch (err) {
    removePackTempsSync({ packTemp, indexTemp });
    throw err;
  }
  return { packTemp, indexTemp };
}

/**
 * Moves written temps into `packDir` under a new id: the pack first, the index last (only
 * the index makes the objects exist). Returns the id.
 */
export function publishPackSync(packDir: string, temps: PackTemps): string {
  const id = newPackId();
  renameSync(temps.packTemp, join(packDir, `${id}.pack`));
  renameSync(temps.indexTemp, join(packDir, `${id}.idx`));
  return id;
}

export function removePackTempsSync(temps: PackTemps): void {
  rmSync(temps.packTemp, { force: true });
  rmSync(temps.indexTemp, { force: true });
}

/** Writes one new pack in `packDir` (staged in `tempDir`); see writePackTempsSync. */
export function writePackSync(
  packDir: string,
  tempDir: string,
  data: Uint8Array,
  entries: readonly PackEntry[],
): string {
  const temps = writePackTempsSync(tempDir, data, entries);
  try {
    return publishPackSync(packDir, temps);
  } catch (err) {
    removePackTempsSync(temps);
    throw err;
  }
}
