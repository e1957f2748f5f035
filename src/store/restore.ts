/**
 * Writes small files out with synchronous calls, for a worker thread: take the bytes (a
 * stored object read here, or bytes a server sent), check their hash, write a temp file
 * beside the target with the final mode, rename. The pull counterpart of ingest.ts; also
 * reads objects for a server's archive answer.
 */
import { createHash } from 'node:crypto';
import { closeSync, openSync, readFileSync, readSync, renameSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { Cancelled, throwIfCancelled } from '../util/cancel.js';
import { objectPathIn } from './object-path.js';
import type { PackedLocation } from './pack-file.js';
import { copyToNewFileSync, tempPathIn, writeNewFileSync } from './sync-write.js';

/** An object to read: its hash and, when it is packed, where its bytes are. */
export interface ObjectRef {
  sha1: string;
  packed?: PackedLocation;
}

export interface RestoreItem extends ObjectRef {
  /** Absolute path of the file to write; its folder exists. */
  target: string;
  mode: number;
  /** The content, when it came from elsewhere (a server's archive); else the stored object. */
  bytes?: Uint8Array;
}

export type RestoreResult =
  | { size: number }
  | { error: string; code: string | undefined; actual?: string };

export type ReadResult = { bytes: Uint8Array } | Extract<RestoreResult, { error: string }>;

/** An object's bytes, checked against its hash (CORRUPT_OBJECT, MISSING_OBJECT otherwise). */
function readVerified(objectsDir: string, ref: ObjectRef, packs: OpenPacks): ReadResult {
  let bytes: Buffer;
  try {
    bytes = ref.packed ? packs.read(ref.packed) : readFileSync(objectPathIn(objectsDir, ref.sha1));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return { error: e.message, code: e.code === 'ENOENT' ? 'MISSING_OBJECT' : e.code };
  }
  return checked(bytes, ref.sha1, 'store object is corrupt');
}

/** Pack files opened during one task, each once, all closed at its end. */
class OpenPacks {
  private readonly fds = new Map<string, number>();

  read(at: PackedLocation): Buffer {
    let fd = this.fds.get(at.file);
    if (fd === undefined) {
      fd = openSync(at.file, 'r');
      this.fds.set(at.file, fd);
    }
    const bytes = Buffer.allocUnsafeSlow(at.size);
    let got = 0;
    while (got < at.size) {
      const n = readSync(fd, bytes, got, at.size - got, at.offset + got);
      if (n === 0) throw Object.assign(new Error(`${at.file}: pack is truncated`), { code: 'EIO' });
      got += n;
    }
    return bytes;
  }

  close(): void {
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
  }
}

function checked(bytes: Uint8Array, sha1: string, problem: string): ReadResult {
  const actual = createHash('sha1').update(bytes).digest('hex');
  return actual === sha1 ? { bytes } : { error: problem, code: 'CORRUPT_OBJECT', actual };
}

export function readObjects(
  objectsDir: string,
  refs: readonly ObjectRef[],
  cancel?: Int32Array,
): ReadResult[] {
  return eachWithPacks(refs, cancel, (ref, packs) => readVerified(objectsDir, ref, packs));
}

/** Each item is written whole or not at all: a cancel is seen only between items. */
export function restoreFiles(
  objectsDir: string,
  items: readonly RestoreItem[],
  cancel?: Int32Array,
): RestoreResult[] {
  return eachWithPacks(items, cancel, (item, packs) => restoreOne(objectsDir, item, packs));
}

/** `fn` for each of `list` in order, sharing the packs it opens, cancellable in between. */
function eachWithPacks<T, R>(
  list: readonly T[],
  cancel: Int32Array | undefined,
  fn: (item: T, packs: OpenPacks) => R,
): R[] {
  const packs = new OpenPacks();
  try {
    return list.map((item) => {
      throwIfCancelled(cancel);
      return fn(item, packs);
    });
  } finally {
    packs.close();
  }
}

function restoreOne(objectsDir: string, item: RestoreItem, packs: OpenPacks): RestoreResult {
  let temp: string | undefined;
  try {
    const read = item.bytes
      ? checked(item.bytes, item.sha1, 'content does not match its hash')
      : readVerified(objectsDir, item, packs);
    if ('error' in read) return read;
    temp = tempPathIn(dirname(item.target), 'pull');
    writeNewFileSync(temp, read.bytes, item.mode);
    renameSync(temp, item.target);
    return { size: read.bytes.length };
  } catch (err) {
    if (temp) rmSync(temp, { force: true });
    const e = err as NodeJS.ErrnoException;
    return { error: e.message, code: e.code };
  }
}

/**
 * Writes one large loose object out on a worker: 1 MiB chunks read, hashed and written to
 * a temp file beside the target, which is renamed into place only if the hash matched.
 */
export function restoreLargeFile(
  objectsDir: string,
  item: RestoreItem,
  cancel?: Int32Array,
): RestoreResult {
  let source: number;
  try {
    source = openSync(objectPathIn(objectsDir, item.sha1), 'r');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return { error: e.message, code: e.code === 'ENOENT' ? 'MISSING_OBJECT' : e.code };
  }
  const temp = tempPathIn(dirname(item.target), 'pull');
  try {
    const { sha1, size } = copyToNewFileSync(source, temp, item.mode, cancel);
    if (sha1 !== item.sha1) {
      rmSync(temp, { force: true });
      return { error: 'store object is corrupt', code: 'CORRUPT_OBJECT', actual: sha1 };
    }
    renameSync(temp, item.target);
    return { size };
  } catch (err) {
    rmSync(temp, { force: true });
    if (err instanceof Cancelled) throw err;
    const e = err as NodeJS.ErrnoException;
    return { error: e.message, code: e.code };
  } finally {
    closeSync(source);
  }
}
