/** The canonical form of a manifest, shared by the engine, the store and the server. */
import { createHash } from 'node:crypto';
import type { FileEntry, FileHashes, Permissions } from './types.js';

/** Code-unit order, stable and locale-free, used wherever paths are sorted. */
export function comparePaths(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * SHA-256 over the sorted `sha1 perms path` lines: two manifests have the same digest
 * exactly when they have the same paths, hashes and permissions (spec B.1). Sizes are
 * not part of it, as they are not part of the protocol's "set of hashes".
 */
export function manifestDigest(fileHashes: FileHashes): string {
  // The default sort orders strings by code unit, as comparePaths does, without calling
  // back into JavaScript; lines are made from the map's entries, not from copies of them.
  const hash = new LineHash();
  for (const path of Object.keys(fileHashes).sort())
    hash.add(path, fileHashes[path] as FileHashes[string]);
  return hash.digest();
}

/** The same digest for entries already sorted by path (the engine's manifest). */
export function digestOfSorted(
  entries: Iterable<{ path: string; sha1: string; permissions: Permissions }>,
): string {
  const hash = new LineHash();
  for (const e of entries) hash.add(e.path, e);
  return hash.digest();
}

/** The digest's lines, given to SHA-256 512 at a time (one call per line was a third of it). */
class LineHash {
  private readonly hash = createHash('sha256');
  private lines = '';
  private count = 0;

  add(path: string, e: { sha1: string; permissions: Permissions }): void {
    this.lines += `${e.sha1} ${e.permissions.ro ? 'r' : '-'}${e.permissions.exe ? 'x' : '-'} ${path}\n`;
    if (++this.count === 512) {
      this.hash.update(this.lines);
      this.lines = '';
      this.count = 0;
    }
  }

  digest(): string {
    return this.hash.update(this.lines).digest('hex');
  }
}

/**
 * An empty map for keys that users name (file paths): without a prototype, so a path the
 * snapshot lacks is not found even when it is `constructor`, `toString` or `__proto__`,
 * which a plain object answers with Object's own members (a server that was asked for a
 * file named `constructor` sent Object's constructor function, a 500).
 */
export function pathMap<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}

/**
 * Sets `map[path]` as an own property, also for a file named `__proto__`, which a plain
 * assignment would turn into the map's prototype (and so drop from the snapshot).
 */
export function setEntry<T>(map: Record<string, T>, path: string, entry: T): void {
  if (path === '__proto__') {
    Object.defineProperty(map, path, {
      value: entry,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  } else map[path] = entry;
}

/** The distinct content hashes a manifest refers to. */
export function uniqueHashes(fileHashes: FileHashes): Set<string> {
  const out = new Set<string>();
  for (const entry of Object.values(fileHashes)) out.add(entry.sha1);
  return out;
}

/** A manifest entry with its path, as the engine holds them (sorted by path). */
export interface PathEntry extends FileEntry {
  path: string;
}

/** A manifest the engine built from a walk, for a target that takes one (PushTarget.takesBuiltEntries). */
export interface BuiltManifest {
  digest: string;
  /**
   * Its entries, sorted by path, paths checked against B.6 by the walk. Handed over: the
   * store may keep them (and make the map from them later), so they are not changed after.
   */
  entries: readonly PathEntry[];
}

/** The request map of entries (each once by path). */
export function fileHashesOf(entries: readonly PathEntry[]): FileHashes {
  const out = pathMap<FileHashes[string]>();
  for (const e of entries)
    setEntry(out, e.path, { sha1: e.sha1, permissions: e.permissions, size: e.size });
  return out;
}

const PERMISSIONS_JSON: readonly string[] = [
  '{"ro":false,"exe":false}',
  '{"ro":false,"exe":true}',
  '{"ro":true,"exe":false}',
  '{"ro":true,"exe":true}',
];

/**
 * `JSON.stringify(p)` of shared permissions (ro first, as they are built), without
 * serialising an object per file of a manifest written out.
 */
export function permissionsJson(p: Permissions): string {
  return PERMISSIONS_JSON[(p.ro ? 2 : 0) + (p.exe ? 1 : 0)] as string;
}

/**
 * The JSON of `fileHashesOf(entries)`, written from the entries in pieces of 1,000: the
 * same map when parsed (key order aside, which nothing reads), without building the map
 * first (a 50,000-key object took ~50 ms to build, only to be serialised) or the whole
 * text as one string. The hashes are the engine's own hex digests; paths go through
 * JSON.stringify.
 */
export function* manifestJson(entries: readonly PathEntry[]): Generator<string> {
  const PIECE = 1000;
  for (let start = 0; start < entries.length || start === 0; start += PIECE) {
    let text = start === 0 ? '{' : ',';
    const end = Math.min(entries.length, start + PIECE);
    for (let i = start; i < end; i++) {
      const e = entries[i] as PathEntry;
      const size = e.size === undefined ? '' : `,"size":${e.size}`;
      text += `${i === start ? '' : ','}${JSON.stringify(e.path)}:{"sha1":"${e.sha1}","permissions":${permissionsJson(e.permissions)}${size}}`;
    }
    yield end === entries.length ? `${text}}` : text;
  }
}
