/**
 * `snapup bench DIR`: how much would deduplication save? Hashes the tree (with the cache),
 * counts unique content and duplicates, asks the store what it already holds (or compares
 * with a snapshot or a second folder), and plans the requests a push would make. Nothing
 * is uploaded or written to the store.
 */
import { isSnapupError } from '../errors.js';
import { buildManifest, type ManifestOptions } from '../hash/manifest.js';
import type { SnapshotAddress } from '../protocol/types.js';
import { type EventSink, peakRssBytes, StageClock } from './events.js';
import { BATCH_FILE_MAX, planUploads, type UploadPlan } from './plan.js';
import { DEFAULT_SINGLE_MAX } from './push.js';
import { ownFolderOf, type PullSource, type PushTarget } from './target.js';

export interface EstimateOptions extends ManifestOptions {
  dir: string;
  /** Where a push would go: asked which content it lacks. */
  target?: PushTarget;
  /** Compare with this snapshot's content instead of (or besides) the whole store. */
  against?: { source: PullSource; address: SnapshotAddress };
  /** Compare with a second folder's content. */
  compareDir?: string;
  singleMax?: number;
  onEvent?: EventSink;
}

export interface Estimate {
  kind: 'bench';
  files: number;
  bytes: number;
  uniqueFiles: number;
  uniqueBytes: number;
  /** Files whose content another file of the tree already has. */
  treeDuplicateFiles: number;
  treeDuplicateBytes: number;
  /** Unique content the target already holds; null when the target cannot say. */
  storedFiles: number | null;
  storedBytes: number | null;
  /** Unique content also in the snapshot or folder compared against; null without one. */
  sharedFiles: number | null;
  sharedBytes: number | null;
  wouldSendFiles: number;
  wouldSendBytes: number;
  savedBytes: number;
  savedPercent: number;
  plan: UploadPlan;
  hashing: {
    files: number;
    bytes: number;
    cachedFiles: number;
    ms: number;
    mbPerSec: number;
    filesPerSec: number;
  };
  notes: string[];
  durationMs: number;
  peakRssBytes: number;
}

export async function estimate(options: EstimateOptions): Promise<Estimate> {
  const emit: EventSink = options.onEvent ?? (() => {});
  const clock = new StageClock(emit);
  const notes: string[] = [];
  const manifest = await buildManifest(
    options.dir,
    { ...options, ownFolder: ownFolderOf(options.target) },
    emit,
    clock,
  );

  // One representative (the first path) per distinct content.
  const firstOf = new Map<string, { size: number }>();
  for (const f of manifest.files) if (!firstOf.has(f.sha1)) firstOf.set(f.sha1, { size: f.size });
  const uniqueBytes = [...firstOf.values()].reduce((s, f) => s + f.size, 0);
  const hashes = [...firstOf.keys()];

  let missing = new Set(hashes);
  let storedFiles: number | null = null;
  let storedBytes: number | null = null;
  if (options.target) {
    try {
      const lacking = await options.target.lacks(hashes, options.signal);
      storedFiles = hashes.length - lacking.size;
      storedBytes = hashes
        .filter((h) => !lacking.has(h))
        .reduce((s, h) => s + (firstOf.get(h)?.size ?? 0), 0);
      missing = new Set(lacking);
    } catch (err) {
      if (!isSnapupError(err) || err.code !== 'UNSUPPORTED') throw err;
      notes.push(
        `${options.target.description} cannot say what it holds without a snapshot being created; give --against NAME/TAG to compare with one`,
      );
    }
  }

  let other: Set<string> | undefined;
  if (options.against) {
    const { fileHashes } = await options.against.source.get(
      options.against.address,
      options.signal,
    );
    other = new Set(Object.values(fileHashes).map((e) => e.sha1));
  }
  if (options.compareDir !== undefined) {
    const second = await buildManifest(
      options.compareDir,
      options,
      () => {},
      new StageClock(() => {}),
    );
    other ??= new Set();
    for (const f of second.files) other.add(f.sha1);
  }
  let sharedFiles: number | null = null;
  let sharedBytes: number | null = null;
  if (other) {
    const shared = hashes.filter((h) => other.has(h));
    sharedFiles = shared.length;
    sharedBytes = shared.reduce((s, h) => s + (firstOf.get(h)?.size ?? 0), 0);
    for (const h of shared) missing.delete(h);
  }

  const toSend = [...missing].map((h) => firstOf.get(h) as { size: number });
  const wouldSendBytes = toSend.reduce((s, f) => s + f.size, 0);
  const batching = options.target?.uploadBatch !== undefined;
  const plan = planUploads(toSend, options.singleMax ?? DEFAULT_SINGLE_MAX, batching);
  if (options.target?.openStaging && plan.mode === 'multi') {
    notes.push(
      `${options.target.description} stores new content while its workers hash it (files up to ${BATCH_FILE_MAX / 2 ** 20} MiB in packs, larger ones as loose objects): a push that hashes these ${toSend.length} file(s) sends them without upload requests (the plan is what a server would get)`,
    );
  }
  // Files are hashed while the walk goes on: the time hashing took is the walk's and what
  // was left after it (the hash stage alone gave throughputs of several GB/s).
  const hashMs = manifest.hashedFiles > 0 ? (clock.ms.scan ?? 0) + (clock.ms.hash ?? 0) : 0;
  return {
    kind: 'bench',
    files: manifest.files.length,
    bytes: manifest.bytes,
    uniqueFiles: hashes.length,
    uniqueBytes,
    treeDuplicateFiles: manifest.files.length - hashes.length,
    treeDuplicateBytes: manifest.bytes - uniqueBytes,
    storedFiles,
    storedBytes,
    sharedFiles,
    sharedBytes,
    wouldSendFiles: toSend.length,
    wouldSendBytes,
    savedBytes: manifest.bytes - wouldSendBytes,
    savedPercent:
      manifest.bytes === 0 ? 0 : (100 * (manifest.bytes - wouldSendBytes)) / manifest.bytes,
    plan,
    hashing: {
      files: manifest.hashedFiles,
      bytes: manifest.hashedBytes,
      cachedFiles: manifest.cachedFiles,
      ms: Math.round(hashMs),
      mbPerSec: hashMs > 0 ? manifest.hashedBytes / 1e6 / (hashMs / 1000) : 0,
      filesPerSec: hashMs > 0 ? manifest.hashedFiles / (hashMs / 1000) : 0,
    },
    notes,
    durationMs: Math.round(clock.totalMs),
    peakRssBytes: peakRssBytes(),
  };
}
