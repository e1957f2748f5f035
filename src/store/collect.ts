/**
 * gc's content step: removes the objects no live snapshot needs, loose and packed. A pack
 * whose objects are all dead is removed (index first, so it stops existing before its
 * bytes go); one with some dead objects is rewritten with the live ones into a new pack,
 * made durable, and only then is the old one removed. An object stored twice (loose and
 * packed, or in two packs after concurrent pushes) keeps one copy.
 */
import { promises as fsp } from 'node:fs';
import { fsError } from '../errors.js';
import { fsyncDir } from '../util/atomic.js';
import type { ObjectStore } from './objects.js';
import { type PackEntry, writePackSync } from './pack-file.js';

/**
 * Packs with fewer objects and bytes than these are merged by gc (a batch makes up to 256
 * objects, 8 MiB). Both bounds: a pack of a few large objects is not small, and must not
 * be rewritten on every run.
 */
const MERGE_BELOW = 64;
const MERGE_BELOW_BYTES = 2 << 20;
/** Size of the packs gc writes: a push's batch size. */
const PACK_TARGET = 8 << 20;

export interface CollectReport {
  removedObjects: number;
  removedBytes: number;
  keptObjects: number;
  /** Packs rewritten: without their dead objects, or merged when small. */
  repackedPacks: number;
}

export async function collectObjects(
  objects: ObjectStore,
  keep: ReadonlySet<string>,
  options: { dryRun: boolean; now: number; graceMs: number },
): Promise<CollectReport> {
  const report: CollectReport = {
    removedObjects: 0,
    removedBytes: 0,
    keptObjects: 0,
    repackedPacks: 0,
  };
  const kept = new Set<string>();
  for await (const sha1 of objects.listLoose()) {
    if (keep.has(sha1) && !kept.has(sha1)) {
      kept.add(sha1);
      continue;
    }
    report.removedObjects++;
    report.removedBytes += await objects.looseSize(sha1).catch(() => 0);
    if (!options.dryRun) await objects.removeLoose(sha1);
  }
  const packs = objects.packs;
  await packs.refresh();
  /** Packs to rewrite (some objects dead, or too small to keep apart), with their live objects. */
  const rewrite: { id: string; live: PackEntry[] }[] = [];
  const small: { id: string; live: PackEntry[] }[] = [];
  for (const [id, entries] of packs.all()) {
    const live: PackEntry[] = [];
    for (const e of entries) {
      if (keep.has(e.sha1) && !kept.has(e.sha1)) {
        kept.add(e.sha1);
        live.push(e);
      } else {
        report.removedObjects++;
        report.removedBytes += e.size;
      }
    }
    if (live.length < entries.length) rewrite.push({ id, live });
    else if (live.length < MERGE_BELOW && bytesOf(live) < MERGE_BELOW_BYTES)
      small.push({ id, live });
  }
  // Every push of a few edited files makes a small pack; many of them slow every lookup.
  if (small.length > 1) rewrite.push(...small);
  if (!options.dryRun && rewrite.length > 0) {
    await repack(objects, rewrite);
    report.repackedPacks = rewrite.filter((r) => r.live.length > 0).length;
  }
  report.keptObjects = kept.size;
  await removeOrphanPacks(objects, options);
  return report;
}

/**
 * Writes the live objects of `sources` into new packs of at most PACK_TARGET bytes, makes
 * them durable, and only then removes the sources.
 */
async function repack(objects: ObjectStore, sources: readonly { id: string; live: PackEntry[] }[]) {
  const packs = objects.packs;
  let data: Buffer[] = [];
  let entries: PackEntry[] = [];
  let size = 0;
  const written: string[] = [];
  const flush = () => {
    if (entries.length === 0) return;
    const id = writePackSync(packs.dir, objects.tempDir, Buffer.concat(data, size), entries);
    packs.add(id, entries);
    written.push(id);
    data = [];
    entries = [];
    size = 0;
  };
  for (const { id, live } of sources) {
    if (live.length === 0) continue;
    const path = packs.packPath(id);
    const handle = await fsp.open(path, 'r').catch((err: unknown) => {
      throw fsError(err, path, 'repack');
    });
    try {
      for (const e of live) {
        if (size + e.size > PACK_TARGET) flush();
        const bytes = Buffer.allocUnsafeSlow(e.size);
        const { bytesRead } = await handle.read(bytes, 0, e.size, e.offset);
        if (bytesRead !== e.size)
          throw Object.assign(new Error('pack is truncated'), { code: 'EIO' });
        data.push(bytes);
        entries.push({ sha1: e.sha1, offset: size, size: e.size });
        size += e.size;
      }
    } catch (err) {
      throw fsError(err, path, 'repack');
    } finally {
      await handle.close();
    }
  }
  flush();
  for (const id of written) {
    for (const file of [packs.packPath(id), packs.indexPath(id)]) {
      const fh = await fsp.open(file, 'r');
      await fh.sync().finally(() => fh.close());
    }
  }
  if (written.length > 0) await fsyncDir(packs.dir);
  await removePacks(
    objects,
    sources.map((s) => s.id),
  );
}

/** Removes packs: the indexes first, so the objects stop existing before their bytes go. */
async function removePacks(objects: ObjectStore, ids: readonly string[]): Promise<void> {
  const packs = objects.packs;
  for (const id of ids) await fsp.rm(packs.indexPath(id), { force: true });
  packs.forget(ids);
  for (const id of ids) await fsp.rm(packs.packPath(id), { force: true });
}

/** Pack files without an index (a writer died between the two) older than the grace period. */
async function removeOrphanPacks(
  objects: ObjectStore,
  options: { dryRun: boolean; now: number; graceMs: number },
): Promise<void> {
  const dir = objects.packs.dir;
  const names = new Set(await fsp.readdir(dir).catch(() => [] as string[]));
  for (const name of names) {
    if (!name.endsWith('.pack') || names.has(`${name.slice(0, -5)}.idx`)) continue;
    const path = `${dir}/${name}`;
    const stat = await fsp.stat(path).catch(() => null);
    if (!stat || options.now - stat.mtimeMs < options.graceMs) continue;
    if (!options.dryRun) await fsp.rm(path, { force: true });
  }
}

function bytesOf(entries: readonly PackEntry[]): number {
  return entries.reduce((sum, e) => sum + e.size, 0);
}
