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
import { join } from 'node:path';
import type { ScannedFile } from '../scan/walk.js';
import { writeFileAtomic } from '../util/atomic.js';

const FORMAT = 'snapup-hash-cache';
/**
 * 3: mtimes as Node's millisecond doubles and inodes as numbers (2 kept them as decimal
 * strings of ns and bigints: a BigInt and two strings per file to compare). 2: one array
 * per field instead of an object per file. Older versions are ignored.
 */
const VERSION = 3;

/**
 * The file's body: one array per field, index i describing `paths[i]`, and all sha1s as
 * one string. Columns parse about twice as fast as 50,000 small objects and allocate
 * nothing per file; a no-op push reads this and writes nothing.
 */
interface Columns {
  paths: string[];
  sizes: number[];
  /** `mtimeMs` as stat gives it: compared exactly, so it round-trips through JSON. */
  mtimes: number[];
  inos: number[];
  modes: number[];
  /** 40 hex digits per file, concatenated. */
  sha1s: string;
}

interface CacheFile extends Columns {
  format: typeof FORMAT;
  version: typeof VERSION;
  root: string;
  scanStartMs: number;
}

const HEX = /^[0-9a-f]*$/;

const EMPTY: Columns = { paths: [], sizes: [], mtimes: [], inos: [], modes: [], sha1s: '' };

/**
 * The columns when the file is a cache of ours for `rootReal`, else undefined. Field
 * values are not checked one by one: a malformed size, mtime or inode cannot equal a
 * real stat, so it is a miss; the hashes are checked in one pass.
 */
function columnsOf(parsed: unknown, rootReal: string): CacheFile | undefined {
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const c = parsed as Record<string, unknown>;
  if (c.format !== FORMAT || c.version !== VERSION || c.root !== rootReal) return undefined;
  if (typeof c.scanStartMs !== 'number' || !Number.isFinite(c.scanStartMs)) return undefined;
  const n = Array.isArray(c.paths) ? c.paths.length : -1;
  for (const key of ['paths', 'sizes', 'mtimes', 'inos', 'modes'] as const) {
    if (!Array.isArray(c[key]) || (c[key] as unknown[]).length !== n) return undefined;
  }
  if (typeof c.sha1s !== 'string' || c.sha1s.length !== 40 * n || !HEX.test(c.sha1s))
    return undefined;
  return c as unknown as CacheFile;
}

/** A file of this run: an index into the loaded columns (unchanged), or a new record. */
type Kept = number | { f: ScannedFile; sha1: string };

export class HashCache {
  private readonly fresh = new Map<string, Kept>();
  /** Whether this run recorded anything the saved file does not already say. */
  private changed = false;

  private constructor(
    readonly file: string,
    private readonly root: string,
    private readonly previous: Columns,
    private readonly index: Map<string, number>,
    private readonly previousScanStartMs: number,
    private readonly scanStartMs: number,
  ) {}

  static fileFor(cacheDir: string, rootReal: string): string {
    const key = createHash('sha1').update(rootReal).digest('hex').slice(0, 20);
    return join(cacheDir, 'hashes', `${key}.json`);
  }

  /** Loads the cache of `rootReal`; never fails (a bad cache is an empty one). */
  static async load(cacheDir: string, rootReal: string, scanStartMs: number): Promise<HashCache> {
    const file = HashCache.fileFor(cacheDir, rootReal);
    let columns = EMPTY;
    let previousStart = 0;
    try {
      const parsed = columnsOf(JSON.parse(await fsp.readFile(file, 'utf8')), rootReal);
      if (parsed) {
        columns = parsed;
        previousStart = parsed.scanStartMs;
      }
    } catch {
      // missing or unreadable: start empty
    }
    const index = new Map<string, number>();
    columns.paths.forEach((path, i) => {
      if (typeof path === 'string') index.set(path, i);
    });
    return new HashCache(file, rootReal, columns, index, previousStart, scanStartMs);
  }

  /**
   * The cached hash of `f` when its stat is unchanged and the entry is not racy. A hit is
   * kept for the next save as it is; a miss must be `set` once the file is hashed.
   */
  lookup(f: ScannedFile): string | undefined {
    const i = this.index.get(f.path);
    if (i === undefined) return undefined;
    const p = this.previous;
    if (p.sizes[i] !== f.size || p.modes[i] !== f.mode) return undefined;
    if (p.mtimes[i] !== f.mtimeMs || p.inos[i] !== f.ino) return undefined;
    if (f.mtimeMs >= this.previousScanStartMs) {
      // Re-hashed now; saving this run's later scan start lets the next run trust it.
      this.changed = true;
      return undefined;
    }
    this.fresh.set(f.path, i);
    return p.sha1s.slice(40 * i, 40 * i + 40);
  }

  /** Records the hash of a file hashed in this run; only this run's files are saved. */
  set(f: ScannedFile, sha1: string): void {
    this.changed = true;
    this.fresh.set(f.path, { f, sha1 });
  }

  /**
   * Writes the files of this run, unless they are exactly the saved ones (a no-op
   * push). Keeping the older scan start then is safe: it only makes the racy check stricter.
   */
  async save(): Promise<void> {
    if (!this.changed && this.fresh.size === this.previous.paths.length) return;
    const out: CacheFile = {
      format: FORMAT,
      version: VERSION,
      root: this.root,
      scanStartMs: this.scanStartMs,
      paths: [],
      sizes: [],
      mtimes: [],
      inos: [],
      modes: [],
      sha1s: '',
    };
    const p = this.previous;
    const sha1s: string[] = [];
    for (const [path, kept] of this.fresh) {
      out.paths.push(path);
      if (typeof kept === 'number') {
        out.sizes.push(p.sizes[kept] as number);
        out.mtimes.push(p.mtimes[kept] as number);
        out.inos.push(p.inos[kept] as number);
        out.modes.push(p.modes[kept] as number);
        sha1s.push(p.sha1s.slice(40 * kept, 40 * kept + 40));
      } else {
        out.sizes.push(kept.f.size);
        out.mtimes.push(kept.f.mtimeMs);
        out.inos.push(kept.f.ino);
        out.modes.push(kept.f.mode);
        sha1s.push(kept.sha1);
      }
    }
    out.sha1s = sha1s.join('');
    await fsp.mkdir(join(this.file, '..'), { recursive: true });
    await writeFileAtomic(this.file, JSON.stringify(out));
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
