/**
 * Snapshot path rules (spec B.6): the one-pass checker against a plain statement of the
 * rules, on edge cases and on random paths built from the characters that matter.
 */
import { describe, expect, it } from 'vitest';
import { checkSnapshotPath, MAX_PATH_BYTES } from '../src/protocol/paths.js';

/** The rules as written, one by one, in the order the checker reports them. */
function reference(path: string): string | null {
  if (path.length === 0) return 'path is empty';
  if (Buffer.byteLength(path, 'utf8') > MAX_PATH_BYTES)
    return `path is longer than ${MAX_PATH_BYTES} bytes`;
  if (path.includes('\0')) return 'path contains a NUL byte';
  if (path.includes('\\')) return 'path contains a backslash';
  if (path.startsWith('/')) return 'path is absolute';
  if (path.normalize('NFC') !== path) return 'path is not NFC-normalised';
  for (const segment of path.split('/')) {
    if (segment === '') return 'path has an empty segment';
    if (segment === '.' || segment === '..') return `path has a "${segment}" segment`;
  }
  return null;
}

describe('snapshot paths', () => {
  const cases = [
    'a.txt',
    'dir/sub/file.bin',
    '.hidden/..x/...',
    '.',
    '..',
    'a/./b',
    'a/../b',
    'a/.',
    'a/..',
    'a//b',
    'a/',
    '/abs',
    '/',
    'a\\b',
    'nul\0byte',
    '/a\\b\0',
    'tab\there',
    'é.txt',
    'e\u0301.txt',
    '日本語/ファイル',
    'x'.repeat(4096),
    'x'.repeat(4097),
    'é'.repeat(2048),
    'é'.repeat(2049),
    '日'.repeat(1365),
    '日'.repeat(1366),
    `${'a/'.repeat(2047)}a`,
  ];

  it.each(cases.map((c) => [JSON.stringify(c).slice(0, 40), c]))(
    'judges %s as the rules do',
    (_label, path) => {
      expect(checkSnapshotPath(path)).toBe(reference(path));
    },
  );

  it('judges random paths as the rules do', () => {
    const common = ['a', 'b', '/', '.', '.', '~', ' '];
    const rare = ['\\', '\0', 'é', 'e\u0301', '日', '\n'];
    // xorshift32: deterministic, and every bit of it random enough for this.
    let seed = 42;
    const next = () => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return seed >>> 0;
    };
    const verdicts = new Set<string | null>();
    for (let i = 0; i < 20_000; i++) {
      let path = '';
      const length = next() % 12;
      for (let k = 0; k < length; k++) {
        const pick = next() % 40;
        path += pick < 36 ? common[pick % common.length] : rare[next() % rare.length];
      }
      const verdict = checkSnapshotPath(path);
      expect(verdict, JSON.stringify(path)).toBe(reference(path));
      verdicts.add(verdict);
    }
    // Every kind of verdict came up, so each branch was compared.
    expect(verdicts.size).toBeGreaterThanOrEqual(8);
  });
});
