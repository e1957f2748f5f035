/** Received contents posted to a worker as columns (store/ingest.ts), and stored from them. */
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fromColumns, ingestFiles, toColumns } from '../src/store/ingest.js';
import { bytes, sha1, tempDir } from './helpers.js';

describe('ingest columns', () => {
  const contents = [bytes(1, 3000), Buffer.alloc(0), bytes(2, 1), bytes(3, 70_000)];
  const items = contents.map((b) => ({ bytes: b, expected: sha1(b) }));

  it('give back the items, in order, as views of one buffer', () => {
    const columns = toColumns(items);
    expect(columns).toBeDefined();
    if (!columns) return;
    expect(columns.data.byteLength).toBe(73_001);
    const back = fromColumns(columns);
    expect(back.map((i) => i.expected)).toEqual(items.map((i) => i.expected));
    back.forEach((item, k) => {
      expect(Buffer.from(item.bytes as Uint8Array).equals(contents[k] as Buffer)).toBe(true);
      expect((item.bytes as Uint8Array).buffer).toBe(columns.data.buffer);
    });
  });

  it('are not made of local files, nor of hashes that are not 40 digits', () => {
    expect(toColumns([...items, { file: '/some/file', expected: sha1('x') }])).toBeUndefined();
    expect(toColumns([{ bytes: Buffer.from('x'), expected: 'abc' }])).toBeUndefined();
  });

  it('store what they hold, and refuse a content that does not match', () => {
    const dir = tempDir();
    const [packDir, tmp] = [join(dir, 'packs'), join(dir, 'tmp')];
    mkdirSync(packDir);
    mkdirSync(tmp);
    const wrong = { bytes: Buffer.from('not it'), expected: sha1('it') };
    const columns = toColumns([...items, wrong]);
    if (!columns) throw new Error('expected columns');
    const { results, pack } = ingestFiles(packDir, tmp, fromColumns(columns));
    expect(results.slice(0, 4)).toEqual(contents.map((b) => ({ sha1: sha1(b), size: b.length })));
    expect(results[4]).toMatchObject({ code: 'HASH_MISMATCH', actual: sha1('not it') });
    expect(pack?.entries.map((e) => e.sha1).sort()).toEqual(contents.map((b) => sha1(b)).sort());
    expect(readdirSync(packDir).sort()).toEqual([`${pack?.id}.idx`, `${pack?.id}.pack`]);
  });
});
