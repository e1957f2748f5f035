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

export interface CollectReport {
  removedObjects: number;
  removedBytes: number;
  keptObjects: number;
  /** Packs rewritten without their dead objects. */
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
    if (live.length === entries.length || options.dryRun) continue;
    if (live.length > 0) {
      await repack(objects, id, live);
      report.repackedPacks++;
    }
    await removePack(objects, id);
  }
  report.keptObjects = kept.size;
  await removeOrphanPacks(objects, options);
  return report;
}

/** Writes `live` (entries of pack `id`) into a new, durable pack. */
async function repack(objects: ObjectStore, id: string, live: readonly PackEntry[]) {
  const packs = objects.packs;
  const path = packs.packPath(id);
  let handle: fsp.FileHandle | undefined;
  try {
    handle = await fsp.open(path, 'r');
    const data = Buffer.allocUnsafeSlow(live.reduce((sum, e) => sum + e.size, 0));
    const entries: PackEntry[] = [];
    let offset = 0;
    for (const e of live) {
      const { bytesRead } = await handle.read(data, offset, e.size, e.offset);
      if (bytesRead !== e.size)
        throw Object.assign(new Error('pack is truncated'), { code: 'EIO' });
      entries.push({ sha1: e.sha1, offset, size: e.size });
      offset += e.size;
    }
    const fresh = writePackSync(packs.dir, objects.tempDir, data, entries);
    for (const file of [packs.packPath(fresh), packs.indexPath(fresh)]) {
      const fh = await fsp.open(file, 'r');
      await fh.sync().finally(() => fh.close());
    }
    await fsyncDir(packs.dir);
    packs.add(fresh, entries);
  } catch (err) {
    throw fsError(err, path, 'repack');
  } finally {
    await handle?.close();
  }
}

async function removePack(objects: ObjectStore, id: string): Promise<void> {
  const packs = objects.packs;
  await fsp.rm(packs.indexPath(id), { force: true });
  packs.forget(id);
  await fsp.rm(packs.packPath(id), { force: true });
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
