/**
 * A cross-process lock on the store's metadata. Object writes need no lock (they are
 * content-addressed and renamed into place); record read-modify-write cycles and gc do.
 * proper-lockfile uses an atomic mkdir and refreshes the lock's mtime, so the lock of a
 * killed process goes stale and is taken over instead of blocking the store forever.
 */
import { SnapupError } from '../errors.js';

export async function withLock<T>(lockPath: string, fn: () => Promise<T>): Promise<T> {
  // Loaded on first use: commands that only read the store never take the lock.
  const { default: lockfile } = await import('proper-lockfile');
  let release: () => Promise<void>;
  try {
    release = await lockfile.lock(lockPath, {
      realpath: false,
      stale: 10_000,
      update: 2_000,
      retries: { retries: 600, factor: 1.3, minTimeout: 5, maxTimeout: 100 },
    });
  } catch (err) {
    throw new SnapupError(
      'CONFLICT',
      `${lockPath}: the store is locked by another snapup process; try again when it has finished`,
      { path: lockPath, cause: err },
    );
  }
  try {
    return await fn();
  } finally {
    await release().catch(() => {});
  }
}
