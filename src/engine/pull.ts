/**
 * The pull pipeline: fetch a snapshot's manifest and write its files into a folder,
 * each through a temp file renamed into place only after its content proved intact,
 * with the snapshot's exe/ro permissions.
 */
import { promises as fsp, lstatSync } from 'node:fs';
import { dirname, resolve, sep } from 'node:path';
import { fsError, SnapupError } from '../errors.js';
import { HashQueue } from '../hash/hasher.js';
import { comparePaths } from '../protocol/manifest.js';
import { checkSnapshotPath, folderFileClash } from '../protocol/paths.js';
import {
  type FileEntry,
  fileModeOf,
  formatAddress,
  type SnapshotAddress,
} from '../protocol/types.js';
import { tempName } from '../util/atomic.js';
import { isWithin, realPathSoFar } from '../util/folders.js';
import { writeGathered } from '../util/gathered-write.js';
import { makeDir } from '../util/make-dir.js';
import { runAll } from '../util/run-all.js';
import { type EventSink, type PullSummary, peakRssBytes, StageClock } from './events.js';
import { BATCH_FILE_MAX, groupTransfers } from './plan.js';
import type { PullSource, RestoreRequest } from './target.js';

export interface PullOptions {
  source: PullSource;
  address: SnapshotAddress;
  dest: string;
  /** Write into a folder that already has files (listed files are overwritten). */
  force?: boolean;
  concurrency?: number;
  signal?: AbortSignal;
  onEvent?: EventSink;
}

export async function pull(options: PullOptions): Promise<PullSummary> {
  const emit: EventSink = options.onEvent ?? (() => {});
  const clock = new StageClock(emit);
  const { source, address, signal } = options;
  // '' would resolve to the working folder: never write there by accident.
  if (options.dest === '')
    throw new SnapupError('BAD_INPUT', 'the destination is an empty path; give a folder', {
      field: 'dest',
    });
  const dest = resolve(options.dest);
  const { snapshot, fileHashes } = await clock.run('negotiate', () => source.get(address, signal));
  if (!snapshot.frozen) {
    throw new SnapupError(
      'CONFLICT',
      `snapshot ${address.name}/${address.tag} is not frozen yet (its push has not finished)`,
      {
        field: 'snapshot',
      },
    );
  }
  // A manifest no folder can hold is refused before the destination is touched.
  const paths = Object.keys(fileHashes).sort(comparePaths);
  for (const p of paths) {
    const problem = checkSnapshotPath(p);
    if (problem)
      throw new SnapupError('CORRUPT_STORE', `snapshot path ${JSON.stringify(p)}: ${problem}`, {
        field: 'path',
      });
  }
  const clash = folderFileClash(paths, (p) => Object.hasOwn(fileHashes, p));
  if (clash)
    throw new SnapupError('CORRUPT_STORE', `snapshot ${formatAddress(address)}: ${clash}`, {
      field: 'path',
    });
  if (source.ownFolder) refuseOwnFolder(dest, source.ownFolder);
  await prepareDest(dest, options.force ?? false);
  const totalBytes = paths.reduce((s, p) => s + (fileHashes[p]?.size ?? 0), 0);
  const progress = { files: 0, bytes: 0 };
  const madeDirs = new Set<string>([dest]);
  // Snapshot paths were checked above (no empty, "." or ".." segment), so a target is the
  // destination plus the path; path.join's normalisation cost ~4 µs a file.
  const destPrefix = dest.endsWith(sep) ? dest : dest + sep;
  const targetOf = (path: string) => destPrefix + (sep === '/' ? path : path.split('/').join(sep));
  // Into a folder that has files (--force: a pull finishing one that stopped part way), a
  // file whose content and permissions are already right is kept instead of fetched again.
  const kept = options.force
    ? await clock.run('hash', () => filesInPlace(paths, fileHashes, targetOf, emit, signal))
    : { paths: new Set<string>(), bytes: 0 };
  const wanted = kept.paths.size === 0 ? paths : paths.filter((p) => !kept.paths.has(p));
  const wantedBytes = totalBytes - kept.bytes;
  // Small files go in batches where the source takes them (the local store's worker pool,
  // a CB server's archive extension).
  const small = (p: string) =>
    source.restoreBatch !== undefined &&
    (fileHashes[p]?.size ?? Number.POSITIVE_INFINITY) <= BATCH_FILE_MAX;
  const units = [
    ...groupTransfers(
      wanted.filter(small).map((p) => ({ path: p, size: fileHashes[p]?.size ?? 0 })),
      true,
      PULL_BATCH_BYTES,
    ).map((u) => u.map((f) => f.path)),
    ...wanted.filter((p) => !small(p)).map((p) => [p]),
  ];
  const done = (size: number) => {
    progress.files++;
    progress.bytes += size;
    emit({
      type: 'download',
      ...progress,
      totalFiles: wanted.length,
      totalBytes: wantedBytes,
    });
  };
  await clock.run('download', () =>
    runAll(
      units,
      options.concurrency ?? 8,
      async (unit, taskSignal) => {
        const items = unit.map((path): RestoreRequest => {
          const entry = fileHashes[path] as FileEntry;
          return {
            path,
            sha1: entry.sha1,
            size: entry.size ?? 0,
            target: targetOf(path),
            mode: fileModeOf(entry.permissions),
          };
        });
        for (const item of items) {
          const dir = dirname(item.target);
          if (!madeDirs.has(dir)) await ensureDir(dir, madeDirs);
        }
        if (items.length > 1 && source.restoreBatch) {
          const results = await source.restoreBatch(address, items, taskSignal);
          for (const r of results) {
            if (r instanceof Error) throw r;
            done(r);
          }
          return;
        }
        const item = items[0] as RestoreRequest;
        done(
          source.restoreLarge
            ? await source.restoreLarge(address, item, taskSignal)
            : await writeVerified(
                item.target,
                source.read(address, item.path, item.sha1, taskSignal),
                item.mode,
              ),
        );
      },
      signal,
    ),
  );
  const executed = await source.execute(address, signal);
  const summary: PullSummary = {
    kind: 'pull',
    files: paths.length,
    bytes: totalBytes,
    downloadedFiles: progress.files,
    downloadedBytes: progress.bytes,
    keptFiles: kept.paths.size,
    keptBytes: kept.bytes,
    durationMs: Math.round(clock.totalMs),
    peakRssBytes: peakRssBytes(),
    snapshot: executed,
    dest,
  };
  emit({ type: 'summary', summary });
  return summary;
}

/**
 * A pull's batches are smaller than a push's: a batch is held whole from its arrival until
 * a worker has written it, and with eight in flight waiting for two workers, 8 MiB batches
 * held up to 64 MiB. Pull of mixed over HTTP, interleaved A/B: peak RSS 232-237 → 214-223
 * MiB at 4 MiB, same time (at 2 MiB: 209-217 MiB but 0.1-0.3 s slower, more requests).
 */
const PULL_BATCH_BYTES = 4 << 20;

/**
 * Refuses a destination inside the source's own folder (the local store), or holding it:
 * `pull --force` into the store wrote the snapshot's files among the store's own, where a
 * path like `snapup-store.json` or `objects/..` would overwrite them.
 */
function refuseOwnFolder(dest: string, own: string): void {
  const d = realPathSoFar(dest);
  const o = realPathSoFar(own);
  const inside = isWithin(d, o);
  if (inside || isWithin(o, d))
    throw new SnapupError(
      'BAD_INPUT',
      `${dest}: ${inside ? 'is inside' : 'holds'} the store this pull reads from (${own}); pull into another folder`,
      { path: dest },
    );
}

/** A missing or empty folder is fine; one with files needs `force`. */
async function prepareDest(dest: string, force: boolean): Promise<void> {
  try {
    const stat = await fsp.stat(dest);
    if (!stat.isDirectory()) {
      throw new SnapupError('NOT_A_DIRECTORY', `${dest}: exists and is not a directory`, {
        path: dest,
      });
    }
    if (!force && (await fsp.readdir(dest)).length > 0) {
      throw new SnapupError(
        'BAD_INPUT',
        `${dest}: folder is not empty; pull into a new folder or add --force`,
        {
          path: dest,
        },
      );
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw fsError(err, dest, 'open');
    await makeDir(dest).catch((e: unknown) => {
      throw fsError(e, dest, 'create');
    });
  }
}

/** Creates `dir` under dest, refusing to follow a symlink that leads out of dest. */
async function ensureDir(dir: string, made: Set<string>): Promise<void> {
  if (made.has(dir)) return;
  await ensureDir(dirname(dir), made);
  try {
    await fsp.mkdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw fsError(err, dir, 'create');
    const stat = await fsp.lstat(dir);
    if (!stat.isDirectory()) {
      throw new SnapupError(
        'BAD_INPUT',
        `${dir}: exists and is not a folder (a symlink or file is in the way)`,
        {
          path: dir,
        },
      );
    }
  }
  made.add(dir);
}

async function writeVerified(
  target: string,
  chunks: AsyncIterable<Buffer>,
  mode: number,
): Promise<number> {
  const dir = dirname(target);
  const temp = tempName(dir, 'pull');
  let handle: fsp.FileHandle | undefined;
  try {
    handle = await fsp.open(temp, 'wx', 0o600);
    const size = await writeGathered(handle, chunks);
    await handle.chmod(mode);
    await handle.close();
    handle = undefined;
    await fsp.rename(temp, target);
    return size;
  } catch (err) {
    await handle?.close().catch(() => {});
    await fsp.rm(temp, { force: true }).catch(() => {});
    throw fsError(err, target, 'write');
  }
}

/**
 * The files of the snapshot already in the destination with the right content (hashed,
 * since sizes can match by chance) and permissions (set where only they differ).
 */
async function filesInPlace(
  paths: readonly string[],
  fileHashes: Record<string, FileEntry>,
  targetOf: (path: string) => string,
  emit: EventSink,
  signal?: AbortSignal,
): Promise<{ paths: Set<string>; bytes: number }> {
  const candidates: { path: string; target: string; entry: FileEntry; mode: number }[] = [];
  let candidateBytes = 0;
  for (const path of paths) {
    const entry = fileHashes[path] as FileEntry;
    const target = targetOf(path);
    const stat = lstatSync(target, { throwIfNoEntry: false });
    if (!stat?.isFile() || stat.size !== (entry.size ?? -1)) continue;
    candidates.push({ path, target, entry, mode: stat.mode & 0o777 });
    candidateBytes += stat.size;
  }
  const kept = { paths: new Set<string>(), bytes: 0 };
  if (candidates.length === 0) return kept;
  const queue = new HashQueue({
    signal,
    onProgress: (files, bytes) =>
      emit({
        type: 'hash',
        files,
        bytes,
        totalFiles: candidates.length,
        totalBytes: candidateBytes,
      }),
  });
  for (const c of candidates) queue.add({ abs: c.target, size: c.entry.size ?? 0 });
  const results = await queue.finish();
  for (const [i, c] of candidates.entries()) {
    const result = results[i];
    if (!result || !('sha1' in result) || result.sha1 !== c.entry.sha1) continue;
    const mode = fileModeOf(c.entry.permissions);
    if (c.mode !== mode)
      await fsp.chmod(c.target, mode).catch((err: unknown) => {
        throw fsError(err, c.target, 'set the permissions of');
      });
    kept.paths.add(c.path);
    kept.bytes += c.entry.size ?? 0;
  }
  return kept;
}
