/**
 * The store's view of its pack files (format in pack-file.ts): which objects are packed
 * and where. Loaded lazily and refreshed from the folder when a lookup may be stale
 * (another process or the server wrote packs, or gc replaced some), so it needs no
 * coordination beyond the files themselves.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import pLimit from 'p-limit';
import { fsError, SnapupError } from '../errors.js';
import { type PackEntry, type PackedLocation, parsePackIndex } from './pack-file.js';

/** Index files read at once (libuv runs four file operations at a time by default). */
const INDEX_READS = 16;

export class PackIndex {
  /** Entries per pack id, for every pack whose index was read. */
  private readonly packs = new Map<string, PackEntry[]>();
  /** Where each packed object is (its first pack, by id, when it is in several). */
  private objects = new Map<string, PackedLocation>();
  private scanning: Promise<void> | undefined;
  private nextScan: Promise<void> | undefined;
  private loaded: Promise<void> | undefined;

  constructor(readonly dir: string) {}

  packPath(id: string): string {
    return join(this.dir, `${id}.pack`);
  }

  indexPath(id: string): string {
    return join(this.dir, `${id}.idx`);
  }

  get(sha1: string): PackedLocation | undefined {
    return this.objects.get(sha1);
  }

  /** The packs known, oldest first, with their entries. */
  all(): [string, readonly PackEntry[]][] {
    return [...this.packs].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }

  /** Records a pack this process has just written. */
  add(id: string, entries: PackEntry[]): void {
    this.packs.set(id, entries);
    const file = this.packPath(id);
    for (const e of entries) {
      if (!this.objects.has(e.sha1))
        this.objects.set(e.sha1, { file, offset: e.offset, size: e.size });
    }
  }

  /** Forgets packs removed by gc (one rebuild of the object map for all of them). */
  forget(ids: readonly string[]): void {
    let dropped = false;
    for (const id of ids) dropped = this.packs.delete(id) || dropped;
    if (dropped) this.rebuild();
  }

  /**
   * Reads the indexes once, for lookups that re-read them only on a miss (reads of
   * objects: a stale entry fails to open and is looked up again).
   */
  load(): Promise<void> {
    this.loaded ??= this.refresh();
    return this.loaded;
  }

  /**
   * Reads the indexes of packs not seen yet and forgets packs whose index is gone. What a
   * caller sees was read after its call: one arriving while a scan runs waits for the next
   * one, which everyone arriving meanwhile shares.
   */
  refresh(): Promise<void> {
    if (!this.scanning) {
      this.scanning = this.scan().finally(() => {
        this.scanning = undefined;
      });
      return this.scanning;
    }
    // After the running scan, whether it read everything or failed.
    const again = () => {
      this.nextScan = undefined;
      return this.refresh();
    };
    this.nextScan ??= this.scanning.then(again, again);
    return this.nextScan;
  }

  private async scan(): Promise<void> {
    let names: string[];
    try {
      names = await fsp.readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') names = [];
      else throw fsError(err, this.dir, 'list');
    }
    const present = new Set(names.filter((n) => n.endsWith('.idx')).map((n) => n.slice(0, -4)));
    let dropped = false;
    for (const id of this.packs.keys()) {
      if (!present.has(id)) {
        this.packs.delete(id);
        dropped = true;
      }
    }
    // Read at once, not one after the other: a store gains a pack with every push, and 117
    // small index files took 20-45 ms read in turn against 9-29 ms together. Added in id
    // order, so that an object in several packs is located in the oldest, as rebuild does.
    const fresh = [...present].filter((id) => !this.packs.has(id)).sort();
    const limit = pLimit(INDEX_READS);
    const read = await Promise.all(fresh.map((id) => limit(() => this.readIndex(id))));
    fresh.forEach((id, i) => {
      const entries = read[i];
      if (entries) this.add(id, entries);
    });
    if (dropped) this.rebuild();
  }

  /** A pack's entries; undefined when its index vanished meanwhile (gc). */
  private async readIndex(id: string): Promise<PackEntry[] | undefined> {
    const path = this.indexPath(id);
    let text: string;
    try {
      text = await fsp.readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw fsError(err, path, 'read');
    }
    try {
      return parsePackIndex(text);
    } catch (err) {
      throw new SnapupError(
        'CORRUPT_STORE',
        `${path}: pack index is corrupt (${(err as Error).message}); the objects of ${id}.pack cannot be found until it is restored or removed`,
        { path },
      );
    }
  }

  private rebuild(): void {
    this.objects = new Map();
    for (const [id, entries] of this.all()) this.add(id, entries as PackEntry[]);
  }
}
