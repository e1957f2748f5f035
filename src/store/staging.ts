/**
 * Content stored while it is hashed (stage-files.ts runs on the workers): the packs of
 * small files and the copies of large ones the workers staged in the temp folder, moved
 * into the store once the push has declared their content in newSnapshot, or removed
 * when the push fails first. Until then this process counts their objects as present (so
 * newSnapshot does not ask for them) and no other process sees them; gc removes temp
 * files a dead writer left after its grace hour.
 */
import { promises as fsp, rmSync } from 'node:fs';
import { fsError } from '../errors.js';
import { ClaimTable } from './claims.js';
import { publishSync } from './ingest.js';
import type { ObjectStore } from './objects.js';
import { publishPackSync, removePackTempsSync } from './pack-file.js';
import type { StagedCopy, StagedPack, StagePlace, StageTarget } from './stage-files.js';

/** Room in the claim table for this many contents of the tree beyond what the store holds. */
const NEW_CONTENTS = 1 << 17;

export class StoreStaging {
  /** The contents staged so far (this push stored them). */
  readonly hashes = new Set<string>();
  private pending: StagedPack[] = [];
  private pendingCopies: StagedCopy[] = [];
  private closed = false;
  /** Shared with the workers, built when the first worker batch asks (see `target`). */
  private claims: ClaimTable | undefined;
  /** Contents claimed on this thread before there was a table. */
  private readonly claimedHere = new Set<string>();

  private constructor(
    private readonly objects: ObjectStore,
    readonly place: StagePlace,
  ) {}

  /** Staging into `objects`: packs for files up to `maxFileSize` bytes, copies for larger ones. */
  static async open(objects: ObjectStore, maxFileSize: number): Promise<StoreStaging> {
    // Stores made before packs existed lack the folder the commit renames into.
    await fsp.mkdir(objects.packs.dir, { recursive: true });
    await objects.packs.load();
    return new StoreStaging(objects, {
      tempDir: objects.tempDir,
      maxFileSize,
      objectsDir: objects.dir,
    });
  }

  /**
   * Where the workers stage, with the table of claimed hashes they share: what the packs
   * hold, and what this thread claimed (the workers look for loose objects themselves).
   * Built on first use: a push whose few changed files are staged on the main thread
   * needs none (~17 ms and 1 MiB for a store of 50,000 objects).
   */
  get target(): StageTarget {
    if (!this.claims) {
      const packs = this.objects.packs;
      const claims = ClaimTable.create(packs.size + this.claimedHere.size + NEW_CONTENTS);
      for (const [, table] of packs.tables())
        for (let i = 0; i < table.count; i++) claims.claimBytes(table.hashes, 20 * i);
      for (const sha1 of this.claimedHere) claims.claim(sha1);
      this.claims = claims;
    }
    return { ...this.place, claims: this.claims.buffer };
  }

  /** On this thread: true for a content new to the store's packs and not claimed yet. */
  claim(sha1: string): boolean {
    if (this.claims) return this.claims.claim(sha1);
    const packs = this.objects.packs;
    if (packs.has(sha1) || this.objects.isStaged(sha1) || this.claimedHere.has(sha1)) return false;
    this.claimedHere.add(sha1);
    return true;
  }

  /** Takes a pack a worker staged (removed at once when the push already ended). */
  accept(pack: StagedPack): void {
    if (this.closed) {
      removeStaged([pack]);
      return;
    }
    this.pending.push(pack);
    this.objects.stage(pack.entries);
    for (const e of pack.entries) this.hashes.add(e.sha1);
    this.objects.writeBack(pack.packTemp);
  }

  /** Takes the large files' copies a worker staged (see accept). */
  acceptCopies(copies: readonly StagedCopy[]): void {
    if (this.closed) {
      removeCopies(copies);
      return;
    }
    this.pendingCopies.push(...copies);
    this.objects.stage(copies);
    for (const c of copies) {
      this.hashes.add(c.sha1);
      // To disk while the workers go on hashing (the rename later keeps the inode).
      this.objects.writeBack(c.temp);
    }
  }

  /**
   * Moves the staged packs into the store, as any pack is published (pack-file.ts), and
   * the copies to their loose objects' places, as an upload publishes them (ingest.ts).
   */
  async commit(): Promise<void> {
    while (this.pendingCopies.length > 0) {
      const copy = this.pendingCopies[0] as StagedCopy;
      try {
        publishSync(this.objects.dir, copy.temp, copy.sha1);
      } catch (err) {
        throw fsError(err, this.objects.pathOf(copy.sha1), 'move a staged copy to');
      }
      this.pendingCopies.shift();
      this.objects.unstage([copy]);
    }
    const packs = this.objects.packs;
    while (this.pending.length > 0) {
      const staged = this.pending[0] as StagedPack;
      let id: string;
      try {
        id = publishPackSync(packs.dir, staged);
      } catch (err) {
        throw fsError(err, packs.dir, 'move a staged pack into');
      }
      this.pending.shift();
      packs.add(id, staged.entries);
      this.objects.unstage(staged.entries);
    }
  }

  /** Removes what was staged and not committed; later arrivals are removed as they come. */
  async discard(): Promise<void> {
    this.closed = true;
    const left = this.pending;
    this.pending = [];
    for (const p of left) this.objects.unstage(p.entries);
    removeStaged(left);
    const copies = this.pendingCopies;
    this.pendingCopies = [];
    this.objects.unstage(copies);
    removeCopies(copies);
  }
}

function removeStaged(packs: readonly StagedPack[]): void {
  for (const p of packs) removePackTempsSync(p);
}

function removeCopies(copies: readonly StagedCopy[]): void {
  for (const c of copies) rmSync(c.temp, { force: true });
}
