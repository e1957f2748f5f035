/**
 * The batch uploads' hand-written tar (util/tar-write.ts), read back by the server's reader
 * (util/tar-read.ts), by tar-stream and by GNU tar, for names of every length class and
 * sizes around a block.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import tarStream from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { collectBytes } from '../src/util/collect-bytes.js';
import { TarReader } from '../src/util/tar-read.js';
import { TarPieces } from '../src/util/tar-write.js';
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

/** The archive's pieces; `skip` names files whose fill declines (left out). */
function pieces(files: Record<string, Buffer>, pieceSize?: number, skip?: string): Buffer[] {
  const tar = new TarPieces(pieceSize);
  const out: Buffer[] = [];
  for (const [name, content] of Object.entries(files)) {
    const added = tar.add(name, content.length, (into, at, room) => {
      expect(room).toBe(content.length);
      // Garbage where the content goes: whatever is left in the piece must not matter.
      into.fill(0xff, at, at + room);
      return name === skip ? undefined : content.copy(into, at);
    });
    expect(added).toBe(name !== skip);
    out.push(...tar.take());
  }
  return [...out, ...tar.end()];
}

function archive(files: Record<string, Buffer>): Buffer {
  return Buffer.concat(pieces(files));
}

function expectFiles(got: Record<string, Buffer>, files: Record<string, Buffer>): void {
  expect(Object.keys(got).sort()).toEqual(Object.keys(files).sort());
  for (const [name, content] of Object.entries(files))
    expect(got[name]?.equals(content)).toBe(true);
}

describe('tar writer', () => {
  it('is read back whole by the server, names and contents', async () => {
    const got: Record<string, Buffer> = {};
    const whole = archive(FILES);
    const tar = new TarReader(
      (async function* () {
        yield whole;
      })(),
    );
    for (let entry = await tar.next(); entry; entry = await tar.next()) {
      expect(entry.type).toBe('file');
      expect(entry.mode).toBe(0o644);
      got[entry.name] = await tar.bytes();
    }
    expectFiles(got, FILES);
  });

  it('is read back whole by tar-stream', async () => {
    const got: Record<string, Buffer> = {};
    const extract = tarStream.extract();
    extract.end(archive(FILES));
    for await (const entry of extract) got[entry.header.name] = await collectBytes(entry);
    expectFiles(got, FILES);
  });

  it('writes each header field as ustar lays it out, the checksum over the whole block', () => {
    const tar = new TarPieces();
    tar.add(
      `${'p'.repeat(120)}/name.txt`,
      70_000,
      (into, at) => {
        into.fill(1, at, at + 70_000);
        return 70_000;
      },
      0o755,
    );
    const h = Buffer.concat([...tar.take(), ...tar.end()]).subarray(0, 512);
    const field = (at: number, width: number) => h.toString('latin1', at, at + width);
    expect(field(0, 9)).toBe('name.txt\0');
    expect(field(100, 8)).toBe('0000755\0');
    expect(field(108, 16)).toBe('0000000\x000000000\0');
    expect(field(124, 12)).toBe(`${(70_000).toString(8).padStart(11, '0')}\0`);
    expect(field(136, 12)).toBe('00000000000\0');
    expect(field(156, 1)).toBe('0');
    expect(field(257, 8)).toBe('ustar\x0000');
    expect(field(345, 121)).toBe(`${'p'.repeat(120)}\0`);
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : (h[i] as number);
    expect(field(148, 8)).toBe(`${sum.toString(8).padStart(6, '0')}\0 `);
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

  it('gives the same bytes in pieces of any size, none much larger than asked', () => {
    const whole = archive(FILES);
    expect(whole.length % 512).toBe(0);
    for (const size of [512, 1000, 4096, 1 << 20]) {
      const parts = pieces(FILES, size);
      expect(Buffer.concat(parts).equals(whole)).toBe(true);
      // The largest entry here (3,000 bytes, a PAX record and two headers) takes 4.5 KiB.
      for (const p of parts) expect(p.length).toBeLessThanOrEqual(Math.max(size, 4608));
      if (size < 4096) expect(parts.length).toBeGreaterThan(3);
    }
    // An entry larger than a piece gets a piece of its own size, not a failure.
    const big = { 'big.bin': bytes(9, 10_000) };
    expect(Buffer.concat(pieces(big, 1024)).equals(archive(big))).toBe(true);
  });

  it('leaves out, without a trace, a file whose content is declined', () => {
    const { 'a.txt': _a, ...rest } = FILES;
    for (const size of [512, 1 << 20])
      expect(Buffer.concat(pieces(FILES, size, 'a.txt')).equals(archive(rest))).toBe(true);
  });

  it('takes a file shorter than the room it was given, and refuses one longer', () => {
    const tar = new TarPieces();
    tar.add('short', 100, (into, at) => Buffer.from('abc').copy(into, at));
    expect(() => tar.add('long', 2, () => 3)).toThrow(RangeError);
    const parts = [...tar.take(), ...tar.end()];
    expect(Buffer.concat(parts).equals(archive({ short: Buffer.from('abc') }))).toBe(true);
  });
});
