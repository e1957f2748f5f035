/**
 * The embedded default backend: the content-addressed store on local disk, used
 * in-process by the local user. It speaks the same operations a CB server does.
 */
import { userInfo } from 'node:os';
import envPaths from 'env-paths';
import type {
  BuiltManifest,
  OutgoingFile,
  PullSource,
  PushTarget,
  RestoreRequest,
} from '../engine/target.js';
import { setEntry } from '../protocol/manifest.js';
import type { NewSnapshotParams, NewSnapshotRequest, SnapshotAddress } from '../protocol/types.js';
import { NAME_RE } from '../protocol/types.js';
import { StoreStaging } from '../store/staging.js';
import { type SingleFile, Store, type StoreOptions } from '../store/store.js';

/** `--store`, else SNAPUP_STORE, else the platform data dir ($XDG_DATA_HOME/snapup). */
export function defaultStoreDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.SNAPUP_STORE || envPaths('snapup', { suffix: '' }).data;
}

/** The owner recorded on local snapshots: the login name when it is a valid name. */
export function localUser(): string {
  try {
    const name = userInfo().username;
    if (NAME_RE.test(name)) return name;
  } catch {
    // no passwd entry (containers): fall through
  }
  return 'local';
}

export class LocalBackend implements PushTarget, PullSource {
  readonly description: string;
  /** The ingest workers hash every file they copy and report changed or vanished ones. */
  readonly batchChecksSources = true;
  readonly takesBuiltEntries = true;
  readonly ownFolder: string;

  constructor(
    readonly store: Store,
    readonly user: string = localUser(),
  ) {
    this.description = `local store ${store.root}`;
    this.ownFolder = store.root;
  }

  static async open(dir = defaultStoreDir(), options: StoreOptions = {}): Promise<LocalBackend> {
    return new LocalBackend(await Store.open(dir, options));
  }

  newSnapshot(params: NewSnapshotRequest, _signal?: AbortSignal, built?: BuiltManifest) {
    return this.store.newSnapshot(this.user, params, built);
  }

  upload(address: SnapshotAddress, file: OutgoingFile, signal?: AbortSignal) {
    return this.store.upload(
      this.user,
      address,
      file.path,
      { file: file.abs, size: file.size },
      signal,
    );
  }

  uploadBatch(address: SnapshotAddress, files: readonly OutgoingFile[], signal?: AbortSignal) {
    return this.store.uploadBatch(
      this.user,
      address,
      files.map((f) => ({ path: f.path, file: f.abs })),
      signal,
    );
  }

  single(meta: NewSnapshotParams, files: readonly OutgoingFile[], signal?: AbortSignal) {
    const inline: Record<string, SingleFile> = {};
    for (const f of files)
      setEntry(inline, f.path, { content: { file: f.abs }, permissions: f.permissions });
    return this.store.single(this.user, meta, inline, signal);
  }

  freeze(address: SnapshotAddress) {
    return this.store.freeze(this.user, address);
  }

  openStaging(maxFileSize: number) {
    return StoreStaging.open(this.store.objects, maxFileSize);
  }

  lacks(sha1s: readonly string[]): Promise<Set<string>> {
    return this.store.objects.missing(sha1s);
  }

  get(address: SnapshotAddress) {
    return this.store.get(this.user, address);
  }

  read(_address: SnapshotAddress, _path: string, sha1: string, signal?: AbortSignal) {
    return this.store.readObject(sha1, signal);
  }

  restoreLarge(_address: SnapshotAddress, item: RestoreRequest, signal?: AbortSignal) {
    return this.store.objects.restoreLarge(item, signal);
  }

  frozenWithDigest(address: SnapshotAddress, digest: string) {
    return this.store.frozenWithDigest(this.user, address, digest);
  }

  restoreBatch(_address: SnapshotAddress, items: readonly RestoreRequest[], signal?: AbortSignal) {
    return this.store.objects.restoreFiles(items, signal);
  }

  execute(address: SnapshotAddress) {
    return this.store.execute(this.user, address);
  }

  list(filter: { owner?: string; name?: string } = {}) {
    return this.store.list(this.user, filter);
  }

  remove(address: SnapshotAddress) {
    return this.store.remove(this.user, address);
  }

  gc(options: { dryRun?: boolean } = {}) {
    return this.store.gc(options);
  }
}
