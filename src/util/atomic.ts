import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { dirname, join } from 'node:path';
import { fsError } from '../errors.js';

/** Unique per process; with the pid and a per-process random part, unique per machine. */
const processNonce = randomBytes(4).toString('hex');
let counter = 0;

/** A name for a temp file in `dir` that no other process or call will pick. */
export function tempName(dir: string, base: string): string {
  counter++;
  return join(dir, `.${base}.${process.pid}-${processNonce}-${counter}.tmp`);
}

/**
 * Whether a temp file name (tempName's, or the workers' tempPathIn) is this process's:
 * such a file is a write in flight, since a write that fails removes its own.
 */
export function isTempOfThisProcess(name: string): boolean {
  const pid = /\.(\d+)-[0-9a-f-]+\.tmp$/.exec(name)?.[1];
  return pid !== undefined && Number(pid) === process.pid;
}

/**
 * Writes `data` to `path` so that readers see either the old file or the whole new one:
 * temp file in the same directory, optional fsync, rename over the target.
 */
export async function writeFileAtomic(
  path: string,
  /** Pieces of text are written one after the other (no need to join them first). */
  data: string | Uint8Array | Iterable<string>,
  options: { fsync?: boolean; mode?: number } = {},
): Promise<void> {
  const dir = dirname(path);
  const temp = tempName(dir, 'write');
  let handle: fsp.FileHandle | undefined;
  try {
    handle = await fsp.open(temp, 'wx', options.mode ?? 0o644);
    if (typeof data === 'string' || data instanceof Uint8Array) await handle.writeFile(data);
    // A handle's writeFile writes at its position: the pieces follow each other.
    else for (const piece of data) await handle.writeFile(piece);
    if (options.fsync) await handle.sync();
    await handle.close();
    handle = undefined;
    await fsp.rename(temp, path);
    if (options.fsync) await fsyncDir(dir);
  } catch (err) {
    await handle?.close().catch(() => {});
    await fsp.rm(temp, { force: true }).catch(() => {});
    throw fsError(err, path, 'write');
  }
}

/** Makes a rename or create inside `dir` durable. Not every platform can open a folder. */
export async function fsyncDir(dir: string): Promise<void> {
  let handle: fsp.FileHandle | undefined;
  try {
    handle = await fsp.open(dir, 'r');
    await handle.sync();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EISDIR' && code !== 'EPERM' && code !== 'EINVAL') throw err;
  } finally {
    await handle?.close();
  }
}
