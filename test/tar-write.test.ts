/**
 * The batch uploads' hand-written tar (util/tar-write.ts), read back by the server's reader
 * (tar-stream) and by GNU tar, for names of every length class and sizes around a block.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { entryBytes, tarEntries } from '../src/util/tar.js';
import { TAR_END, tarFileEntry } from '../src/util/tar-write.js';
import { bytes, readTree, sha1, tempDir } from './helpers.js';

const long = (n: number) => 'x'.repeat(n);
const FILES: Record<string, Buffer> = {
  'a.txt': Buffer.from('hello'),
  [long(100)]: bytes(1, 512), // exactly the name field, exactly a block
  [`${long(120)}/${long(90)}`]: bytes(2, 513), // fits ustar's prefix and name
  [long(300)]: bytes(3, 0), // one segment too long for either: a PAX path
  [`deep/${'dir/'.repeat(60)}file.bin`]: bytes(4, 1000), // no split fits 155 + 100
  [`dé/${'日本語'.repeat(25)}.txt`]: bytes(5, 3000), // multi-byte, over 100 bytes
  empty: Buffer.alloc(0),
};

function archive(files: Record<string, Buffer>): Buffer {
  const parts = Object.entries(files).flatMap(([name, content]) => tarFileEntry(name, content));
  return Buffer.concat([...parts, TAR_END]);
}

describe('tar writer', () => {
  it('is read back whole by the server (tar-stream), names and contents', async () => {
    const got: Record<string, Buffer> = {};
    async function* body() {
      yield archive(FILES);
    }
    for await (const entry of tarEntries(body())) {
      expect(entry.header.type).toBe('file');
      got[entry.header.name] = await entryBytes(entry);
    }
    expect(Object.keys(got).sort()).toEqual(Object.keys(FILES).sort());
    for (const [name, content] of Object.entries(FILES))
      expect(got[name]?.equals(content)).toBe(true);
  });

  it('is a valid archive for GNU tar', () => {
    const dir = tempDir();
    const file = join(dir, 'batch.tar');
    // No file system here takes a 300-byte file name (NAME_MAX is 255).
    const { [long(300)]: _tooLong, ...extractable } = FILES;
    writeFileSync(file, archive(extractable));
    const out = join(dir, 'out');
    execFileSync('mkdir', [out]);
    execFileSync('tar', ['-xf', file, '-C', out]);
    const tree = readTree(out);
    expect(Object.keys(tree).sort()).toEqual(Object.keys(extractable).sort());
    for (const [name, content] of Object.entries(extractable))
      expect(tree[name]).toMatchObject({ sha1: sha1(content), size: content.length });
  });
});
