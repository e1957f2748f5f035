/**
 * What the push and pull pipelines need from a place that holds snapshots: the CB
 * protocol's operations (spec A1-A4 and the C extensions used by pull). The local store
 * implements them in-process; the CB HTTP client implements them over the network.
 */
import type { HashStaging } from '../hash/hasher.js';
import type { BuiltManifest } from '../protocol/manifest.js';
import type {
  FileHashes,
  NewSnapshotParams,
  NewSnapshotRequest,
  NewSnapshotResponse,
  Permissions,
  SnapshotAddress,
  SnapshotMeta,
  UploadResponse,
} from '../protocol/types.js';

/** One file to send: the snapshot path it goes to and the local file it is read from. */
export interface OutgoingFile {
  path: string;
  abs: string;
  sha1: string;
  size: number;
  permissions: Permissions;
}

export type { BuiltManifest };

export interface PushTarget {
  /** Human description for messages, e.g. "local store /home/me/.local/share/snapup". */
  readonly description: string;
  /** Who the snapshots are made as (their owner), when the target knows. */
  readonly user?: string | undefined;
  /** A folder on this machine the target writes into (the local store): never pushed. */
  readonly ownFolder?: string;
  /**
   * Takes the engine's manifest as `built` (its sorted entries and their digest) instead
   * of a `fileHashes` map in the request, so that no 50,000-key map is built only to be
   * written out: the local store (which also skips checking and digesting it again) and
   * the HTTP client (which writes the request's JSON from the entries). Others get
   * `fileHashes`.
   */
  readonly takesBuiltEntries?: boolean;
  /**
   * A1. With `takesBuiltEntries`, `built` holds the manifest and `params.fileHashes` is
   * absent; otherwise `built` is undefined.
   */
  newSnapshot(
    params: NewSnapshotRequest,
    signal?: AbortSignal,
    built?: BuiltManifest,
  ): Promise<NewSnapshotResponse>;
  upload(
    address: SnapshotAddress,
    file: OutgoingFile,
    signal?: AbortSignal,
  ): Promise<UploadResponse>;
  /**
   * Optional: many small files in one call (the local store's worker-pool copy, or the CB
   * `batch` extension). Per file, the upload's answer or the error that refused it.
   */
  uploadBatch?(
    address: SnapshotAddress,
    files: readonly OutgoingFile[],
    signal?: AbortSignal,
  ): Promise<(UploadResponse | Error)[]>;
  /**
   * True when the content `uploadBatch` reads is hashed as it is read (by the local
   * store's workers, or by a CB server against the manifest) and a file that changed or
   * vanished since the scan is answered per file (HASH_MISMATCH, FILE_CHANGED or
   * NOT_FOUND, with the file's absolute path): the engine then need not stat every file
   * again before sending it.
   */
  readonly batchChecksSources?: boolean;
  /** A4: the given files inline plus `meta.fileHashes`; frozen when nothing is missing. */
  single(
    meta: NewSnapshotParams,
    files: readonly OutgoingFile[],
    signal?: AbortSignal,
  ): Promise<NewSnapshotResponse>;
  freeze(address: SnapshotAddress, signal?: AbortSignal): Promise<SnapshotMeta>;
  /**
   * Optional: the frozen snapshot at `address` when its manifest has digest `digest`,
   * found without sending the manifest (a CB server that lists digests); undefined when
   * it is not there, differs, or the target cannot tell.
   */
  frozenWithDigest?(
    address: SnapshotAddress,
    digest: string,
    signal?: AbortSignal,
  ): Promise<SnapshotMeta | undefined>;
  /** The subset of `sha1s` the target lacks, without changing anything (for --dry-run). */
  lacks(sha1s: readonly string[], signal?: AbortSignal): Promise<Set<string>>;
  /**
   * Optional (the local store): an area where the hash workers store content new to the
   * target as they read it (files up to `maxFileSize` in packs, larger ones as copies), so
   * that a first push reads each file once. The push commits it once newSnapshot has declared that content
   * (which it then does not ask for), and discards it when it fails before.
   */
  openStaging?(maxFileSize: number): Promise<StagingArea>;
}

export interface StagingArea extends HashStaging {
  /** The contents staged: stored by this push. */
  readonly hashes: ReadonlySet<string>;
  commit(): Promise<void>;
  discard(): Promise<void>;
}

/** One file of a batch restore: the snapshot path, its hash and size, where it goes, its mode. */
export interface RestoreRequest {
  path: string;
  sha1: string;
  size: number;
  target: string;
  mode: number;
}

export interface PullSource {
  readonly description: string;
  /** A folder on this machine the source keeps its data in (the local store): never pulled into. */
  readonly ownFolder?: string;
  get(
    address: SnapshotAddress,
    signal?: AbortSignal,
  ): Promise<{ snapshot: SnapshotMeta; fileHashes: FileHashes }>;
  /** A file's bytes, verified against `sha1` before the last chunk is yielded. */
  read(
    address: SnapshotAddress,
    path: string,
    sha1: string,
    signal?: AbortSignal,
  ): AsyncIterable<Buffer>;
  /**
   * Optional: writes many small files at once, verified against their hashes (the local
   * store on the worker pool; a CB server's `archive` extension). Per item: bytes written,
   * or the error. Each item's folder exists.
   */
  restoreBatch?(
    address: SnapshotAddress,
    items: readonly RestoreRequest[],
    signal?: AbortSignal,
  ): Promise<(number | Error)[]>;
  /**
   * Optional: writes one large file itself, verified against its hash (the local store,
   * on a worker). Without it the engine streams `read` into the file.
   */
  restoreLarge?(
    address: SnapshotAddress,
    item: RestoreRequest,
    signal?: AbortSignal,
  ): Promise<number>;
  /** Records that the snapshot was restored (its "execution"). */
  execute(address: SnapshotAddress, signal?: AbortSignal): Promise<SnapshotMeta>;
}

/** The target's own folder as the walk skips it (see ManifestOptions.ownFolder). */
export function ownFolderOf(
  target: PushTarget | undefined,
): { abs: string; why: string } | undefined {
  return target?.ownFolder
    ? { abs: target.ownFolder, why: 'the store this push writes to' }
    : undefined;
}
