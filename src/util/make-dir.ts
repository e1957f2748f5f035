/**
 * `mkdir -p` that always ends. Node 20's recursive `fs.promises.mkdir` loops forever when a
 * folder's parent exists yet creating the folder in it answers ENOENT (any path under
 * /proc: 100% CPU, no output, and Ctrl-C only asks the stuck operation to stop); the
 * synchronous one and this give up with the error. Used for the folders a user names (a
 * pull's destination, the store, the cache, the server's data): folders inside those exist
 * by then and keep Node's.
 */
import { promises as fsp } from 'node:fs';
import { dirname } from 'node:path';
import { SnapupError } from '../errors.js';

export async function makeDir(path: string): Promise<void> {
  try {
    await fsp.mkdir(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return existingDir(path, err);
    const parent = dirname(path);
    if (code !== 'ENOENT' || parent === path) throw err;
    await makeDir(parent);
    // Once: the parent is there now, so a second ENOENT is final.
    await fsp
      .mkdir(path)
      .catch((again: NodeJS.ErrnoException) =>
        again.code === 'EEXIST' ? existingDir(path, again) : Promise.reject(again),
      );
  }
}

/** An EEXIST is success when a folder is what exists (made meanwhile, or before). */
async function existingDir(path: string, err: unknown): Promise<void> {
  const stat = await fsp.stat(path).catch(() => undefined);
  if (stat?.isDirectory()) return;
  // Named here: the caller knows only the folder it asked for, not which part is in the way.
  throw new SnapupError(
    'NOT_A_DIRECTORY',
    `${path}: exists and is not a folder (${stat ? 'a file' : 'a broken symlink'} is in the way)`,
    { path, cause: err },
  );
}
