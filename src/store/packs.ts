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
import { ObjectTable, wordsOf } from './object-table.js';
import type { PackedLocation } from './pack-file.js';
import {
  decodePackIndex,
  type PackEntry,
  type PackTable,
  packEntriesOf,
  packTableOf,
} from './pack-index-file.js';

/** Index files read at once (libuv runs four file operations at a time by default). */
const INDEX_READS = 16;

interface KnownPack {
  id: string;
  file: string;
  table: PackTable;
}

export class PackIndex {
  /** Every pack whose index was read, by id. */
  private readonly packs = new Map<string, KnownPack>();
  /**
   * Where each packed object is (its first pack, by id, when it is in several): an entry
   * of `objects` holds a number into `order` and the object's place in that pack's table.
   */
  private objects = new ObjectTable();
  private order: KnownPack[] = [];
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

  /** Whether a pack holds `sha1`, without building its location. */
  has(sha1: string): boolean {
    return this.objects.find(sha1) >= 0;
  }

  /** The pack file holding `sha1`, without building its location (a freeze asks per hash). */
  fileOf(sha1: string): string | undefined {
    const entry = this.objects.find(sha1);
    return entry < 0 ? undefined : this.order[this.objects.first(entry)]?.file;
  }

  get(sha1: string): PackedLocation | undefined {
    const entry = this.objects.find(sha1);
    if (entry < 0) return undefined;
    const pack = this.order[this.objects.first(entry)] as KnownPack;
    const at = this.objects.second(entry);
    return {
      file: pack.file,
      offset: pack.table.offsets[at] as number,
      size: pack.table.sizes[at] as number,
    };
  }

  /** How many objects the packs hold (each once). */
  get size(): number {
    return this.objects.size;
  }

  /** The packs known, oldest first, with their tables. */
  tables(): [string, PackTable][] {
    return [...this.packs.values()]
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .map((p) => [p.id, p.table]);
  }

  /** The packs known, oldest first, with their entries. */
  all(): [string, PackEntry[]][] {
    return this.tables().map(([id, table]) => [id, packEntriesOf(table)]);
  }

  /** Records a pack this process has just written. */
  add(id: string, entries: readonly PackEntry[]): void {
    this.addTable(id, packTableOf(entries));
  }

  /** Forgets packs removed by gc (one rebuild of the object table for all of them). */
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

  private addTable(id: string, table: PackTable): void {
    const pack = { id, file: this.packPath(id), table };
    this.packs.set(id, pack);
    const number = this.order.push(pack) - 1;
    const words = wordsOf(table.hashes);
    for (let i = 0; i < table.count; i++) this.objects.insert(words, 5 * i, number, i);
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
    this.objects.reserve(this.objects.size + read.reduce((n, t) => n + (t?.count ?? 0), 0));
    fresh.forEach((id, i) => {
      const table = read[i];
      if (table) this.addTable(id, table);
    });
    if (dropped) this.rebuild();
  }

  /** A pack's table; undefined when its index vanished meanwhile (gc). */
  private async readIndex(id: string): Promise<PackTable | undefined> {
    const path = this.indexPath(id);
    let bytes: Buffer;
    try {
      bytes = await fsp.readFile(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw fsError(err, path, 'read');
    }
    try {
      return decodePackIndex(bytes);
    } catch (err) {
      throw new SnapupError(
        'CORRUPT_STORE',
        `${path}: pack index is corrupt (${(err as Error).message}); the objects of ${id}.pack cannot be found until it is restored or removed`,
        { path },
      );
    }
  }

  private rebuild(): void {
    const packs = this.tables();
    this.objects = new ObjectTable();
    this.order = [];
    for (const [id, table] of packs) this.addTable(id, table);
  }
}
