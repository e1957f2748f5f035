/** The canonical form of a manifest, shared by the engine, the store and the server. */
import { createHash } from 'node:crypto';
import type { FileHashes, Permissions } from './types.js';

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
  return digestOfSorted(
    Object.keys(fileHashes)
      .sort(comparePaths)
      .map((path) => ({ path, ...(fileHashes[path] as FileHashes[string]) })),
  );
}

/** The same digest for entries already sorted by path (the engine's manifest). */
export function digestOfSorted(
  entries: Iterable<{ path: string; sha1: string; permissions: Permissions }>,
): string {
  const hash = createHash('sha256');
  // Lines go to the hash 512 at a time: one native call per line was a third of the cost.
  let lines = '';
  let count = 0;
  for (const e of entries) {
    lines += `${e.sha1} ${e.permissions.ro ? 'r' : '-'}${e.permissions.exe ? 'x' : '-'} ${e.path}\n`;
    if (++count === 512) {
      hash.update(lines);
      lines = '';
      count = 0;
    }
  }
  return hash.update(lines).digest('hex');
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
