/**
 * Snapshot records and manifests on disk.
 *
 *   snapshots/<owner>/<name>/<tag>.json   small metadata record, rewritten atomically
 *   manifests/<sha256>.json               the file list, content-addressed, written once
 *
 * Keeping manifests apart keeps listings cheap (no 200,000-entry manifest is read to list
 * snapshots) and lets identical manifests under several tags share one file.
 */
import { promises as fsp } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { z } from 'zod/v3';
import { fsError, SnapupError } from '../errors.js';
import {
  fileHashesOf,
  manifestDigest,
  manifestJson,
  type PathEntry,
} from '../protocol/manifest.js';
import {
  ACCESS_LEVELS,
  type FileHashes,
  fileHashesSchema,
  NAME_RE,
  type SnapshotMeta,
} from '../protocol/types.js';
import { fsyncDir, writeFileAtomic } from '../util/atomic.js';
import { parseJsonOrUndefined } from '../util/json.js';

const recordSchema = z.object({
  version: z.literal(1),
  owner: z.string(),
  name: z.string(),
  tag: z.string(),
  frozen: z.boolean(),
  createdAt: z.string(),
  updatedAt: z.string(),
  expiresAt: z.string().nullable(),
  removeAfterExecute: z.boolean(),
  accessLevel: z.enum(ACCESS_LEVELS),
  accessPerUser: z.record(z.string(), z.enum(ACCESS_LEVELS)),
  digest: z.string().regex(/^[0-9a-f]{64}$/),
  fileCount: z.number().int().nonnegative(),
  size: z.number().nonnegative(),
  executions: z.number().int().nonnegative(),
  /** Set when the snapshot was removed after its execution: it answers 410 until gc. */
  goneReason: z.enum(['executed']).nullable(),
});
export type SnapshotRecord = z.infer<typeof recordSchema>;

export function recordToMeta(r: SnapshotRecord): SnapshotMeta {
  return {
    name: r.name,
    tag: r.tag,
    owner: r.owner,
    frozen: r.frozen,
    createdAt: r.createdAt,
    expiresAt: r.expiresAt,
    removeAfterExecute: r.removeAfterExecute,
    accessLevel: r.accessLevel,
    accessPerUser: r.accessPerUser,
    fileCount: r.fileCount,
    size: r.size,
    manifestDigest: r.digest,
  };
}

export function isExpired(r: SnapshotRecord, now: number): boolean {
  return r.expiresAt !== null && Date.parse(r.expiresAt) <= now;
}

/** Parsed manifests kept in memory: they are immutable, and uploads look one up per file. */
const MANIFEST_CACHE_SIZE = 4;

export class RecordStore {
  readonly snapshotsDir: string;
  readonly manifestsDir: string;
  /**
   * Parsed manifests, or the entries to make one from when first asked (a push whose
   * content was staged while hashing never asks for its manifest as a map).
   */
  private readonly manifestCache = new Map<string, Readonly<FileHashes> | readonly PathEntry[]>();

  constructor(storeRoot: string) {
    this.snapshotsDir = join(storeRoot, 'snapshots');
    this.manifestsDir = join(storeRoot, 'manifests');
  }

  async init(): Promise<void> {
    await fsp.mkdir(this.snapshotsDir, { recursive: true });
    await fsp.mkdir(this.manifestsDir, { recursive: true });
  }

  recordPath(owner: string, name: string, tag: string): string {
    return join(this.snapshotsDir, owner, name, `${tag}.json`);
  }

  async read(owner: string, name: string, tag: string): Promise<SnapshotRecord | null> {
    const path = this.recordPath(owner, name, tag);
    let text: string;
    try {
      text = await fsp.readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw fsError(err, path, 'read');
    }
    return parseRecord(text, path);
  }

  async write(record: SnapshotRecord, durable: boolean): Promise<void> {
    const path = this.recordPath(record.owner, record.name, record.tag);
    await fsp.mkdir(join(this.snapshotsDir, record.owner, record.name), { recursive: true });
    await writeFileAtomic(path, JSON.stringify(record), { fsync: durable });
  }

  async remove(owner: string, name: string, tag: string): Promise<void> {
    await fsp.rm(this.recordPath(owner, name, tag), { force: true });
    // Leave no empty folders behind; a folder still in use refuses rmdir, which is fine.
    await fsp.rmdir(join(this.snapshotsDir, owner, name)).catch(() => {});
    await fsp.rmdir(join(this.snapshotsDir, owner)).catch(() => {});
  }

  /**
   * Every record in the store, owners and names in sorted order. One that cannot be parsed
   * goes to `onCorrupt`, and the others still come (a listing must not fail for everyone
   * because of one damaged file; gc's throws, since it must know every reference); without
   * `onCorrupt` it throws.
   */
  async *all(onCorrupt?: (err: SnapupError) => void): AsyncGenerator<SnapshotRecord> {
    for (const owner of await listNames(this.snapshotsDir)) {
      for (const name of await listNames(join(this.snapshotsDir, owner))) {
        const dir = join(this.snapshotsDir, owner, name);
        for (const file of await listNames(dir)) {
          if (!file.endsWith('.json') || file.startsWith('.')) continue;
          const path = join(dir, file);
          const text = await fsp.readFile(path, 'utf8').catch(() => null);
          if (text === null) continue;
          let record: SnapshotRecord;
          try {
            record = parseRecord(text, path);
          } catch (err) {
            if (!onCorrupt || !(err instanceof SnapupError)) throw err;
            onCorrupt(err);
            continue;
          }
          yield record;
        }
      }
    }
  }

  /** The address a record file stands for, by where it lies: snapshots/OWNER/NAME/TAG.json. */
  addressOfPath(path: string): { owner: string; name: string; tag: string } | undefined {
    const parts = relative(this.snapshotsDir, path).split(sep);
    if (parts.length !== 3 || !parts[2]?.endsWith('.json')) return undefined;
    return { owner: parts[0] as string, name: parts[1] as string, tag: parts[2].slice(0, -5) };
  }

  manifestPath(digest: string): string {
    return join(this.manifestsDir, `${digest}.json`);
  }

  /** Makes a stored manifest durable (it was written whole, atomically, before). */
  async syncManifest(digest: string): Promise<void> {
    const path = this.manifestPath(digest);
    try {
      const handle = await fsp.open(path, 'r');
      await handle.sync().finally(() => handle.close());
      await fsyncDir(this.manifestsDir);
    } catch (err) {
      throw fsError(err, path, 'flush');
    }
  }

  /**
   * Stores a manifest under its digest, once: a map (parsed from a request, handed over)
   * or the engine's sorted entries (their digest computed by it), written from them. The
   * manifest stays remembered; a map is made from entries only if asked for.
   */
  async writeManifest(
    manifest: { map: FileHashes } | { entries: readonly PathEntry[]; digest: string },
  ): Promise<string> {
    const digest = 'map' in manifest ? manifestDigest(manifest.map) : manifest.digest;
    const path = this.manifestPath(digest);
    try {
      await fsp.access(path);
    } catch {
      const text =
        'map' in manifest ? JSON.stringify(manifest.map) : manifestJson(manifest.entries);
      await writeFileAtomic(path, text, { fsync: false });
    }
    this.remember(digest, 'map' in manifest ? Object.freeze(manifest.map) : manifest.entries);
    return digest;
  }

  private remember<T extends Readonly<FileHashes> | readonly PathEntry[]>(
    digest: string,
    manifest: T,
  ): T {
    this.manifestCache.delete(digest);
    this.manifestCache.set(digest, manifest);
    if (this.manifestCache.size > MANIFEST_CACHE_SIZE) {
      this.manifestCache.delete(this.manifestCache.keys().next().value as string);
    }
    return manifest;
  }

  /** The manifest with `digest`, verified against it; read-only (copy before changing). */
  async readManifest(digest: string): Promise<Readonly<FileHashes>> {
    const cached = this.manifestCache.get(digest);
    if (Array.isArray(cached)) return this.remember(digest, Object.freeze(fileHashesOf(cached)));
    if (cached) return cached as Readonly<FileHashes>;
    const path = this.manifestPath(digest);
    let text: string;
    try {
      text = await fsp.readFile(path, 'utf8');
    } catch (err) {
      throw new SnapupError('CORRUPT_STORE', `${path}: manifest is missing from the store`, {
        path,
        cause: err,
      });
    }
    const parsed = parseJsonOrUndefined(text);
    const result = fileHashesSchema.safeParse(parsed);
    if (!result.success || manifestDigest(result.data) !== digest) {
      throw new SnapupError('CORRUPT_STORE', `${path}: manifest is corrupt`, { path });
    }
    return this.remember(digest, Object.freeze(result.data));
  }

  async listManifests(): Promise<string[]> {
    return (await listNames(this.manifestsDir))
      .filter((f) => /^[0-9a-f]{64}\.json$/.test(f))
      .map((f) => f.slice(0, 64));
  }

  async removeManifest(digest: string): Promise<void> {
    this.manifestCache.delete(digest);
    await fsp.rm(this.manifestPath(digest), { force: true });
  }
}

function parseRecord(text: string, path: string): SnapshotRecord {
  const result = recordSchema.safeParse(parseJsonOrUndefined(text));
  if (!result.success) {
    throw new SnapupError('CORRUPT_STORE', `${path}: snapshot record is corrupt`, { path });
  }
  return result.data;
}

async function listNames(dir: string): Promise<string[]> {
  try {
    return (await fsp.readdir(dir)).filter((n) => NAME_RE.test(n) || n.endsWith('.json')).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw fsError(err, dir, 'list');
  }
}
