/**
 * The hash cache: what makes a second push fast. A file whose size, mtime, inode and
 * mode are those recorded is not read again.
 *
 * Racy entries (git's "racy clean" problem): a file written in the same timestamp tick
 * as it was hashed can change again without its mtime moving. Each cache records when
 * the scan that wrote it started; an entry whose mtime is not older than that is
 * trusted by no later run and re-hashed, exactly as git re-checks index entries not older
 * than the index itself. Using the scan's start (not the file's write) also covers files
 * edited while the push was running.
 *
 * The cache lives outside the tree, one file per root (keyed by its real path). A file
 * that fails to parse, or belongs to another root or format, is ignored and rebuilt.
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ScannedFile } from '../scan/walk.js';
import { writeFileAtomic } from '../util/atomic.js';
import { makeDir } from '../util/make-dir.js';
import { type CacheColumns, decodeCache, encodeCache } from './cache-file.js';

const EMPTY: CacheColumns = {
  root: '',
  scanStartMs: 0,
  paths: [],
  sizes: [],
  mtimes: [],
  inos: [],
  modes: [],
  sha1s: '',
};

export class HashCache {
  /**
   * This run's files in the order the walk met them (the order they are saved in, so the
   * next walk of the same tree meets them in file order): an index into the loaded
   * columns for a hit, else -1 - k for the run's k-th miss, whose file and hash are
   * `freshFiles[k]` and `freshSha1s[k]` once hashed. Arrays by miss number rather than
   * maps by path: a first push of 50,000 files misses every one.
   */
  private readonly runPaths: string[] = [];
  private readonly runFrom: number[] = [];
  private readonly freshFiles: (ScannedFile | undefined)[] = [];
  private readonly freshSha1s: (string | undefined)[] = [];
  private hits = 0;
  /** The next loaded entry, where the walk usually is: most lookups need no hashing. */
  private cursor = 0;
  /** Loaded paths to their index, built on the first lookup the cursor does not answer. */
  private index: Map<string, number> | undefined;
  /** Whether this run recorded anything the saved file does not already say. */
  private changed = false;

  private constructor(
    readonly file: string,
    private readonly root: string,
    private readonly previous: CacheColumns,
    private readonly scanStartMs: number,
  ) {}

  static fileFor(cacheDir: string, rootReal: string): string {
    const key = createHash('sha1').update(rootReal).digest('hex').slice(0, 20);
    return join(cacheDir, 'hashes', `${key}.bin`);
  }

  /** Loads the cache of `rootReal`; never fails (a bad or foreign cache is an empty one). */
  static async load(cacheDir: string, rootReal: string, scanStartMs: number): Promise<HashCache> {
    const file = HashCache.fileFor(cacheDir, rootReal);
    let columns = EMPTY;
    try {
      const decoded = decodeCache(await fsp.readFile(file));
      if (decoded && decoded.root === rootReal && Number.isFinite(decoded.scanStartMs))
        columns = decoded;
    } catch {
      // missing or unreadable: start empty
    }
    return new HashCache(file, rootReal, columns, scanStartMs);
  }

  /**
   * The cached hash of `f` when its stat is unchanged and the entry is not racy. Every
   * file of the run is looked up once, in walk order; a miss is given its hash by `setMiss` once hashed.
   */
  lookup(f: ScannedFile): string | undefined {
    const i = this.indexOf(f.path);
    const p = this.previous;
    if (
      i < 0 ||
      p.sizes[i] !== f.size ||
      p.modes[i] !== f.mode ||
      p.mtimes[i] !== f.mtimeMs ||
      p.inos[i] !== f.ino
    ) {
      return this.miss(f.path);
    }
    if (f.mtimeMs >= p.scanStartMs) {
      // Re-hashed now; saving this run's later scan start lets the next run trust it.
      this.changed = true;
      return this.miss(f.path);
    }
    this.runPaths.push(f.path);
    this.runFrom.push(i);
    this.hits++;
    return p.sha1s.slice(40 * i, 40 * i + 40);
  }

  /** Takes the run's next place for a file to hash (its miss number k), for `setMiss`. */
  private miss(path: string): undefined {
    const k = this.freshFiles.push(undefined) - 1;
    this.freshSha1s.push(undefined);
    this.runPaths.push(path);
    this.runFrom.push(-1 - k);
    return undefined;
  }

  /**
   * Records the hash of the run's `k`-th miss (the k-th lookup that returned undefined),
   * hashed now as `f`; only this run's files are saved.
   */
  setMiss(k: number, f: ScannedFile, sha1: string): void {
    this.changed = true;
    this.freshFiles[k] = f;
    this.freshSha1s[k] = sha1;
  }

  /**
   * Writes the files of this run, unless they are exactly the saved ones (a no-op
   * push). Keeping the older scan start then is safe: it only makes the racy check stricter.
   */
  async save(): Promise<void> {
    if (!this.changed && this.hits === this.previous.paths.length) return;
    const p = this.previous;
    const out = {
      root: this.root,
      scanStartMs: this.scanStartMs,
      paths: [] as string[],
      sizes: [] as number[],
      mtimes: [] as number[],
      inos: [] as number[],
      modes: [] as number[],
      sha1s: '',
    };
    const sha1s: string[] = [];
    this.runPaths.forEach((path, at) => {
      const from = this.runFrom[at] as number;
      if (from >= 0) {
        out.sizes.push(p.sizes[from] as number);
        out.mtimes.push(p.mtimes[from] as number);
        out.inos.push(p.inos[from] as number);
        out.modes.push(p.modes[from] as number);
        sha1s.push(p.sha1s.slice(40 * from, 40 * from + 40));
      } else {
        const f = this.freshFiles[-1 - from];
        const sha1 = this.freshSha1s[-1 - from];
        if (!f || sha1 === undefined) return; // not hashed after all (it vanished, or the run failed)
        out.sizes.push(f.size);
        out.mtimes.push(f.mtimeMs);
        out.inos.push(f.ino);
        out.modes.push(f.mode);
        sha1s.push(sha1);
      }
      out.paths.push(path);
    });
    out.sha1s = sha1s.join('');
    await makeDir(dirname(this.file));
    await writeFileAtomic(this.file, encodeCache(out));
    // Format 3 (JSON) lived beside it under another name: it would never be read again.
    await fsp.rm(this.file.replace(/\.bin$/, '.json'), { force: true }).catch(() => {});
  }

  private indexOf(path: string): number {
    const paths = this.previous.paths;
    const at = this.cursor;
    if (at < paths.length && paths[at] === path) {
      this.cursor = at + 1;
      return at;
    }
    if (!this.index) {
      const index = new Map<string, number>();
      for (let k = 0; k < paths.length; k++) index.set(paths[k] as string, k);
      this.index = index;
    }
    const i = this.index.get(path);
    if (i === undefined) return -1;
    this.cursor = i + 1;
    return i;
  }
}

/**
 * The racy threshold for a scan starting now, in ms like `mtimeMs`. File systems stamp
 * mtimes from a coarse clock that can lag the wall clock by a scheduler tick (up to
 * 10 ms), so the threshold is moved back by twice that to stay on the safe side.
 */
export function scanStartMs(): number {
  return Date.now() - 20;
}
