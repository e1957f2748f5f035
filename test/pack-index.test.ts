/**
 * The pack index file (binary since version 2, version 1 JSON still read) and the table
 * the store keeps its packed objects' locations in.
 */
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ClaimTable } from '../src/store/claims.js';
import { ObjectTable, wordsOf } from '../src/store/object-table.js';
import {
  decodePackIndex,
  encodePackIndex,
  type PackEntry,
  packEntriesOf,
  packTableOf,
} from '../src/store/pack-index-file.js';

const randomSha1 = () => randomBytes(20).toString('hex');

function entries(count: number): PackEntry[] {
  let offset = 0;
  return Array.from({ length: count }, (_, i) => {
    const size = (i * 7919) % 9000;
    const e = { sha1: randomSha1(), offset, size };
    offset += size;
    return e;
  });
}

describe('pack index file', () => {
  it('round-trips entries exactly, large offsets and an empty pack included', () => {
    const many = entries(1000);
    many.push({ sha1: randomSha1(), offset: 2 ** 41 + 3, size: 2 ** 33 + 1 });
    expect(packEntriesOf(decodePackIndex(encodePackIndex(many)))).toEqual(many);
    expect(packEntriesOf(decodePackIndex(encodePackIndex([])))).toEqual([]);
  });

  it('reads a file that does not start on an 8-byte boundary of its buffer', () => {
    const some = entries(5);
    const file = encodePackIndex(some);
    const shifted = Buffer.alloc(file.length + 3);
    file.copy(shifted, 3);
    expect(packEntriesOf(decodePackIndex(shifted.subarray(3)))).toEqual(some);
  });

  it('refuses a file damaged anywhere, cut short, grown, or of another version', () => {
    const file = encodePackIndex(entries(20));
    for (let at = 0; at < file.length; at += 7) {
      const bad = Buffer.from(file);
      bad[at] = (bad[at] as number) ^ 0x10;
      expect(() => decodePackIndex(bad), `byte ${at}`).toThrow();
    }
    expect(() => decodePackIndex(file.subarray(0, file.length - 1))).toThrow(/truncated/);
    expect(() => decodePackIndex(Buffer.concat([file, Buffer.alloc(1)]))).toThrow(/truncated/);
    const v3 = Buffer.from(file);
    v3.writeUInt32LE(3, 8);
    expect(() => decodePackIndex(v3)).toThrow(/version 3/);
    expect(() => decodePackIndex(Buffer.alloc(0))).toThrow(/not a pack index/);
  });

  it('refuses an offset that is not a whole number of bytes, even with a right checksum', () => {
    const file = encodePackIndex(entries(3));
    file.writeDoubleLE(1.5, 16 + 8); // the second offset
    const end = file.length - 20;
    createHash('sha1').update(file.subarray(0, end)).digest().copy(file, end);
    expect(() => decodePackIndex(file)).toThrow(/object 1/);
  });

  it('still reads version 1 (JSON), and refuses a bad entry in it', () => {
    const some = entries(4);
    const json = JSON.stringify({
      version: 1,
      objects: some.map((e) => [e.sha1, e.offset, e.size]),
    });
    expect(packEntriesOf(decodePackIndex(Buffer.from(json)))).toEqual(some);
    const bad = '{"version":1,"objects":[["nothex",0,1]]}';
    expect(() => decodePackIndex(Buffer.from(bad))).toThrow(/objects\[0\]/);
  });

  it('is never written for a hash that is not 40 lowercase hex digits', () => {
    expect(() => packTableOf([{ sha1: 'A'.repeat(40), offset: 0, size: 1 }])).toThrow(/SHA-1/);
    expect(() => packTableOf([{ sha1: 'ab', offset: 0, size: 1 }])).toThrow(/SHA-1/);
  });
});

describe('ObjectTable', () => {
  it('finds every inserted hash with its numbers, and nothing else, across growth', () => {
    const table = new ObjectTable();
    const hashes = Array.from({ length: 30_000 }, randomSha1);
    const words = wordsOf(Buffer.from(hashes.join(''), 'hex'));
    for (let i = 0; i < hashes.length; i++) table.insert(words, 5 * i, i % 7, i);
    expect(table.size).toBe(hashes.length);
    // Checked in one assertion each: 30,000 expect calls take a second.
    const wrong = hashes.filter((h, i) => {
      const entry = table.find(h);
      return entry < 0 || table.first(entry) !== i % 7 || table.second(entry) !== i;
    });
    expect(wrong).toEqual([]);
    const strangers = Array.from({ length: 1000 }, randomSha1);
    expect(strangers.filter((h) => table.find(h) >= 0)).toEqual([]);
  });

  it('keeps the first holder of a hash inserted twice', () => {
    const table = new ObjectTable();
    const h = randomSha1();
    const words = wordsOf(Buffer.from(h, 'hex'));
    table.insert(words, 0, 1, 10);
    table.insert(words, 0, 2, 20);
    expect(table.size).toBe(1);
    const entry = table.find(h);
    expect([table.first(entry), table.second(entry)]).toEqual([1, 10]);
  });

  it('finds nothing for a string that is not 40 hex digits', () => {
    const table = new ObjectTable();
    const h = randomSha1();
    table.insert(wordsOf(Buffer.from(h, 'hex')), 0, 0, 0);
    expect(table.find(h)).toBe(0);
    for (const bad of ['', h.slice(0, 38), `${h}00`, `${h.slice(0, 39)}g`, `zz${h.slice(2)}`])
      expect(table.find(bad), bad).toBe(-1);
    expect(new ObjectTable().find(h)).toBe(-1);
  });

  it('tells apart hashes that share their first 32 bits (one probe slot)', () => {
    const table = new ObjectTable();
    const a = `00000000${randomSha1().slice(8)}`;
    const b = `00000000${randomSha1().slice(8)}`;
    table.insert(wordsOf(Buffer.from(a, 'hex')), 0, 0, 1);
    expect(table.find(b)).toBe(-1);
    table.insert(wordsOf(Buffer.from(b, 'hex')), 0, 0, 2);
    expect(table.second(table.find(a))).toBe(1);
    expect(table.second(table.find(b))).toBe(2);
  });
});

describe('ClaimTable', () => {
  it('claims a hash given as bytes exactly as the same hash given as hex', () => {
    const claims = ClaimTable.create(1000);
    const hashes = Array.from({ length: 500 }, randomSha1);
    const bytes = Buffer.from(hashes.join(''), 'hex');
    hashes.forEach((_, i) => {
      if (i % 2 === 0) expect(claims.claimBytes(bytes, 20 * i)).toBe(true);
    });
    hashes.forEach((h, i) => {
      expect(claims.claim(h)).toBe(i % 2 === 1);
    });
    hashes.forEach((_, i) => {
      expect(claims.claimBytes(bytes, 20 * i)).toBe(false);
    });
  });
});
