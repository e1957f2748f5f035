/**
 * The manifest digest names a store's manifest files and decides when two pushes are the
 * same snapshot, so its value must never drift: checked against the definition (SHA-256
 * of the sorted `sha1 perms path` lines, spec B.1) computed here line by line.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  comparePaths,
  digestOfSorted,
  fileHashesOf,
  manifestDigest,
  manifestJson,
  type PathEntry,
} from '../src/protocol/manifest.js';
import { type FileHashes, parseFileHashes } from '../src/protocol/types.js';
import { sha1 } from './helpers.js';

function definition(fileHashes: FileHashes): string {
  const lines = Object.keys(fileHashes)
    .sort(comparePaths)
    .map((path) => {
      const e = fileHashes[path] as FileHashes[string];
      return `${e.sha1} ${e.permissions.ro ? 'r' : '-'}${e.permissions.exe ? 'x' : '-'} ${path}\n`;
    });
  return createHash('sha256').update(lines.join('')).digest('hex');
}

describe('manifest digest', () => {
  it('is the SHA-256 of the sorted lines, for manifests on either side of the batch size', () => {
    for (const count of [0, 1, 511, 512, 513, 1500]) {
      const fileHashes: FileHashes = {};
      for (let i = 0; i < count; i++) {
        // Both sides of the surrogates: code-unit order differs from code-point order there.
        const odd = ['é', '\u{1F600}', '\uFF01', 'Z', '_'][i % 5];
        fileHashes[`dir${i % 13}/${odd} file ${i}`] = {
          sha1: sha1(`content ${i % 50}`),
          permissions: { ro: i % 3 === 0, exe: i % 5 === 0 },
          size: i,
        };
      }
      const want = definition(fileHashes);
      expect(manifestDigest(fileHashes), `${count} files`).toBe(want);
      const sorted = Object.keys(fileHashes)
        .sort(comparePaths)
        .map((path) => ({ path, ...(fileHashes[path] as FileHashes[string]) }));
      expect(digestOfSorted(sorted)).toBe(want);
    }
  });

  it('has the value it always had for a known manifest', () => {
    const fileHashes: FileHashes = {
      'b.txt': { sha1: sha1('b'), permissions: { ro: true, exe: false } },
      'a/x.sh': { sha1: sha1('x'), permissions: { ro: false, exe: true } },
    };
    // Lines: "<sha1 of x> -x a/x.sh\n<sha1 of b> r- b.txt\n"
    expect(manifestDigest(fileHashes)).toBe(
      createHash('sha256')
        .update(`${sha1('x')} -x a/x.sh\n${sha1('b')} r- b.txt\n`)
        .digest('hex'),
    );
  });
});

describe('manifest JSON written from entries', () => {
  it('parses to the map of the entries, whatever the names', () => {
    const names = [
      '__proto__',
      'constructor',
      '123',
      '0',
      'a"b',
      'back\\slash',
      'tab\t',
      'é/日本',
      'z',
    ];
    const entries: PathEntry[] = [...names, 'no-size'].sort(comparePaths).map((path, i) => ({
      path,
      sha1: sha1(path),
      permissions: { ro: i % 2 === 0, exe: i % 3 === 0 },
      ...(path === 'no-size' ? {} : { size: i * 1000 }),
    }));
    const parsed = JSON.parse([...manifestJson(entries)].join('')) as FileHashes;
    expect(parsed).toEqual(fileHashesOf(entries));
    expect(Object.keys(parsed).sort()).toEqual(entries.map((e) => e.path).sort());
    expect(Object.hasOwn(parsed, '__proto__')).toBe(true);
    expect(manifestDigest(parsed)).toBe(digestOfSorted(entries));
    expect([...manifestJson([])].join('')).toBe('{}');
    // Across pieces: 2,500 entries, parsed whole.
    const many: PathEntry[] = Array.from({ length: 2500 }, (_, i) => ({
      path: `f${String(i).padStart(5, '0')}`,
      sha1: sha1(String(i)),
      permissions: { ro: false, exe: false },
      size: i,
    }));
    const pieces = [...manifestJson(many)];
    expect(pieces).toHaveLength(3);
    expect(JSON.parse(pieces.join(''))).toEqual(fileHashesOf(many));
    expect([...manifestJson(many.slice(0, 1000))]).toHaveLength(1);
  });
});

describe('a parsed manifest', () => {
  it('keeps only the known fields and shares one frozen permissions object per value', () => {
    const parsed = parseFileHashes({
      a: { sha1: sha1('a'), permissions: { ro: false, exe: true, extra: 1 }, size: 1, x: 2 },
      b: { sha1: sha1('b'), permissions: { ro: false, exe: true } },
      c: { sha1: sha1('c'), permissions: { ro: true, exe: false } },
    });
    if (typeof parsed === 'string') throw new Error(parsed);
    expect(parsed).toEqual({
      a: { sha1: sha1('a'), permissions: { ro: false, exe: true }, size: 1 },
      b: { sha1: sha1('b'), permissions: { ro: false, exe: true } },
      c: { sha1: sha1('c'), permissions: { ro: true, exe: false } },
    });
    expect(parsed.a?.permissions).toBe(parsed.b?.permissions);
    expect(Object.isFrozen(parsed.c?.permissions)).toBe(true);
  });
});
