/**
 * Walks a directory tree into a list of regular files with the stat fields the hash
 * cache keys on. Folders excluded by ignore rules are never entered (git prunes the
 * same way), which is why this is a small walker of our own rather than fast-glob:
 * fast-glob cannot prune by rules discovered during the walk, and gives no
 * nanosecond mtimes. Synchronous fs calls are used per folder because on a warm cache
 * they cost a few microseconds where the promise round trip costs more; the walk
 * yields to the event loop between folders.
 */
import { type Dirent, lstatSync, readdirSync, realpathSync, type Stats, statSync } from 'node:fs';
import { relative, sep } from 'node:path';
import { fsError, SnapupError, throwIfAborted } from '../errors.js';
import { checkSnapshotPath } from '../protocol/paths.js';
import type { Permissions } from '../protocol/types.js';
import { isWithin } from '../util/folders.js';
import { IgnoreChain } from './ignore-rules.js';

export interface ScannedFile {
  /** Snapshot path: relative, '/'-separated, NFC. */
  path: string;
  /** Where to read it. */
  abs: string;
  size: number;
  /**
   * As Node gives it without bigint stats (sec·1e3 + nsec/1e6, a double): distinct for
   * writes more than a fraction of a microsecond apart, and no BigInt per file to allocate.
   */
  mtimeMs: number;
  /** Exact below 2^53, far beyond the inode numbers file systems hand out. */
  ino: number;
  mode: number;
  /**
   * Filled in by the manifest builder. Present from the start so that every entry keeps
   * one shape: V8 gave each of 50,000 entries that gained these later a hidden class of
   * its own (15 MB of a 52 MB heap).
   */
  sha1: string;
  permissions: Permissions | undefined;
}

export interface WalkOptions {
  /** Extra gitignore-style patterns, relative to the root. */
  excludes?: readonly string[];
  /** Follow symlinks that point to files inside the root (others are still skipped). */
  followSymlinks?: boolean;
  signal?: AbortSignal;
  onWarning?: (message: string, path: string) => void;
  /** Called every few hundred files with running totals. */
  onProgress?: (files: number, bytes: number) => void;
  /** Called with each folder's files as soon as they are listed (to start hashing them). */
  onFiles?: (files: readonly ScannedFile[]) => void;
  /**
   * Folders never entered, with why (the store a push writes to, the hash cache): inside
   * the tree they would be pushed into themselves, growing with every push.
   */
  skipFolders?: readonly { abs: string; why: string }[];
}

/** Checks that `root` is a directory we can walk, with an error naming it otherwise. */
export function checkRoot(root: string): string {
  // '' would be the working folder to Node: say so rather than walk it.
  if (root === '')
    throw new SnapupError('BAD_INPUT', 'the directory is an empty path; give a folder', {
      field: 'dir',
    });
  let stat: import('node:fs').Stats;
  try {
    stat = statSync(root);
  } catch (err) {
    throw fsError(err, root, 'open');
  }
  if (!stat.isDirectory()) {
    throw new SnapupError('NOT_A_DIRECTORY', `${root}: not a directory (give a folder to push)`, {
      path: root,
    });
  }
  return realpathSync(root);
}

export async function walk(root: string, options: WalkOptions = {}): Promise<ScannedFile[]> {
  const rootReal = checkRoot(root);
  const warn = options.onWarning ?? (() => {});
  const skipHere = foldersInside(rootReal, options.skipFolders ?? []);
  const files: ScannedFile[] = [];
  // Names changed by NFC normalisation, to check for clashes once at the end.
  const renamed: { path: string; abs: string }[] = [];
  let bytes = 0;
  let reported = 0;

  // Each folder carries its parent's rules; its own are added once it is listed.
  const stack: { abs: string; rel: string; parent: IgnoreChain }[] = [
    { abs: root, rel: '', parent: IgnoreChain.base(options.excludes ?? []) },
  ];
  while (stack.length > 0) {
    throwIfAborted(options.signal);
    const dir = stack.pop() as (typeof stack)[number];
    let entries: Dirent[];
    try {
      entries = readdirSync(dir.abs, { withFileTypes: true });
    } catch (err) {
      throw fsError(err, dir.abs, 'list the folder');
    }
    const chain = dir.parent.enter(dir.abs, dir.rel, (name) =>
      entries.some((e) => e.name === name),
    );
    const subdirs: typeof stack = [];
    const firstOfFolder = files.length;
    for (const entry of entries) {
      const name = entry.name;
      const rel = dir.rel === '' ? name : `${dir.rel}/${name}`;
      const abs = dir.abs.endsWith(sep) ? dir.abs + name : `${dir.abs}${sep}${name}`;
      const isDir = entry.isDirectory();
      if (chain.ignores(rel, isDir)) continue;
      if (isDir) {
        const why = skipHere.size > 0 ? skipHere.get(rel) : undefined;
        if (why !== undefined) warn(`skipping ${rel}: ${why}`, abs);
        else subdirs.push({ abs, rel, parent: chain });
        continue;
      }
      let stat: Stats;
      try {
        stat = lstatSync(abs);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // vanished meanwhile
        throw fsError(err, abs, 'stat');
      }
      if (stat.isSymbolicLink()) {
        const target = options.followSymlinks ? followableTarget(abs, rootReal, warn) : undefined;
        if (!target) {
          if (!options.followSymlinks) warn(`skipping symlink ${rel}`, abs);
          continue;
        }
        stat = target;
      } else if (!stat.isFile()) {
        warn(`skipping special file ${rel}`, abs);
        continue;
      }
      const path = rel.normalize('NFC');
      const problem = name.includes('\uFFFD') ? 'name is not valid UTF-8' : checkSnapshotPath(path);
      if (problem) {
        warn(`skipping ${rel}: ${problem}`, abs);
        continue;
      }
      if (path !== rel) renamed.push({ path, abs });
      const size = stat.size;
      files.push({
        path,
        abs,
        size,
        mtimeMs: stat.mtimeMs,
        ino: stat.ino,
        mode: stat.mode,
        sha1: '',
        permissions: undefined,
      });
      bytes += size;
    }
    if (options.onFiles && files.length > firstOfFolder)
      options.onFiles(files.slice(firstOfFolder));
    // Depth-first in name order keeps the walk's memory to one folder's entries per level.
    subdirs.sort((a, b) => (a.rel < b.rel ? 1 : -1));
    stack.push(...subdirs);
    if (files.length - reported >= 500) {
      reported = files.length;
      options.onProgress?.(files.length, bytes);
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }
  options.onProgress?.(files.length, bytes);
  checkNormalisationClashes(files, renamed);
  return files;
}

/**
 * The folders of `skip` inside the tree, by their path in it. The tree itself being one of
 * them is refused: everything in it would be skipped.
 */
function foldersInside(
  rootReal: string,
  skip: readonly { abs: string; why: string }[],
): Map<string, string> {
  const inside = new Map<string, string>();
  for (const { abs, why } of skip) {
    let real: string;
    try {
      real = realpathSync(abs);
    } catch {
      continue; // not made yet: nothing of it to skip
    }
    if (real === rootReal)
      throw new SnapupError('BAD_INPUT', `${rootReal}: this folder is ${why}; push another`, {
        path: rootReal,
      });
    if (isWithin(real, rootReal)) inside.set(relative(rootReal, real).split(sep).join('/'), why);
  }
  return inside;
}

/**
 * Two names that differ only in Unicode normalisation (NFD `é` and NFC `é`) would be one
 * snapshot path. A clash needs at least one renamed name, so only those are looked up.
 */
function checkNormalisationClashes(
  files: readonly ScannedFile[],
  renamed: readonly { path: string; abs: string }[],
): void {
  if (renamed.length === 0) return;
  const wanted = new Set(renamed.map((r) => r.path));
  const holders = new Map<string, string>();
  for (const f of files) {
    if (!wanted.has(f.path)) continue;
    const clash = holders.get(f.path);
    if (clash !== undefined) {
      throw new SnapupError(
        'BAD_INPUT',
        `${f.abs}: has the same Unicode-normalised name as ${clash}; rename one of them`,
        { path: f.abs },
      );
    }
    holders.set(f.path, f.abs);
  }
}

/** The stat of a symlink's target when it is a regular file inside the root, else undefined. */
function followableTarget(
  abs: string,
  rootReal: string,
  warn: (message: string, path: string) => void,
): Stats | undefined {
  let real: string;
  try {
    real = realpathSync(abs);
  } catch {
    warn(`skipping symlink ${abs}: its target does not exist or loops`, abs);
    return undefined;
  }
  if (!isWithin(real, rootReal)) {
    warn(`skipping symlink ${abs}: it points outside the pushed folder (${real})`, abs);
    return undefined;
  }
  const stat = statSync(real);
  if (!stat.isFile()) {
    warn(`skipping symlink ${abs}: it points to a folder or special file`, abs);
    return undefined;
  }
  return stat;
}
