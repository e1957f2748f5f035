/**
 * Content-addressed objects, like git's: loose files `objects/ab/<sha1>` for single
 * uploads and large files, and packs (`packs/`, see pack-file.ts) for batches of small
 * ones. Every write goes to a temp file while being hashed and is renamed into place only
 * when the hash matches, so a reader never sees half an object or bytes under a wrong hash.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import pLimit from 'p-limit';
import { errnoError, fsError, SnapupError } from '../errors.js';
import type { HashResult } from '../hash/sha1-file.js';
import { SHA1_RE } from '../protocol/sha1.js';
import { fsyncDir, tempName } from '../util/atomic.js';
import { writeGathered } from '../util/gathered-write.js';
import { distinctBuffers } from '../util/slabs.js';
import { verifiedChunks } from '../util/verify.js';
import { runInPool } from '../util/worker-pool.js';
import type { IngestAnswer, IngestItem, IngestResult } from './ingest.js';
import { objectPathIn } from './object-path.js';
import type { PackedLocation } from './pack-file.js';
import { PackIndex } from './packs.js';
import type { ObjectRef, ReadResult, RestoreItem, RestoreResult } from './restore.js';

const execFileAsync = promisify(execFile);

/** Files up to this size are copied with one read and one write instead of a stream. */
const SMALL_OBJECT = 1 << 20;
const STREAM_CHUNK = 1 << 20;
/** Streams of this many bytes or more are hashed on a worker (see putStream). */
const VERIFY_ON_WORKER = 1 << 20;
/** Up to this many files to make durable, each is fsynced; beyond, the file system is (see flush). */
const SYNC_EACH_MAX = 1000;

export interface StoredObject {
  sha1: string;
  size: number;
}

export class ObjectStore {
  readonly dir: string;
  readonly tempDir: string;
  readonly packs: PackIndex;
  /**
   * Objects staged by this process (staging.ts): written to the temp folder, not yet moved
   * into the store, and counted as present by this process only.
   */
  private readonly staged = new Set<string>();
  private packDirReady: Promise<void> | undefined;

  /**
   * Background fdatasyncs of new objects (see writeBack). Syncs in flight together share
   * the file system's journal commits: for the 212 large files and ~20 packs of a first
   * push of `mixed`, 2 at a time left the freeze waiting 333-833 ms for the disk, 8 at a
   * time 81-171 ms (push 1.96-2.47 → 1.74-2.40 s, eight rounds each); `small` and `large`
   * unchanged. libuv runs four of them at once, the rest queue.
   */
  private readonly writeBackLimit = pLimit(8);

  /** `durable`: whether freezes flush the objects (then new ones start early, see writeBack). */
  constructor(
    storeRoot: string,
    private readonly durable = true,
  ) {
    this.dir = join(storeRoot, 'objects');
    this.tempDir = join(storeRoot, 'tmp');
    this.packs = new PackIndex(join(storeRoot, 'packs'));
  }

  /** Creates the 256 shard folders once, so writes never need a mkdir. */
  async init(): Promise<void> {
    await fsp.mkdir(this.tempDir, { recursive: true });
    await fsp.mkdir(this.packs.dir, { recursive: true });
    const shards = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
    await Promise.all(shards.map((s) => fsp.mkdir(join(this.dir, s), { recursive: true })));
  }

  /** Whether this process staged `sha1` (see `staged`). */
  isStaged(sha1: string): boolean {
    return this.staged.has(sha1);
  }

  stage(objects: Iterable<{ sha1: string }>): void {
    for (const o of objects) this.staged.add(o.sha1);
  }

  unstage(objects: Iterable<{ sha1: string }>): void {
    for (const o of objects) this.staged.delete(o.sha1);
  }

  pathOf(sha1: string): string {
    return objectPathIn(this.dir, sha1);
  }

  /** Whether the store holds `sha1`, loose or packed. */
  async has(sha1: string): Promise<boolean> {
    return (await this.missing([sha1])).size === 0;
  }

  private async hasLoose(sha1: string): Promise<boolean> {
    try {
      await fsp.access(this.pathOf(sha1));
      return true;
    } catch {
      return false;
    }
  }

  /**
   * The hashes of `sha1s` the store does not hold (each once). Only those that no pack
   * holds are looked for as loose objects, many of them by listing the shard folders they
   * fall in (one readdir per shard instead of one access per object). Built as the few
   * missing rather than the many present: a 50,000-file push asks twice (negotiation and
   * freeze), and copying the hashes into sets was a fifth of it. `sha1s` may repeat a hash
   * (a manifest's list): only what no pack holds is made distinct.
   */
  async missing(sha1s: Iterable<string>): Promise<Set<string>> {
    await this.packs.refresh();
    const notPacked = new Set<string>();
    for (const sha1 of sha1s) {
      if (!this.packs.has(sha1) && !this.staged.has(sha1)) notPacked.add(sha1);
    }
    const wanted = [...notPacked];
    const loose = new Set<string>();
    if (wanted.length < 512) {
      const limit = pLimit(32);
      await Promise.all(
        wanted.map((sha1) =>
          limit(async () => {
            if (await this.hasLoose(sha1)) loose.add(sha1);
          }),
        ),
      );
    } else {
      const byShard = new Map<string, string[]>();
      for (const sha1 of wanted) {
        const shard = sha1.slice(0, 2);
        const list = byShard.get(shard);
        if (list) list.push(sha1);
        else byShard.set(shard, [sha1]);
      }
      const limit = pLimit(8);
      await Promise.all(
        [...byShard].map(([shard, hashes]) =>
          limit(async () => {
            const names = new Set(
              await fsp.readdir(join(this.dir, shard)).catch(() => [] as string[]),
            );
            for (const h of hashes) if (names.has(h)) loose.add(h);
          }),
        ),
      );
    }
    return new Set(wanted.filter((h) => !loose.has(h)));
  }

  /**
   * Stores the bytes of a local file. `expected` (when given) must be the SHA-1 of what
   * is read, else nothing is stored and HASH_MISMATCH is thrown.
   */
  async putFile(
    source: string,
    expected?: string,
    signal?: AbortSignal,
    sizeHint?: number,
  ): Promise<StoredObject> {
    let size = sizeHint;
    if (size === undefined) {
      try {
        size = (await fsp.stat(source)).size;
      } catch (err) {
        throw fsError(err, source, 'read');
      }
    }
    if (size <= SMALL_OBJECT) {
      let bytes: Buffer;
      try {
        bytes = await fsp.readFile(source, { signal });
      } catch (err) {
        throw fsError(err, source, 'read');
      }
      // A file that grew past the small limit meanwhile is still fine here: the hash decides.
      return this.putBuffer(bytes, expected, source);
    }
    // Large files are copied on a worker: hashing 1 GB takes ~0.6 s of one core.
    const r = await runInPool<IngestResult & { side?: 'source' | 'store' }>(
      'copy',
      { objectsDir: this.dir, tempDir: this.tempDir, file: source, expected },
      signal,
    );
    if (!('error' in r)) {
      this.writeBack(this.pathOf(r.sha1));
      return r;
    }
    if (r.code === 'HASH_MISMATCH') {
      throw new SnapupError('HASH_MISMATCH', `${source}: ${r.error}`, {
        path: source,
        data: { expected, actual: r.actual },
      });
    }
    throw fsError(errnoError(r), r.side === 'source' ? source : this.dir, 'copy');
  }

  /**
   * Stores many small contents (local files or bytes), each checked against its expected
   * hash, as one pack written on the worker pool (see ingest.ts). `origin` names each in
   * errors. Per item: the stored object, or the error that stopped it.
   */
  async putFiles(
    items: readonly (IngestItem & { origin: string; handOver?: boolean | undefined })[],
    signal?: AbortSignal,
  ): Promise<(StoredObject | SnapupError)[]> {
    // Stores made before packs existed lack the folder.
    this.packDirReady ??= fsp.mkdir(this.packs.dir, { recursive: true }).then(() => {});
    await this.packDirReady;
    const { results, pack } = await runInPool<IngestAnswer>(
      'ingest',
      {
        packDir: this.packs.dir,
        tempDir: this.tempDir,
        items: items.map(({ origin: _, handOver: __, ...item }) => item),
      },
      signal,
      distinctBuffers(items.flatMap((i) => (i.handOver && i.bytes ? [i.bytes] : []))),
    );
    if (pack) {
      this.packs.add(pack.id, pack.entries);
      this.writeBack(this.packs.packPath(pack.id));
    }
    return results.map((r, i) => {
      const file = (items[i] as { origin: string }).origin;
      if (!('error' in r)) return r;
      if (r.code === 'HASH_MISMATCH') {
        return new SnapupError('HASH_MISMATCH', `${file}: ${r.error}`, {
          path: file,
          data: { expected: items[i]?.expected, actual: r.actual },
        });
      }
      const code = r.code;
      const origin = code === 'ENOSPC' || code === 'EDQUOT' ? this.dir : file;
      return fsError(errnoError(r), origin, 'copy');
    });
  }

  /**
   * Writes many small objects out as files on the worker pool (see restore.ts). Per item:
   * the bytes written, or the error (a corrupt object names its store path).
   */
  async restoreFiles(
    items: readonly RestoreItem[],
    signal?: AbortSignal,
  ): Promise<(number | SnapupError)[]> {
    const results = await this.located(items, (refs) =>
      runInPool<RestoreResult[]>('restore', { objectsDir: this.dir, items: refs }, signal),
    );
    return results.map((r, i) => {
      if (!('error' in r)) return r.size;
      const item = items[i] as RestoreItem;
      return this.readError(r, item.sha1) ?? fsError(errnoError(r), item.target, 'write');
    });
  }

  /**
   * Writes one large object out as a file on the worker pool, in chunks, verified (see
   * restore.ts). The bytes written, or the error (a corrupt object names its store path).
   */
  async restoreLarge(item: RestoreItem, signal?: AbortSignal): Promise<number> {
    const [r] = (await this.located([item], async ([ref]) => {
      const task = { objectsDir: this.dir, item: ref };
      // Packs hold only small objects; one that is packed is read whole like them.
      return ref?.packed
        ? runInPool<RestoreResult[]>('restore', { objectsDir: this.dir, items: [ref] }, signal)
        : [await runInPool<RestoreResult>('restoreLarge', task, signal)];
    })) as [RestoreResult];
    if (!('error' in r)) return r.size;
    throw this.readError(r, item.sha1) ?? fsError(errnoError(r), item.target, 'write');
  }

  /**
   * Small objects read whole on the worker pool, each checked against its hash (for the
   * server's archive answer). Fails on the first object that is missing or corrupt.
   */
  async readMany(sha1s: readonly string[], signal?: AbortSignal): Promise<Buffer[]> {
    const results = await this.located(
      sha1s.map((sha1) => ({ sha1 })),
      (refs) => runInPool<ReadResult[]>('read', { objectsDir: this.dir, refs }, signal),
    );
    return results.map((r, i) => {
      // A worker's Buffer arrives as a plain Uint8Array: view it as a Buffer again.
      if ('bytes' in r) return Buffer.from(r.bytes.buffer, r.bytes.byteOffset, r.bytes.byteLength);
      const sha1 = sha1s[i] as string;
      throw this.readError(r, sha1) ?? fsError(errnoError(r), this.pathOf(sha1), 'read');
    });
  }

  /**
   * Runs `work` on `items` with each packed object's location attached (the indexes are
   * read once per process, not per call). An object found missing is looked up once more
   * after re-reading the pack indexes: gc may have moved it to a new pack meanwhile, or
   * another process packed it.
   */
  private async located<T extends ObjectRef, R extends object>(
    items: readonly T[],
    work: (refs: T[]) => Promise<R[]>,
  ): Promise<R[]> {
    await this.packs.load();
    const results = await work(items.map((item) => this.withLocation(item)));
    const missing = results.flatMap((r, i) =>
      'code' in r && r.code === 'MISSING_OBJECT' ? [i] : [],
    );
    if (missing.length === 0) return results;
    await this.packs.refresh();
    const again = await work(missing.map((i) => this.withLocation(items[i] as T)));
    missing.forEach((i, k) => {
      results[i] = again[k] as R;
    });
    return results;
  }

  private withLocation<T extends ObjectRef>(item: T): T {
    const packed = this.packs.get(item.sha1);
    return packed ? { ...item, packed } : item;
  }

  /** The store's own error for a corrupt or missing object; undefined for other failures. */
  private readError(
    r: { code: string | undefined; actual?: string },
    sha1: string,
  ): SnapupError | undefined {
    const path = this.describe(sha1);
    if (r.code === 'CORRUPT_OBJECT') {
      return new SnapupError(
        'CORRUPT_OBJECT',
        `${path}: store object is corrupt (content hashes to ${r.actual}); remove it and push the files again`,
        { path },
      );
    }
    if (r.code === 'MISSING_OBJECT' || r.code === 'ENOENT') {
      return new SnapupError('CORRUPT_STORE', `${path}: object ${sha1} is missing from the store`, {
        path,
      });
    }
    return undefined;
  }

  /**
   * Starts writing a new object's file to disk while the push goes on: the freeze flushes
   * it anyway, and otherwise all of a push's content reaches the disk then, with the disk
   * idle before. Local first push of the mixed tree (0.85 GB, copies staged while hashing):
   * freeze 0.95-1.0 → 0.2-0.7 s, push 2.0-2.2 → 1.7-1.9 s. Errors are left to the freeze.
   */
  writeBack(file: string): void {
    if (!this.durable) return;
    void this.writeBackLimit(async () => {
      const handle = await fsp.open(file, 'r');
      try {
        await handle.datasync();
      } finally {
        await handle.close();
      }
    }).catch(() => {});
  }

  /** Where an object lives, for messages: its file, or its pack and offset. */
  describe(sha1: string): string {
    const packed = this.packs.get(sha1);
    return packed ? `${packed.file} (object ${sha1} at byte ${packed.offset})` : this.pathOf(sha1);
  }

  async putBuffer(bytes: Uint8Array, expected?: string, origin = 'upload'): Promise<StoredObject> {
    const sha1 = createHash('sha1').update(bytes).digest('hex');
    checkExpected(sha1, expected, origin);
    const temp = tempName(this.tempDir, sha1);
    try {
      await fsp.writeFile(temp, bytes, { flag: 'wx', mode: 0o444 });
      await this.publish(temp, sha1);
    } catch (err) {
      await fsp.rm(temp, { force: true }).catch(() => {});
      throw fsError(err, this.dir, 'write an object');
    }
    return { sha1, size: bytes.byteLength };
  }

  /**
   * Streams bytes into the store; never buffers them whole. A stream of `sizeHint` bytes
   * from VERIFY_ON_WORKER up is hashed on the worker pool from the written file instead of
   * on this thread as it arrives: on a server that is most of what its main thread does
   * for a large upload (SHA-1 of 670 MiB: ~0.55 s of the ~1.7 s it was busy), while the
   * re-read comes from the page cache. A smaller one is hashed here, where the round trip
   * to a worker would cost more than the hashing.
   */
  async putStream(
    chunks: AsyncIterable<Uint8Array>,
    expected?: string,
    origin = 'upload',
    sizeHint?: number,
  ): Promise<StoredObject> {
    const temp = tempName(this.tempDir, expected ?? 'stream');
    const hash =
      sizeHint !== undefined && sizeHint >= VERIFY_ON_WORKER ? undefined : createHash('sha1');
    let handle: fsp.FileHandle | undefined;
    try {
      handle = await fsp.open(temp, 'wx', 0o444);
      const size = await writeGathered(handle, chunks, hash && ((chunk) => hash.update(chunk)));
      await handle.close();
      handle = undefined;
      const sha1 = hash ? hash.digest('hex') : await this.hashWritten(temp, size);
      checkExpected(sha1, expected, origin);
      await this.publish(temp, sha1);
      this.writeBack(this.pathOf(sha1));
      return { sha1, size };
    } catch (err) {
      await handle?.close().catch(() => {});
      await fsp.rm(temp, { force: true }).catch(() => {});
      if (err instanceof SnapupError) throw err;
      const code = (err as NodeJS.ErrnoException).code;
      // Errors of the source (the file being read) name the source, others the store.
      throw fsError(err, code === 'ENOSPC' || code === 'EDQUOT' ? this.dir : origin, 'copy');
    }
  }

  /** The SHA-1 of a temp file this process just wrote (`size` bytes), taken on a worker. */
  private async hashWritten(temp: string, size: number): Promise<string> {
    const [r] = await runInPool<HashResult[]>('hash', { paths: [temp] });
    if (!r || 'error' in r) throw errnoError(r ?? { code: 'EIO', error: 'no hash result' });
    // Nothing else writes a temp file of ours; a different size means the store is damaged.
    if (r.size !== size) throw errnoError({ code: 'EIO', error: `${temp} changed while stored` });
    return r.sha1;
  }

  private async publish(temp: string, sha1: string): Promise<void> {
    const target = this.pathOf(sha1);
    try {
      await fsp.rename(temp, target);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      // A shard folder removed by hand: recreate it once.
      await fsp.mkdir(join(this.dir, sha1.slice(0, 2)), { recursive: true });
      await fsp.rename(temp, target);
    }
  }

  /** Reads an object, checking its hash as it goes (see verifiedChunks). */
  async *read(sha1: string, signal?: AbortSignal): AsyncGenerator<Buffer> {
    const corrupt = (actual: string) =>
      this.readError({ code: 'CORRUPT_OBJECT', actual }, sha1) as SnapupError;
    const opened = await this.open(sha1);
    const path = this.describe(sha1);
    try {
      const at = opened.packed;
      const chunks =
        at && at.size === 0
          ? Readable.from([])
          : opened.handle.createReadStream({
              highWaterMark: STREAM_CHUNK,
              signal,
              ...(at ? { start: at.offset, end: at.offset + at.size - 1 } : {}),
            });
      yield* verifiedChunks(chunks, sha1, corrupt);
    } catch (err) {
      throw err instanceof SnapupError ? err : fsError(err, path, 'read');
    } finally {
      await opened.handle.close().catch(() => {});
    }
  }

  /**
   * Opens an object's file (loose, or its pack). A miss re-reads the pack indexes once:
   * another process may have packed it, or gc moved it to a new pack.
   */
  private async open(
    sha1: string,
  ): Promise<{ handle: fsp.FileHandle; packed: PackedLocation | undefined }> {
    await this.packs.load();
    for (let attempt = 0; ; attempt++) {
      const packed = this.packs.get(sha1);
      try {
        return { handle: await fsp.open(packed?.file ?? this.pathOf(sha1), 'r'), packed };
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT') throw fsError(err, this.describe(sha1), 'read');
        if (attempt > 0) throw this.readError({ code }, sha1);
        await this.packs.refresh();
      }
    }
  }

  /** The loose objects (packed ones are in `packs`). */
  async *listLoose(): AsyncGenerator<string> {
    let shards: string[];
    try {
      shards = await fsp.readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw fsError(err, this.dir, 'list');
    }
    for (const shard of shards) {
      for (const name of await fsp.readdir(join(this.dir, shard)).catch(() => [] as string[])) {
        if (SHA1_RE.test(name) && name.startsWith(shard)) yield name;
      }
    }
  }

  async looseSize(sha1: string): Promise<number> {
    return (await fsp.stat(this.pathOf(sha1))).size;
  }

  async removeLoose(sha1: string): Promise<void> {
    await fsp.rm(this.pathOf(sha1), { force: true });
  }

  /**
   * Makes the objects of `sha1s` durable: each file holding one (a loose object, a pack and
   * its index) is fsynced, then their folders. For many files, syncfs(2) (coreutils
   * `sync -f`) flushes the whole file system in one call instead (~55 ms after 5,000 new
   * loose objects, against ~270 ms for one fsync each); it is not the default because it
   * also waits for everything else dirty there: a first push of 50,000 small files right
   * after `git add` of the same tree froze in 490-620 ms instead of 170 ms, where fsyncing
   * its ~100 packs took ~205 ms either way. True when the whole file system was flushed.
   */
  async flush(sha1s: Iterable<string>): Promise<boolean> {
    const dirs = new Set<string>();
    const files = new Set<string>();
    const packFiles = new Set<string>();
    for (const sha1 of sha1s) {
      const pack = this.packs.fileOf(sha1);
      if (pack) packFiles.add(pack);
      else {
        files.add(this.pathOf(sha1));
        dirs.add(join(this.dir, sha1.slice(0, 2)));
      }
    }
    // A pack's index path and folder once per pack, not once per object in it.
    for (const pack of packFiles) files.add(pack).add(pack.replace(/\.pack$/, '.idx'));
    if (packFiles.size > 0) dirs.add(this.packs.dir);
    if (files.size > SYNC_EACH_MAX && process.platform === 'linux') {
      try {
        await execFileAsync('sync', ['-f', this.dir]);
        return true;
      } catch {
        // fall through to one fsync per file
      }
    }
    const limit = pLimit(16);
    await Promise.all(
      [...files].map((file) =>
        limit(async () => {
          const handle = await fsp.open(file, 'r');
          try {
            await handle.sync();
          } finally {
            await handle.close();
          }
        }),
      ),
    );
    for (const dir of dirs) await fsyncDir(dir);
    return false;
  }
}

function checkExpected(actual: string, expected: string | undefined, origin: string): void {
  if (expected !== undefined && actual !== expected) {
    throw new SnapupError(
      'HASH_MISMATCH',
      `${origin}: content hashes to ${actual}, not the declared ${expected}`,
      { path: origin, data: { expected, actual } },
    );
  }
}
