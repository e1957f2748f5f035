/**
 * The tar reader (util/tar-read.ts) on archives written by GNU tar in each of its formats
 * and by tar-stream, split into chunks at every boundary, and on bodies that are damaged,
 * truncated or not tar at all: each such body fails with a TarFormatError naming the byte.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import tarStream from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { collectBytes } from '../src/util/collect-bytes.js';
import { type TarEntry, TarFormatError, TarReader } from '../src/util/tar-read.js';
import { bytes, tempDir } from './helpers.js';

async function* chunksOf(body: Buffer, size = body.length || 1): AsyncGenerator<Buffer> {
  for (let at = 0; at < body.length; at += size) yield body.subarray(at, at + size);
}

/** Every entry with its content, read through bytes() (or content() when `streamed`). */
async function readAll(
  body: AsyncIterable<Uint8Array>,
  streamed = false,
): Promise<(TarEntry & { content: Buffer })[]> {
  const tar = new TarReader(body);
  const out: (TarEntry & { content: Buffer })[] = [];
  for (let entry = await tar.next(); entry; entry = await tar.next()) {
    const content = streamed ? await collectBytes(tar.content()) : await tar.bytes();
    out.push({ ...entry, content });
  }
  return out;
}

const long = (n: number) => 'n'.repeat(n);
/** Names for every way a tar spells them: short, ustar prefix, too long for ustar. */
const FILES: Record<string, Buffer> = {
  'a.txt': Buffer.from('hello'),
  'sub/block.bin': bytes(1, 512),
  'sub/odd.bin': bytes(2, 513),
  [`${long(120)}/${long(90)}`]: bytes(3, 1000),
  [`${long(200)}/x.bin`]: bytes(4, 70_000),
  [`dé/${'日本語'.repeat(8)}.txt`]: bytes(5, 3000),
  empty: Buffer.alloc(0),
};

/** The FILES tree on disk, archived by GNU tar in `format`. */
function gnuTar(format: 'ustar' | 'gnu' | 'pax', files = FILES): Buffer {
  const dir = tempDir();
  const src = join(dir, 'src');
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(join(src, name, '..'), { recursive: true });
    writeFileSync(join(src, name), content);
  }
  const out = join(dir, 'a.tar');
  const names = Object.keys(files).sort();
  execFileSync('tar', [`--format=${format}`, '-cf', out, '-C', src, ...names]);
  return readFileSync(out);
}

function expectFiles(entries: (TarEntry & { content: Buffer })[], files: Record<string, Buffer>) {
  const got = Object.fromEntries(entries.filter((e) => e.type === 'file').map((e) => [e.name, e]));
  expect(Object.keys(got).sort()).toEqual(Object.keys(files).sort());
  for (const [name, content] of Object.entries(files)) {
    expect(got[name]?.size).toBe(content.length);
    expect(got[name]?.content.equals(content)).toBe(true);
  }
}

async function failure(body: Buffer, size?: number): Promise<TarFormatError> {
  const err = await readAll(chunksOf(body, size)).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TarFormatError);
  return err as TarFormatError;
}

/** A header block with a good checksum, for crafting what writers rarely send. */
function header(name: string, size: number | Buffer, type = '0'): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0);
  h.write('0000644\0', 100);
  if (typeof size === 'number') h.write(`${size.toString(8).padStart(11, '0')}\0`, 124);
  else size.copy(h, 124);
  h.write(type, 156);
  h.write('ustar\x0000', 257);
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  return h;
}

const END = Buffer.alloc(1024);

/** FILES (mode 755) after a folder and a symlink, as tar-stream packs them. */
function tarStreamArchive(): AsyncIterable<Buffer> {
  const pack = tarStream.pack();
  pack.entry({ name: 'dir', type: 'directory' });
  pack.entry({ name: 'link', type: 'symlink', linkname: 'a.txt' });
  for (const [name, content] of Object.entries(FILES)) pack.entry({ name, mode: 0o755 }, content);
  pack.finalize();
  return pack as AsyncIterable<Buffer>;
}

describe('tar reader', () => {
  for (const format of ['ustar', 'gnu', 'pax'] as const) {
    it(`reads GNU tar's ${format} format: names, sizes, modes, contents`, async () => {
      // ustar cannot hold a 200-byte folder name: GNU tar refuses the file.
      const files =
        format === 'ustar'
          ? Object.fromEntries(Object.entries(FILES).filter(([n]) => !n.startsWith(long(200))))
          : FILES;
      const entries = await readAll(chunksOf(gnuTar(format, files)));
      expectFiles(entries, files);
      expect(entries.find((e) => e.name === 'a.txt')?.mode).toBe(0o644);
    });
  }

  it('reads tar-stream archives, folders and symlinks as entries that are not files', async () => {
    const entries = await readAll(tarStreamArchive());
    expect(entries.slice(0, 2).map((e) => [e.name, e.type])).toEqual([
      ['dir', 'directory'],
      ['link', 'other'],
    ]);
    expectFiles(entries, FILES);
    expect(entries.find((e) => e.name === 'a.txt')?.mode).toBe(0o755);
  });

  it('gives the same entries whatever the chunks, through bytes() and content()', async () => {
    const body = gnuTar('pax');
    for (const size of [1, 7, 511, 512, 513, 4096, 65_536]) {
      expectFiles(await readAll(chunksOf(body, size)), FILES);
      expectFiles(await readAll(chunksOf(body, size), true), FILES);
    }
  });

  it('skips what of an entry was not read, and reads what follows the end marker', async () => {
    const body = Buffer.concat([gnuTar('gnu'), Buffer.from('trailing bytes after the end')]);
    let read = 0;
    const source = (async function* () {
      for await (const c of chunksOf(body, 1000)) {
        read += c.length;
        yield c;
      }
    })();
    const tar = new TarReader(source);
    const names: string[] = [];
    for (let entry = await tar.next(); entry; entry = await tar.next()) {
      names.push(entry.name);
      // Read one piece of the big file only; the others not at all.
      if (entry.size > 10_000) await tar.content().next();
    }
    expect(names.sort()).toEqual(Object.keys(FILES).sort());
    expect(read).toBe(body.length);
    expect(await tar.next()).toBeUndefined();
  });

  it('takes PAX sizes and GNU base-256 sizes over the header field', async () => {
    const content = bytes(6, 600);
    const record = Buffer.from('12 size=600\n');
    const pax = Buffer.concat([header('PaxHeader', record.length, 'x'), record, Buffer.alloc(500)]);
    const base256 = Buffer.alloc(12);
    base256[0] = 0x80;
    base256.writeUInt16BE(600, 10);
    const padded = Buffer.concat([content, Buffer.alloc(424)]);
    // A GNU long name between a PAX size and its entry is read at its own size.
    const name = Buffer.from(`${'l'.repeat(150)}\0`);
    const longName = Buffer.concat([header('././@LongLink', name.length, 'L'), name]);
    const body = Buffer.concat([
      ...[pax, header('p', 0), padded, header('b', base256), padded],
      ...[pax, longName, Buffer.alloc(512 - name.length), header('short', 0), padded, END],
    ]);
    const entries = await readAll(chunksOf(body, 100));
    expect(entries.map((e) => [e.name, e.size, e.content.equals(content)])).toEqual([
      ['p', 600, true],
      ['b', 600, true],
      ['l'.repeat(150), 600, true],
    ]);
  });

  it('refuses a damaged header, naming the byte where it starts', async () => {
    const body = gnuTar('ustar', { 'a.txt': Buffer.from('hello'), 'b.txt': Buffer.from('bye') });
    const damaged = Buffer.from(body);
    damaged[1024 + 10] = (damaged[1024 + 10] as number) ^ 1; // the second header's name
    expect((await failure(damaged)).message).toMatch(/bad header checksum at byte 1024/);
    const notOctal = header('x', 0);
    notOctal.write('12x', 124);
    expect((await failure(Buffer.concat([notOctal, END]))).message).toMatch(/checksum|size/);
  });

  it('refuses a body that is not tar, is empty, or is cut anywhere', async () => {
    expect((await failure(Buffer.from('{"files": {}}'.repeat(100)))).message).toMatch(
      /not a tar stream/,
    );
    expect((await failure(Buffer.alloc(0))).message).toMatch(/empty body/);
    // tar-stream writes no record padding: the end marker is the last 1,024 bytes.
    const body = await collectBytes(tarStreamArchive());
    const dataEnd = body.length - 1024;
    expect((await failure(body.subarray(0, 100))).message).toMatch(
      /100 bytes, less than one header/,
    );
    for (const cut of [512, 700, 1024, 5000, dataEnd - 1, dataEnd, dataEnd + 511]) {
      expect((await failure(body.subarray(0, cut), 300)).message).toMatch(/truncated/);
    }
  });

  it('either reads or refuses with a TarFormatError any damage to an archive', async () => {
    // The server reads what any client sends: bytes flipped anywhere, at a fixed seed.
    const body = await collectBytes(tarStreamArchive());
    let seed = 12345;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    let refused = 0;
    for (let round = 0; round < 300; round++) {
      const damaged = Buffer.from(body);
      const at = Math.floor(random() * Math.min(damaged.length, 4096));
      for (let k = 0; k < 1 + Math.floor(random() * 4); k++)
        damaged[at + k] = Math.floor(random() * 256);
      const cut = random() < 0.3 ? Math.floor(random() * damaged.length) : damaged.length;
      const outcome: Awaited<ReturnType<typeof readAll>> | Error = await readAll(
        chunksOf(damaged.subarray(0, cut), 333),
      ).catch((err: Error) => err);
      if (outcome instanceof Error) {
        expect(outcome).toBeInstanceOf(TarFormatError);
        refused++;
      } else {
        // Read whole: every entry has exactly the bytes its header promised.
        for (const e of outcome) expect(e.content.length).toBe(e.size);
      }
    }
    expect(refused).toBeGreaterThan(50);
  });

  it('refuses PAX metadata over its bound instead of buffering it', async () => {
    const big = header('PaxHeader', 64 << 20, 'x');
    expect((await failure(Buffer.concat([big, Buffer.alloc(4096)]))).message).toMatch(/too much/);
    const bad = Buffer.from('99 path=x\n');
    const body = Buffer.concat([header('PaxHeader', bad.length, 'x'), bad, Buffer.alloc(502), END]);
    expect((await failure(body)).message).toMatch(/malformed PAX record/);
  });
});
