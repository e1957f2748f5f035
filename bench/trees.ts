/**
 * Deterministic benchmark trees, written under the temp dir (never into the repo).
 * Same seed, same bytes: runs and machines compare like with like.
 */
import { mkdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** xorshift32: fast, deterministic, good enough to defeat dedup and compression. */
export class Rng {
  private x: number;
  constructor(seed: number) {
    this.x = seed >>> 0 || 0x9e3779b9;
  }
  next(): number {
    let x = this.x;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.x = x >>> 0;
    return this.x;
  }
  int(min: number, max: number): number {
    return min + (this.next() % (max - min + 1));
  }
  fill(buf: Buffer): Buffer {
    const words = buf.length >>> 2;
    for (let i = 0; i < words; i++) buf.writeUInt32LE(this.next(), i * 4);
    for (let i = words * 4; i < buf.length; i++) buf[i] = this.next() & 0xff;
    return buf;
  }
}

export interface TreeSpec {
  files: number;
  minSize: number;
  maxSize: number;
  folders: number;
  /** Fraction of files whose content repeats an earlier file's. */
  duplicates: number;
  /**
   * Size skew: sizes are exp(lo + u^skew·(hi − lo)) for uniform u, so 1 is log-uniform and
   * larger values make small files commoner (5 gives the `mixed` tree its ~1 GiB).
   */
  skew?: number;
  seed: number;
}

export const TREES = {
  small: { files: 50_000, minSize: 512, maxSize: 8192, folders: 2_000, duplicates: 0.2, seed: 1 },
  mixed: {
    files: 5_000,
    minSize: 1024,
    maxSize: 8 << 20,
    folders: 200,
    duplicates: 0.05,
    seed: 2,
    skew: 5,
  },
  large: { files: 4, minSize: 256 << 20, maxSize: 256 << 20, folders: 1, duplicates: 0, seed: 3 },
} satisfies Record<string, TreeSpec>;

export type TreeName = keyof typeof TREES;

/** Scales a tree down for --quick runs, keeping its shape. */
export function scaled(spec: TreeSpec, factor: number): TreeSpec {
  if (factor >= 1) return spec;
  return {
    ...spec,
    files: Math.max(4, Math.round(spec.files * factor)),
    folders: Math.max(1, Math.round(spec.folders * factor)),
    maxSize: Math.max(spec.minSize, Math.round(spec.maxSize * Math.min(1, factor * 10))),
    minSize: Math.min(
      spec.minSize,
      Math.max(1, Math.round(spec.maxSize * Math.min(1, factor * 10))),
    ),
  };
}

/** Skewed log-uniform sizes (see TreeSpec.skew). */
function sizeFor(rng: Rng, spec: TreeSpec): number {
  if (spec.minSize === spec.maxSize) return spec.minSize;
  const lo = Math.log(spec.minSize);
  const hi = Math.log(spec.maxSize);
  const u = (rng.next() / 0xffffffff) ** (spec.skew ?? 1);
  return Math.round(Math.exp(lo + u * (hi - lo)));
}

export interface WrittenTree {
  root: string;
  files: string[];
  bytes: number;
  uniqueBytes: number;
}

export function writeTree(root: string, spec: TreeSpec): WrittenTree {
  const rng = new Rng(spec.seed);
  const folders: string[] = [];
  for (let i = 0; i < spec.folders; i++) {
    // Nested up to three levels: a/b/c.
    const depth = 1 + (i % 3);
    const parts = [`d${i % 50}`];
    if (depth > 1) parts.push(`e${i % 400}`);
    if (depth > 2) parts.push(`f${i}`);
    folders.push(parts.join('/'));
  }
  const made = new Set<string>();
  const files: string[] = [];
  const earlier: Buffer[] = [];
  let bytes = 0;
  let uniqueBytes = 0;
  const past = new Date(Date.now() - 120_000);
  for (let i = 0; i < spec.files; i++) {
    const folder = folders[i % folders.length] as string;
    if (!made.has(folder)) {
      mkdirSync(join(root, folder), { recursive: true });
      made.add(folder);
    }
    const rel = `${folder}/file-${i}.bin`;
    let content: Buffer;
    if (earlier.length > 0 && rng.next() / 0xffffffff < spec.duplicates) {
      content = earlier[rng.int(0, earlier.length - 1)] as Buffer;
    } else {
      content = rng.fill(Buffer.allocUnsafe(sizeFor(rng, spec)));
      uniqueBytes += content.length;
      // Keep a bounded pool of small contents to duplicate; big ones are not kept in memory.
      if (content.length <= 64 * 1024 && earlier.length < 1000) earlier.push(content);
    }
    const abs = join(root, rel);
    writeFileSync(abs, content);
    utimesSync(abs, past, past);
    files.push(rel);
    bytes += content.length;
  }
  return { root, files, bytes, uniqueBytes };
}

/** Rewrites `fraction` of the files with new content of the same size; returns new bytes. */
export function editTree(
  tree: WrittenTree,
  fraction: number,
  seed: number,
): { files: number; bytes: number } {
  const rng = new Rng(seed);
  const count = Math.max(1, Math.round(tree.files.length * fraction));
  const step = Math.floor(tree.files.length / count);
  let bytes = 0;
  const past = new Date(Date.now() - 60_000);
  for (let k = 0; k < count; k++) {
    const abs = join(tree.root, tree.files[k * step] as string);
    const size = statSync(abs).size;
    writeFileSync(abs, rng.fill(Buffer.allocUnsafe(size)));
    utimesSync(abs, past, past);
    bytes += size;
  }
  return { files: count, bytes };
}
