/**
 * The content-addressed store with the semantics of a CB server (spec Parts A and B),
 * used in-process by the local backend and, over HTTP, by `snapup serve`. Every call
 * takes the calling user so that owners and access levels (spec B.8) work the same way
 * in both places.
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { fsError, isSnapupError, SnapupError } from '../errors.js';
import { type BuiltManifest, pathMap, setEntry, uniqueHashes } from '../protocol/manifest.js';
import { checkSnapshotPath, folderFileClash } from '../protocol/paths.js';
import type {
  AccessLevel,
  FileHashes,
  NewSnapshotParams,
  NewSnapshotRequest,
  NewSnapshotResponse,
  Permissions,
  SnapshotAddress,
  SnapshotMeta,
  UploadResponse,
} from '../protocol/types.js';
import { formatAddress, newSnapshotRequestSchema, parseOrThrow } from '../protocol/types.js';
import { isTempOfThisProcess, writeFileAtomic } from '../util/atomic.js';
import { makeDir } from '../util/make-dir.js';
import { collectObjects } from './collect.js';
import { withLock } from './lock.js';
import { ObjectStore, type StoredObject } from './objects.js';
import { isExpired, RecordStore, recordToMeta, type SnapshotRecord } from './records.js';

const STORE_MARKER = 'snapup-store.json';
const STORE_LAYOUT = new Set([
  'objects',
  'packs',
  'tmp',
  'snapshots',
  'manifests',
  'lock',
  'lock.lock',
]);
/** Content an unfrozen snapshot declared within this window is never collected (B.11). */
export const GC_GRACE_MS = 60 * 60 * 1000;
/**
 * How stale an unfrozen snapshot's updatedAt may be when it receives an upload before it
 * is moved on: a push that uploads for longer than GC_GRACE_MS kept what it declared only
 * for the first hour (the server's sweeper then removed what had arrived, every minute,
 * and the freeze failed). A record write every ten minutes of uploading.
 */
const TOUCH_MS = 10 * 60 * 1000;
const RECORD_MEMORY_MS = 1000;

/** Where an upload's bytes come from: a local file, bytes in memory, or a stream. */
export type ContentSource =
  | { file: string; size?: number }
  | { bytes: Uint8Array }
  /** `size`: what the sender declared (a hint: the bytes that arrive are what count). */
  | { stream: AsyncIterable<Uint8Array>; size?: number };

/** A file of a batch upload: its snapshot path and a local file or the bytes. */
export interface BatchFile {
  path: string;
  file?: string;
  bytes?: Uint8Array;
  /**
   * `bytes.buffer` may be handed to a worker (and so detached) with the batch: it holds
   * nothing but contents of this batch.
   */
  handOver?: boolean;
}

export interface SingleFile {
  content: ContentSource;
  permissions: Permissions;
}

export interface StoreOptions {
  /** Flush objects and records to disk before a freeze is recorded (default true). */
  durable?: boolean;
  /** Clock, for tests of expiry. */
  now?: () => number;
  /** Told of what a user should see: a snapshot record that cannot be read, skipped in a listing. */
  onWarning?: (message: string) => void;
}

export interface GcReport {
  removedSnapshots: number;
  removedManifests: number;
  removedObjects: number;
  removedBytes: number;
  removedTempFiles: number;
  keptObjects: number;
  /** Packs rewritten: without their dead objects, or merged when small. */
  repackedPacks: number;
}

type Action = 'read' | 'write';

export class Store {
  readonly root: string;
  readonly objects: ObjectStore;
  private lastHashes: { digest: string; hashes: Iterable<string> } | undefined;
  readonly records: RecordStore;
  private readonly durable: boolean;
  private readonly now: () => number;
  private readonly lockPath: string;
  private readonly recentRecords = new Map<string, { record: SnapshotRecord; at: number }>();
  /**
   * Uploads in flight in this process, per snapshot: gc keeps what such a snapshot
   * declared however old its record (one upload can outlast the grace period).
   */
  private readonly receiving = new Map<string, number>();
  private readonly warn: (message: string) => void;

  private constructor(root: string, options: StoreOptions) {
    this.root = root;
    this.durable = options.durable ?? true;
    this.objects = new ObjectStore(root, this.durable);
    this.records = new RecordStore(root);
    this.now = options.now ?? Date.now;
    this.lockPath = join(root, 'lock');
    this.warn = options.onWarning ?? (() => {});
  }

  /** A damaged record skipped by a listing or a match: named, with how to get rid of it. */
  private readonly skipCorrupt = (err: SnapupError) => {
    const rm = this.removalCommand(err.path);
    this.warn(`skipping ${err.message}${rm ? ` (${rm} removes it)` : ''}`);
  };

  /** The command that removes the record at `path`. */
  private removalCommand(path: string | undefined): string | undefined {
    const a = path === undefined ? undefined : this.records.addressOfPath(path);
    return a && `snapup rm ${a.owner}:${a.name}/${a.tag}`;
  }

  /**
   * Opens the store in `root`, creating it when the folder is missing or empty. A
   * non-empty folder that is not a store is refused rather than written into.
   */
  static async open(root: string, options: StoreOptions = {}): Promise<Store> {
    const store = new Store(root, options);
    const marker = join(root, STORE_MARKER);
    let entries: string[] = [];
    try {
      const stat = await fsp.stat(root);
      if (!stat.isDirectory()) {
        throw new SnapupError('NOT_A_DIRECTORY', `${root}: the store path is not a directory`, {
          path: root,
        });
      }
      entries = await fsp.readdir(root);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw fsError(err, root, 'open');
    }
    if (!entries.includes(STORE_MARKER)) {
      // Entries of our own layout only: another process is creating the store right now.
      if (entries.some((e) => !STORE_LAYOUT.has(e) && !e.startsWith('.write.'))) {
        throw new SnapupError(
          'BAD_INPUT',
          `${root}: folder is not empty and is not a snapup store; choose another --store`,
          { path: root, field: 'store' },
        );
      }
      try {
        await makeDir(root);
        await store.objects.init();
        await store.records.init();
        await writeFileAtomic(marker, JSON.stringify({ format: 'snapup-store', version: 1 }));
      } catch (err) {
        throw fsError(err, root, 'create the store');
      }
    }
    return store;
  }

  /** Every record change goes through the lock, so this is where remembered records are dropped. */
  private lock<T>(fn: () => Promise<T>): Promise<T> {
    this.recentRecords.clear();
    return withLock(this.lockPath, async () => {
      try {
        return await fn();
      } finally {
        this.recentRecords.clear();
      }
    });
  }

  // ---------------------------------------------------------------- A1 newSnapshot

  /**
   * A1. A request from over the wire is validated here; `built` (the in-process engine's
   * own manifest: entries sorted by path and checked by its walk, and their digest)
   * takes the place of `fileHashes`, which is then neither built, checked nor digested
   * again.
   */
  async newSnapshot(
    caller: string,
    request: NewSnapshotRequest,
    built?: BuiltManifest,
  ): Promise<NewSnapshotResponse> {
    if (built) {
      if (request.fileHashes)
        throw new Error('newSnapshot: give the manifest as built entries or as fileHashes');
      // Only the names are checked: they are small, and they become folder names.
      const params = parseOrThrow(newSnapshotRequestSchema, request, 'newSnapshot');
      return this.lock(() => this.newSnapshotLocked(caller, params, built));
    }
    const params = parseOrThrow(newSnapshotRequestSchema, request, 'newSnapshot');
    return this.lock(() => this.newSnapshotLocked(caller, params));
  }

  private async newSnapshotLocked(
    caller: string,
    params: NewSnapshotParams,
    built?: BuiltManifest,
  ): Promise<NewSnapshotResponse> {
    const fileHashes: FileHashes = params.fileHashes ?? {};
    const declared = params.fileHashes !== undefined || built !== undefined;
    const digest = await this.records.writeManifest(built ?? { map: fileHashes });
    const now = this.now();

    // B.1: a request naming nothing may be answered with an identical frozen snapshot.
    if (declared && params.name === undefined && params.tag === undefined) {
      const match = await this.findFrozen(caller, digest, now);
      if (match) return { snapshot: recordToMeta(match), notFound: [] };
    }
    const name = params.name ?? `snapshot-${randomBytes(4).toString('hex')}`;
    let tag = params.tag;
    if (tag === undefined) {
      // B.9: `default` unless that address is taken by a frozen snapshot.
      const current = this.live(await this.records.read(caller, name, 'default'), now);
      if (!current?.frozen) tag = 'default';
      else if (declared && current.digest === digest) {
        return { snapshot: recordToMeta(current), notFound: [] };
      } else tag = generatedTag(new Date(now));
    }

    const existing = this.live(await this.records.read(caller, name, tag), now);
    if (existing?.frozen) {
      if (declared && existing.digest === digest) {
        return { snapshot: recordToMeta(existing), notFound: [] };
      }
      throw new SnapupError(
        'FROZEN',
        `${formatAddress({ name, tag })} is frozen with different content; push under another tag`,
        { field: 'tag' },
      );
    }
    const totals = built ? totalsOf(built.entries) : totalsOf(Object.values(fileHashes));
    const record = this.buildRecord(caller, name, tag, params, totals, digest, existing, now);
    await this.records.write(record, false);
    const declaredHashes = await this.hashesOf(digest, () =>
      (built ? built.entries : Object.values(fileHashes)).map((e) => e.sha1),
    );
    const notFound = [...(await this.objects.missing(declaredHashes))];
    return { snapshot: recordToMeta(record), notFound };
  }

  /**
   * The hashes of the manifest with `digest` (`known` gives them when the caller has
   * them), kept for the last manifest asked about: newSnapshot and the freeze after it
   * need them. A list, repeats included, rather than a set: what they are asked for
   * (missing, flush) takes repeats, and a set of a server's 50,000 received hashes took
   * ~60 ms to build.
   */
  private async hashesOf(
    digest: string,
    known?: () => Iterable<string>,
  ): Promise<Iterable<string>> {
    if (this.lastHashes?.digest !== digest) {
      // The manifest is read (and, when remembered as the engine's entries, made into a
      // map) only when the hashes are not known: a local push's freeze needs no map.
      const hashes =
        known?.() ?? Object.values(await this.records.readManifest(digest)).map((e) => e.sha1);
      this.lastHashes = { digest, hashes };
    }
    return this.lastHashes.hashes;
  }

  private buildRecord(
    owner: string,
    name: string,
    tag: string,
    params: NewSnapshotParams,
    { fileCount, size }: { fileCount: number; size: number },
    digest: string,
    existing: SnapshotRecord | null,
    now: number,
  ): SnapshotRecord {
    const at = new Date(now).toISOString();
    return {
      version: 1,
      owner,
      name,
      tag,
      frozen: false,
      createdAt: existing?.createdAt ?? at,
      updatedAt: at,
      expiresAt:
        params.expirationTimeSec === undefined
          ? null
          : new Date(now + params.expirationTimeSec * 1000).toISOString(),
      removeAfterExecute: params.removeAfterExecute ?? false,
      accessLevel: params.accessLevel ?? 'Invisible',
      accessPerUser: params.accessPerUser ?? {},
      digest,
      fileCount,
      size,
      executions: 0,
      goneReason: null,
    };
  }

  private async findFrozen(
    owner: string,
    digest: string,
    now: number,
  ): Promise<SnapshotRecord | null> {
    for await (const record of this.records.all(this.skipCorrupt)) {
      if (record.owner !== owner || record.digest !== digest || !record.frozen) continue;
      if (this.live(record, now)) return record;
    }
    return null;
  }

  /** A record that still counts: not expired, not removed after execution. */
  private live(record: SnapshotRecord | null, now: number): SnapshotRecord | null {
    if (!record || record.goneReason !== null || isExpired(record, now)) return null;
    return record;
  }

  // ---------------------------------------------------------------- lookups and access

  /** The record at `address` if `caller` may do `action` on it; 404/410 otherwise. */
  private async resolve(
    caller: string,
    address: SnapshotAddress,
    action: Action,
  ): Promise<SnapshotRecord> {
    const owner = address.owner ?? caller;
    const record = await this.records.read(owner, address.name, address.tag);
    const label = owner === caller ? formatAddress(address) : `${owner}:${formatAddress(address)}`;
    const level = record ? accessOf(record, caller) : 'Invisible';
    if (!record || level === 'Invisible') {
      throw new SnapupError('NOT_FOUND', `snapshot ${label} not found`, { field: 'snapshot' });
    }
    if (record.goneReason !== null || isExpired(record, this.now())) {
      const why = record.goneReason === 'executed' ? 'was removed after execution' : 'has expired';
      throw new SnapupError('GONE', `snapshot ${label} ${why}`, { field: 'snapshot' });
    }
    if (action === 'write' && level !== 'ReadWrite') {
      throw new SnapupError('FORBIDDEN', `snapshot ${label}: ${caller} may not change it`, {
        field: 'snapshot',
      });
    }
    return record;
  }

  async get(
    caller: string,
    address: SnapshotAddress,
  ): Promise<{ snapshot: SnapshotMeta; fileHashes: Readonly<FileHashes> }> {
    const record = await this.resolve(caller, address, 'read');
    return {
      snapshot: recordToMeta(record),
      fileHashes: await this.records.readManifest(record.digest),
    };
  }

  /**
   * The frozen snapshot at `address` when `caller` may read it and its manifest has
   * `digest`; undefined otherwise. A read without the lock: an unchanged push asks this.
   */
  async frozenWithDigest(
    caller: string,
    address: SnapshotAddress,
    digest: string,
  ): Promise<SnapshotMeta | undefined> {
    const record = await this.resolve(caller, address, 'read').catch((err: unknown) => {
      if (isSnapupError(err) && (err.code === 'NOT_FOUND' || err.code === 'GONE')) return undefined;
      throw err;
    });
    return record?.frozen && record.digest === digest ? recordToMeta(record) : undefined;
  }

  async list(
    caller: string,
    filter: { owner?: string; name?: string } = {},
  ): Promise<SnapshotMeta[]> {
    const now = this.now();
    const out: SnapshotMeta[] = [];
    for await (const record of this.records.all(this.skipCorrupt)) {
      if (filter.owner !== undefined && record.owner !== filter.owner) continue;
      if (filter.name !== undefined && record.name !== filter.name) continue;
      if (!this.live(record, now) || accessOf(record, caller) === 'Invisible') continue;
      out.push(recordToMeta(record));
    }
    return out;
  }

  // ---------------------------------------------------------------- A2 upload

  async upload(
    caller: string,
    address: SnapshotAddress,
    path: string,
    content: ContentSource,
    signal?: AbortSignal,
  ): Promise<UploadResponse> {
    const problem = checkSnapshotPath(path);
    if (problem) throw new SnapupError('BAD_INPUT', `${path}: ${problem}`, { field: 'path' });
    let record = await this.resolveRemembered(caller, address, 'write');
    if (record.frozen) throw frozenError(record);
    return this.whileReceiving(caller, address, record, async () => {
      const manifest = await this.records.readManifest(record.digest);
      const declared = manifest[path];
      if (!declared) refuseClash(manifest, path);
      const stored = await this.putContent(content, declared?.sha1, path, signal);
      if (declared) return { path, ...stored };

      // B.3: an undeclared path is recorded with the hash of what arrived.
      return this.lock(async () => {
        record = await this.resolve(caller, address, 'write');
        if (record.frozen) throw frozenError(record);
        const latest = await this.records.readManifest(record.digest);
        if (!latest[path]) refuseClash(latest, path);
        const entry = {
          sha1: stored.sha1,
          permissions: { ro: false, exe: false },
          size: stored.size,
        };
        const digest = await this.records.writeManifest({ map: { ...latest, [path]: entry } });
        await this.records.write(
          {
            ...record,
            digest,
            fileCount: record.fileCount + 1,
            size: record.size + stored.size,
            updatedAt: new Date(this.now()).toISOString(),
          },
          false,
        );
        return { path, ...stored };
      });
    });
  }

  /**
   * Runs an upload into `record`'s snapshot, counted as in flight, after moving its
   * updatedAt on if it is older than TOUCH_MS (B.11 keeps what a snapshot declared while
   * its record is recent).
   */
  private async whileReceiving<T>(
    caller: string,
    address: SnapshotAddress,
    record: SnapshotRecord,
    upload: () => Promise<T>,
  ): Promise<T> {
    const key = recordKey(record);
    this.receiving.set(key, (this.receiving.get(key) ?? 0) + 1);
    try {
      if (this.now() - Date.parse(record.updatedAt) >= TOUCH_MS) {
        await this.lock(async () => {
          const latest = await this.resolve(caller, address, 'write');
          if (latest.frozen || this.now() - Date.parse(latest.updatedAt) < TOUCH_MS) return;
          await this.records.write(
            { ...latest, updatedAt: new Date(this.now()).toISOString() },
            false,
          );
        });
      }
      return await upload();
    } finally {
      const left = (this.receiving.get(key) ?? 1) - 1;
      if (left > 0) this.receiving.set(key, left);
      else this.receiving.delete(key);
    }
  }

  /**
   * Many small A2 uploads at once (the `batch` extension, and the local push): one record
   * lookup, then the contents are stored on the worker pool. Per file, what was stored or
   * the error; undeclared paths go through upload() one by one since they change the record.
   */
  async uploadBatch(
    caller: string,
    address: SnapshotAddress,
    files: readonly BatchFile[],
    signal?: AbortSignal,
  ): Promise<(UploadResponse | SnapupError)[]> {
    const record = await this.resolveRemembered(caller, address, 'write');
    if (record.frozen) throw frozenError(record);
    return this.whileReceiving(caller, address, record, () =>
      this.uploadBatchInto(caller, address, record, files, signal),
    );
  }

  private async uploadBatchInto(
    caller: string,
    address: SnapshotAddress,
    record: SnapshotRecord,
    files: readonly BatchFile[],
    signal?: AbortSignal,
  ): Promise<(UploadResponse | SnapupError)[]> {
    const manifest = await this.records.readManifest(record.digest);
    const out: (UploadResponse | SnapupError)[] = new Array(files.length);
    const declared: number[] = [];
    for (const [i, f] of files.entries()) {
      if (manifest[f.path]) declared.push(i);
      else {
        const content: ContentSource = f.bytes ? { bytes: f.bytes } : { file: f.file as string };
        out[i] = await this.upload(caller, address, f.path, content, signal).catch(
          (e: SnapupError) => e,
        );
      }
    }
    const items = declared.map((i) => {
      const f = files[i] as BatchFile;
      const expected = (manifest[f.path] as { sha1: string }).sha1;
      return f.bytes
        ? { bytes: f.bytes, expected, origin: f.path, handOver: f.handOver }
        : { file: f.file, expected, origin: f.file as string };
    });
    const stored = items.length > 0 ? await this.objects.putFiles(items, signal) : [];
    declared.forEach((fileIndex, k) => {
      const r = stored[k] as StoredObject | SnapupError;
      out[fileIndex] =
        r instanceof SnapupError ? r : { path: (files[fileIndex] as { path: string }).path, ...r };
    });
    return out;
  }

  /**
   * resolve(), remembered for a moment: a push uploads (and a pull over HTTP reads)
   * thousands of files of one snapshot, and re-reading its record for each is most of the
   * cost of a small file. Changes made through this Store drop the memory at once; a
   * change by another process can be seen up to RECORD_MEMORY_MS late, which at worst
   * stores an object that was declared anyway (content-addressed, collected by gc if
   * unreferenced) or serves a file of a snapshot removed that instant elsewhere.
   */
  private async resolveRemembered(
    caller: string,
    address: SnapshotAddress,
    action: Action,
  ): Promise<SnapshotRecord> {
    const key = `${action}\0${caller}\0${address.owner ?? caller}\0${address.name}\0${address.tag}`;
    const hit = this.recentRecords.get(key);
    if (hit && this.now() - hit.at < RECORD_MEMORY_MS) return hit.record;
    const record = await this.resolve(caller, address, action);
    this.recentRecords.set(key, { record, at: this.now() });
    return record;
  }

  private putContent(
    content: ContentSource,
    expected: string | undefined,
    origin: string,
    signal?: AbortSignal,
  ): Promise<{ sha1: string; size: number }> {
    if ('file' in content)
      return this.objects.putFile(content.file, expected, signal, content.size);
    if ('bytes' in content) return this.objects.putBuffer(content.bytes, expected, origin);
    return this.objects.putStream(content.stream, expected, origin, content.size);
  }

  // ---------------------------------------------------------------- A3 freeze

  async freeze(caller: string, address: SnapshotAddress): Promise<SnapshotMeta> {
    return this.lock(async () => {
      const record = await this.resolve(caller, address, 'write');
      return recordToMeta(await this.freezeLocked(record));
    });
  }

  private async freezeLocked(record: SnapshotRecord): Promise<SnapshotRecord> {
    if (record.frozen) return record;
    const hashes = await this.hashesOf(record.digest);
    const absent = await this.objects.missing(hashes);
    if (absent.size > 0) {
      const manifest = await this.records.readManifest(record.digest);
      const missing = Object.keys(manifest).filter((p) => absent.has(manifest[p]?.sha1 ?? ''));
      throw new SnapupError(
        'MISSING_CONTENT',
        `${formatAddress(record)}: ${missing.length} declared file(s) have no content yet, e.g. ${missing[0]}`,
        { data: { missing } },
      );
    }
    const frozen: SnapshotRecord = {
      ...record,
      frozen: true,
      updatedAt: new Date(this.now()).toISOString(),
    };
    if (this.durable) {
      // Content and manifest reach the disk before the record that says they are there;
      // flushing the whole file system (the usual case) took the manifest along.
      const everything = await this.objects.flush(hashes);
      if (!everything) await this.records.syncManifest(record.digest);
    }
    await this.records.write(frozen, this.durable);
    return frozen;
  }

  // ---------------------------------------------------------------- A4 single request

  /**
   * Creates (or resumes, B.10) a snapshot from `meta` plus the inline `files`, stores their
   * content and freezes it when nothing is missing. Runs under the lock so that gc never
   * sees content that is stored but not yet declared.
   */
  async single(
    caller: string,
    request: NewSnapshotRequest,
    files: Record<string, SingleFile>,
    signal?: AbortSignal,
  ): Promise<NewSnapshotResponse> {
    const meta = parseOrThrow(newSnapshotRequestSchema, request, 'meta');
    return this.lock(async () => {
      const fileHashes: FileHashes = Object.assign(pathMap(), meta.fileHashes);
      // Every path checked before any content is stored: bad input writes nothing.
      for (const path of Object.keys(files)) {
        const problem = checkSnapshotPath(path);
        if (problem) throw new SnapupError('BAD_INPUT', `${path}: ${problem}`, { field: 'files' });
      }
      const has = (p: string) => Object.hasOwn(files, p) || Object.hasOwn(fileHashes, p);
      const clash = folderFileClash([...Object.keys(files), ...Object.keys(fileHashes)], has);
      if (clash) throw new SnapupError('BAD_INPUT', `files: ${clash}`, { field: 'files' });
      for (const [path, file] of Object.entries(files)) {
        const stored = await this.putContent(file.content, fileHashes[path]?.sha1, path, signal);
        setEntry(fileHashes, path, {
          sha1: stored.sha1,
          permissions: file.permissions,
          size: stored.size,
        });
      }
      const response = await this.newSnapshotLocked(caller, { ...meta, fileHashes });
      if (response.snapshot.frozen || response.notFound.length > 0) return response;
      const record = await this.resolve(caller, response.snapshot, 'write');
      return { snapshot: recordToMeta(await this.freezeLocked(record)), notFound: [] };
    });
  }

  // ---------------------------------------------------------------- A5 delete, execute

  async remove(caller: string, address: SnapshotAddress): Promise<void> {
    await this.lock(async () => {
      const owner = address.owner ?? caller;
      const record = await this.resolve(caller, address, 'write').catch((err: unknown) => {
        // A damaged record of one's own can still be removed: it says nothing else.
        if (isSnapupError(err) && err.code === 'CORRUPT_STORE' && owner === caller) return null;
        throw err;
      });
      await this.records.remove(owner, record?.name ?? address.name, record?.tag ?? address.tag);
    });
  }

  /** Records one execution (spec C); with removeAfterExecute the snapshot is then gone. */
  async execute(caller: string, address: SnapshotAddress): Promise<SnapshotMeta> {
    return this.lock(async () => {
      const record = await this.resolve(caller, address, 'read');
      if (!record.frozen) {
        throw new SnapupError('CONFLICT', `${formatAddress(record)} is not frozen yet`, {
          field: 'snapshot',
        });
      }
      const next: SnapshotRecord = {
        ...record,
        executions: record.executions + 1,
        goneReason: record.removeAfterExecute ? 'executed' : null,
      };
      await this.records.write(next, false);
      return recordToMeta(next);
    });
  }

  // ---------------------------------------------------------------- read content

  /**
   * The manifest entries of many files (spec C archive), in the order asked; a path the
   * snapshot lacks is NOT_FOUND, named.
   */
  async fileEntries(
    caller: string,
    address: SnapshotAddress,
    paths: readonly string[],
  ): Promise<FileHashes[string][]> {
    const record = await this.resolveRemembered(caller, address, 'read');
    const manifest = await this.records.readManifest(record.digest);
    return paths.map((path) => {
      const entry = manifest[path];
      if (!entry)
        throw new SnapupError('NOT_FOUND', `${path}: no such file in the snapshot`, {
          field: 'paths',
        });
      return entry;
    });
  }

  /** Small objects read whole, each verified against its hash (see ObjectStore.readMany). */
  readObjects(sha1s: readonly string[], signal?: AbortSignal): Promise<Buffer[]> {
    return this.objects.readMany(sha1s, signal);
  }

  /** Streams a stored object, verified against its hash (see ObjectStore.read). */
  readObject(sha1: string, signal?: AbortSignal): AsyncGenerator<Buffer> {
    return this.objects.read(sha1, signal);
  }

  // ---------------------------------------------------------------- B.11 gc

  async gc(options: { dryRun?: boolean } = {}): Promise<GcReport> {
    return this.lock(async () => {
      const now = this.now();
      const report: GcReport = {
        removedSnapshots: 0,
        removedManifests: 0,
        removedObjects: 0,
        removedBytes: 0,
        removedTempFiles: 0,
        keptObjects: 0,
        repackedPacks: 0,
      };
      const keepManifests = new Set<string>();
      const keepObjects = new Set<string>();
      for await (const record of this.records.all((err) => {
        // Its references are unknown: removing anything could take its content.
        const rm = this.removalCommand(err.path);
        throw new SnapupError(
          'CORRUPT_STORE',
          `${err.message}; gc removes nothing while a record cannot be read: ${rm ? `remove it with ${rm}, or ` : ''}put a good copy back`,
          { path: err.path },
        );
      })) {
        if (!this.live(record, now)) {
          report.removedSnapshots++;
          if (!options.dryRun) await this.records.remove(record.owner, record.name, record.tag);
          continue;
        }
        keepManifests.add(record.digest);
        const recent =
          now - Date.parse(record.updatedAt) < GC_GRACE_MS || this.receiving.has(recordKey(record));
        if (record.frozen || recent) {
          for (const h of uniqueHashes(await this.records.readManifest(record.digest))) {
            keepObjects.add(h);
          }
        }
      }
      for (const digest of await this.records.listManifests()) {
        if (keepManifests.has(digest)) continue;
        report.removedManifests++;
        if (!options.dryRun) await this.records.removeManifest(digest);
      }
      const collected = await collectObjects(this.objects, keepObjects, {
        dryRun: options.dryRun ?? false,
        now,
        graceMs: GC_GRACE_MS,
      });
      Object.assign(report, collected);
      report.removedTempFiles = await this.sweepTemp(now, options.dryRun ?? false);
      return report;
    });
  }

  /** Temp files of writers that died; a live writer's are younger than the grace period. */
  private async sweepTemp(now: number, dryRun: boolean): Promise<number> {
    let removed = 0;
    for (const name of await fsp.readdir(this.objects.tempDir).catch(() => [] as string[])) {
      // Ours are writes in flight: an upload stalled for an hour must not lose its file.
      if (isTempOfThisProcess(name)) continue;
      const path = join(this.objects.tempDir, name);
      const stat = await fsp.stat(path).catch(() => null);
      if (!stat || now - stat.mtimeMs < GC_GRACE_MS) continue;
      removed++;
      if (!dryRun) await fsp.rm(path, { force: true });
    }
    return removed;
  }
}

/**
 * Refuses an undeclared `path` that the snapshot's files make impossible: one of its
 * folders is a file of the snapshot, or it is a folder of one (B.3 records such a path,
 * and the snapshot could then never be pulled).
 */
function refuseClash(manifest: Readonly<FileHashes>, path: string): void {
  const inside = `${path}/`;
  const below = Object.keys(manifest).find((p) => p.startsWith(inside));
  const clash =
    folderFileClash([path], (p) => Object.hasOwn(manifest, p)) ??
    (below === undefined
      ? null
      : `${JSON.stringify(below)}: ${JSON.stringify(path)} is a file of the snapshot, not a folder`);
  if (clash) throw new SnapupError('BAD_INPUT', clash, { field: 'path' });
}

function recordKey(record: SnapshotRecord): string {
  return `${record.owner}\0${record.name}\0${record.tag}`;
}

function accessOf(record: SnapshotRecord, caller: string): AccessLevel {
  if (record.owner === caller) return 'ReadWrite';
  // Own keys only: a caller named "constructor" would read Object's function off a plain map.
  return Object.hasOwn(record.accessPerUser, caller)
    ? (record.accessPerUser[caller] as AccessLevel)
    : record.accessLevel;
}

function frozenError(record: SnapshotRecord): SnapupError {
  return new SnapupError('FROZEN', `${formatAddress(record)} is frozen and cannot be changed`, {
    field: 'snapshot',
  });
}

/** A sortable, unique-enough tag: 20261124T085501Z-3f9a. */
function generatedTag(at: Date): string {
  const stamp = at
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return `${stamp}-${randomBytes(2).toString('hex')}`;
}

/** How many files a manifest lists and their bytes, for its record. */
function totalsOf(entries: readonly { size?: number | undefined }[]): {
  fileCount: number;
  size: number;
} {
  let size = 0;
  for (const e of entries) size += e.size ?? 0;
  return { fileCount: entries.length, size };
}
