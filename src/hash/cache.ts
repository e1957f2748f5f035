/**
 * The hash cache: what makes a second push fast. A file whose size, mtime (ns), inode
 * and mode are those recorded is not read again.
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
import { SHA1_RE } from '../protocol/types.js';
import type { ScannedFile } from '../scan/walk.js';
import { writeFileAtomic } from '../util/atomic.js';

const FORMAT = 'snapup-hash-cache';
const VERSION = 1;

/** [size, mtimeNs, ino, mode, sha1]; bigints as decimal strings. */
type Entry = [number, string, string, number, string];

const DIGITS = /^\d+$/;

/**
 * The cache file's entries when its header is ours for `rootReal`, else undefined.
 * Checked by hand: a schema library would copy the 50,000-key entry map on every push.
 */
function entriesOf(
  parsed: unknown,
  rootReal: string,
): { entries: Record<string, unknown>; scanStartNs: string } | undefined {
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const c = parsed as Record<string, unknown>;
  if (c.format !== FORMAT || c.version !== VERSION || c.root !== rootReal) return undefined;
  if (typeof c.scanStartNs !== 'string' || !DIGITS.test(c.scanStartNs)) return undefined;
  if (typeof c.entries !== 'object' || c.entries === null || Array.isArray(c.entries))
    return undefined;
  return { entries: c.entries as Record<string, unknown>, scanStartNs: c.scanStartNs };
}

/** Checked by hand: a cache holds an entry per file, and this runs on every push. */
function isEntry(e: unknown): e is Entry {
  return (
    Array.isArray(e) &&
    e.length === 5 &&
    Number.isSafeInteger(e[0]) &&
    typeof e[1] === 'string' &&
    DIGITS.test(e[1]) &&
    typeof e[2] === 'string' &&
    DIGITS.test(e[2]) &&
    Number.isSafeInteger(e[3]) &&
    typeof e[4] === 'string' &&
    SHA1_RE.test(e[4])
  );
}

export class HashCache {
  private readonly fresh = new Map<string, Entry>();
  /** Whether this run recorded anything the saved file does not already say. */
  private changed = false;

  private constructor(
    readonly file: string,
    private readonly root: string,
    private readonly previous: Map<string, Entry>,
    private readonly previousScanStartNs: bigint,
    private readonly scanStartNs: bigint,
  ) {}

  static fileFor(cacheDir: string, rootReal: string): string {
    const key = createHash('sha1').update(rootReal).digest('hex').slice(0, 20);
    return join(cacheDir, 'hashes', `${key}.json`);
  }

  /** Loads the cache of `rootReal`; never fails (a bad cache is an empty one). */
  static async load(cacheDir: string, rootReal: string, scanStartNs: bigint): Promise<HashCache> {
    const file = HashCache.fileFor(cacheDir, rootReal);
    let entries = new Map<string, Entry>();
    let previousStart = 0n;
    try {
      const parsed = entriesOf(JSON.parse(await fsp.readFile(file, 'utf8')), rootReal);
      if (parsed) {
        const all = Object.entries(parsed.entries);
        // One bad entry means the file is not ours to trust: ignore it whole.
        if (all.every(([, e]) => isEntry(e))) {
          entries = new Map(all as [string, Entry][]);
          previousStart = BigInt(parsed.scanStartNs);
        }
      }
    } catch {
      // missing or unreadable: start empty
    }
    return new HashCache(file, rootReal, entries, previousStart, scanStartNs);
  }

  /**
   * The cached hash of `f` when its stat is unchanged and the entry is not racy. A hit is
   * kept for the next save as it is (no new entry per unchanged file); a miss must be
   * `set` once the file is hashed.
   */
  lookup(f: ScannedFile): string | undefined {
    const e = this.previous.get(f.path);
    if (!e) return undefined;
    if (e[0] !== f.size || e[3] !== f.mode) return undefined;
    const mtime = BigInt(e[1]);
    if (mtime !== f.mtimeNs || e[2] !== f.ino.toString()) return undefined;
    if (mtime >= this.previousScanStartNs) {
      // Re-hashed now; saving this run's later scan start lets the next run trust it.
      this.changed = true;
      return undefined;
    }
    this.fresh.set(f.path, e);
    return e[4];
  }

  /** Records the hash of a file as scanned in this run; only these entries are saved. */
  set(f: ScannedFile, sha1: string): void {
    const entry: Entry = [f.size, f.mtimeNs.toString(), f.ino.toString(), f.mode, sha1];
    const old = this.previous.get(f.path);
    if (!old || old.some((v, i) => v !== entry[i])) this.changed = true;
    this.fresh.set(f.path, entry);
  }

  /**
   * Writes the entries of this run, unless they are exactly the saved ones (a no-op
   * push). Keeping the older scan start then is safe: it only makes the racy check stricter.
   */
  async save(): Promise<void> {
    if (!this.changed && this.fresh.size === this.previous.size) return;
    const body = {
      format: FORMAT,
      version: VERSION,
      root: this.root,
      scanStartNs: this.scanStartNs.toString(),
      entries: Object.fromEntries(this.fresh),
    };
    await fsp.mkdir(join(this.file, '..'), { recursive: true });
    await writeFileAtomic(this.file, JSON.stringify(body));
  }
}

/**
 * The racy threshold for a scan starting now, in ns like file mtimes. File systems stamp
 * mtimes from a coarse clock that can lag the wall clock by a scheduler tick (up to
 * 10 ms), so the threshold is moved back by twice that to stay on the safe side.
 */
export function scanStartNs(): bigint {
  return BigInt(Date.now() - 20) * 1_000_000n;
}
