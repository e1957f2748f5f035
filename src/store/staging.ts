/**
 * Content stored while it is hashed (stage-files.ts runs on the workers): the packs the
 * workers staged in the temp folder, moved into the store once the push has declared
 * their content in newSnapshot, or removed when the push fails first. Until then this
 * process counts their objects as present (so newSnapshot does not ask for them) and no
 * other process sees them; gc removes temp files a dead writer left after its grace hour.
 */
import { promises as fsp } from 'node:fs';
import { fsError } from '../errors.js';
import { ClaimTable } from './claims.js';
import type { ObjectStore } from './objects.js';
import { newPackId } from './pack-file.js';
import type { StagedPack, StageTarget } from './stage-files.js';

/** Room in the claim table for this many contents of the tree beyond what the store holds. */
const NEW_CONTENTS = 1 << 17;

export class PackStaging {
  /** The contents staged so far (this push stored them). */
  readonly hashes = new Set<string>();
  private pending: StagedPack[] = [];
  private closed = false;

  private constructor(
    private readonly objects: ObjectStore,
    readonly target: StageTarget,
  ) {}

  /** Staging into `objects`, for files up to `maxFileSize` bytes. */
  static async open(objects: ObjectStore, maxFileSize: number): Promise<PackStaging> {
    // Stores made before packs existed lack the folder the commit renames into.
    await fsp.mkdir(objects.packs.dir, { recursive: true });
    await objects.packs.load();
    const packs = objects.packs.all();
    const known = packs.reduce((n, [, entries]) => n + entries.length, 0);
    const claims = ClaimTable.create(known + NEW_CONTENTS);
    // What the packs hold is not staged again (loose objects are large ones, not staged).
    for (const [, entries] of packs) for (const e of entries) claims.claim(e.sha1);
    return new PackStaging(objects, {
      tempDir: objects.tempDir,
      claims: claims.buffer,
      maxFileSize,
    });
  }

  /** Takes a pack a worker staged (removed at once when the push already ended). */
  accept(pack: StagedPack): void {
    if (this.closed) {
      void removeStaged([pack]);
      return;
    }
    this.pending.push(pack);
    this.objects.packs.stage(pack.entries);
    for (const e of pack.entries) this.hashes.add(e.sha1);
  }

  /** Moves the staged packs into the store: pack first, index last, as any pack is written. */
  async commit(): Promise<void> {
    const packs = this.objects.packs;
    while (this.pending.length > 0) {
      const staged = this.pending[0] as StagedPack;
      const id = newPackId();
      try {
        await fsp.rename(staged.packTemp, packs.packPath(id));
        await fsp.rename(staged.indexTemp, packs.indexPath(id));
      } catch (err) {
        throw fsError(err, packs.dir, 'move a staged pack into');
      }
      this.pending.shift();
      packs.add(id, staged.entries);
      packs.unstage(staged.entries);
    }
  }

  /** Removes what was staged and not committed; later arrivals are removed as they come. */
  async discard(): Promise<void> {
    this.closed = true;
    const left = this.pending;
    this.pending = [];
    for (const p of left) this.objects.packs.unstage(p.entries);
    await removeStaged(left);
  }
}

async function removeStaged(packs: readonly StagedPack[]): Promise<void> {
  await Promise.all(
    packs.flatMap((p) => [p.packTemp, p.indexTemp].map((f) => fsp.rm(f, { force: true }))),
  );
}
