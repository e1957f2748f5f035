/** Test helpers: temp folders, trees on disk, and running the built CLI. */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect } from 'vitest';
import { decodePackIndex, type PackEntry, packEntriesOf } from '../src/store/pack-index-file.js';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const CLI = join(ROOT, 'bin', 'snapup.js');

const made: string[] = [];
afterAll(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

export function tempDir(prefix = 'snapup-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}

export interface TreeFile {
  content: string | Buffer;
  mode?: number;
}

/**
 * Writes files (path → content or {content, mode}) under `root`, dated a minute back so
 * that the hash cache does not treat them as racy (see src/hash/cache.ts).
 */
export function writeTree(root: string, files: Record<string, string | Buffer | TreeFile>): void {
  const past = new Date(Date.now() - 60_000);
  for (const [path, spec] of Object.entries(files)) {
    const abs = join(root, ...path.split('/'));
    mkdirSync(dirname(abs), { recursive: true });
    const f = typeof spec === 'string' || Buffer.isBuffer(spec) ? { content: spec } : spec;
    writeFileSync(abs, f.content);
    if (f.mode !== undefined) chmodSync(abs, f.mode);
    utimesSync(abs, past, past);
  }
}

/** Every regular file under `root`: relative path → { sha1, mode }. */
export function readTree(
  root: string,
): Record<string, { sha1: string; mode: number; size: number }> {
  const out: Record<string, { sha1: string; mode: number; size: number }> = {};
  const visit = (dir: string, rel: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const abs = join(dir, e.name);
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) visit(abs, r);
      else if (e.isFile()) {
        const bytes = readFileSync(abs);
        out[r] = { sha1: sha1(bytes), mode: statSync(abs).mode & 0o777, size: bytes.length };
      }
    }
  };
  visit(root, '');
  return out;
}

export function sha1(data: string | Buffer): string {
  return createHash('sha1').update(data).digest('hex');
}

/** Deterministic pseudo-random bytes. */
export function bytes(seed: number, length: number): Buffer {
  const out = Buffer.alloc(length);
  let x = seed * 2654435761 + 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  env?: Record<string, string>;
  /** Prefix the command, e.g. ['unshare', '-rm', ...]. */
  wrap?: string[];
  uid?: number;
  gid?: number;
  /** The working folder of the command. */
  cwd?: string;
  /** Where standard output goes (a file descriptor) instead of being collected. */
  stdout?: number;
  /** Closes the read end of standard output once this many bytes have arrived. */
  closeStdoutAfter?: number;
}

/** Runs the built CLI with an isolated cache dir unless the caller sets one. */
export function runCli(args: string[], options: CliOptions = {}): Promise<CliResult> {
  const argv = [...(options.wrap ?? []), process.execPath, CLI, ...args];
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0] as string, argv.slice(1), {
      env: { ...process.env, NO_COLOR: '1', ...options.env },
      stdio: ['ignore', options.stdout ?? 'pipe', 'pipe'],
      cwd: options.cwd,
      uid: options.uid,
      gid: options.gid,
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d) => {
      stdout += d;
      if (stdout.length >= (options.closeStdoutAfter ?? Infinity)) child.stdout?.destroy();
    });
    child.stderr?.on('data', (d) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/**
 * Asserts that a manifest map lists exactly `files` (path → content), each with its hash,
 * size and the permissions of a file written by writeTree.
 */
export function expectManifestOf(
  map: Record<string, unknown>,
  files: Record<string, string | Buffer>,
): void {
  expect(Object.keys(map).sort()).toEqual(Object.keys(files).sort());
  for (const [path, content] of Object.entries(files))
    expect(map[path], path).toEqual({
      sha1: sha1(content),
      permissions: { ro: false, exe: false },
      size: Buffer.byteLength(content),
    });
}

/** The entries of a pack index file. */
export function readPackIndex(path: string): PackEntry[] {
  return packEntriesOf(decodePackIndex(readFileSync(path)));
}

/** The objects a store holds, loose and packed (each once), to count what was stored. */
export function storedObjects(store: string): string[] {
  const dir = join(store, 'objects');
  const loose = readdirSync(dir).flatMap((shard) => readdirSync(join(dir, shard)));
  const packs = join(store, 'packs');
  const packed = existsSync(packs)
    ? readdirSync(packs)
        .filter((n) => n.endsWith('.idx'))
        .flatMap((n) => readPackIndex(join(packs, n)).map((e) => e.sha1))
    : [];
  return [...new Set([...loose, ...packed])];
}

/**
 * Sends `signal` to a running push once the store holds `count` objects (part of the
 * content arrived); fails if the push ends first.
 */
export function signalWhenStored(
  child: ChildProcess,
  store: string,
  count: number,
  signal: NodeJS.Signals,
): Promise<void> {
  return signalWhen(child, () => storedObjects(store).length >= count, signal);
}

/** Sends `signal` to a running push once `ready()` holds (a throw counts as not yet). */
export function signalWhen(
  child: ChildProcess,
  ready: () => boolean,
  signal: NodeJS.Signals,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = setInterval(() => {
      let now = false;
      try {
        now = ready();
      } catch {
        // store not created yet
      }
      if (now) {
        clearInterval(timer);
        child.kill(signal);
        resolve();
      }
    }, 5);
    child.on('exit', () => {
      clearInterval(timer);
      reject(new Error(`push finished before it could be sent ${signal}`));
    });
  });
}

/** `count` files of `size` distinct bytes each (seeded), spread over `folders` folders. */
export function manyFiles(root: string, count: number, size: number, seed = 0, folders = 7) {
  const files: Record<string, Buffer> = {};
  for (let i = 0; i < count; i++) files[`d${i % folders}/f${i}.bin`] = bytes(seed + i + 1, size);
  writeTree(root, files);
}
