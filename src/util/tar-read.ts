/**
 * Reading tar streams (the bodies of batch uploads on the server, archive answers on the
 * client) by hand, as tar-write.ts writes them: tar-stream's extract cost ~21 µs an entry
 * (~1 s of a server's main thread for a batch upload of 50,000 small files), in its
 * per-entry streams, header objects and octal parsing. Reads ustar and GNU headers, PAX
 * `path` and `size` records and GNU long names; every header's checksum is checked.
 */
import {
  BLOCK,
  CHECKSUM,
  headerSum,
  MAGIC,
  MODE,
  NAME,
  NAME_MAX,
  PREFIX,
  PREFIX_MAX,
  padded,
  SIZE,
  TYPE,
} from './tar-layout.js';

/** PAX records and GNU long names are read whole: a header bigger than this is refused. */
const META_MAX = 1 << 20;
const EMPTY = Buffer.alloc(0);

/** A body that is not a well-formed tar stream; callers say whose body it was. */
export class TarFormatError extends Error {}

export interface TarEntry {
  /** The entry's name as the archive spells it (PAX and GNU long names applied). */
  name: string;
  type: 'file' | 'directory' | 'other';
  size: number;
  mode: number;
}

/**
 * The entries of a tar body, one after the other: `next()` gives the next header (skipping
 * whatever of the previous entry's content was not read), `bytes()` or `content()` its
 * content. The archive must end with its end-of-archive block; what follows is read and
 * dropped, so a connection's body is always consumed.
 */
export class TarReader {
  private readonly source: AsyncIterator<Uint8Array>;
  /** Unread bytes: `chunk` from `at`. */
  private chunk: Buffer = EMPTY;
  private at = 0;
  /** Bytes of the stream consumed before `chunk` (for error messages). */
  private before = 0;
  /** Unread content of the current entry, and the padding after it. */
  private left = 0;
  private padding = 0;
  private ended = false;
  /** A header that spans two chunks is assembled here. */
  private readonly scratch = Buffer.allocUnsafe(BLOCK);

  constructor(body: AsyncIterable<Uint8Array>) {
    this.source = body[Symbol.asyncIterator]();
  }

  /** The next entry, or undefined after the end-of-archive block. */
  async next(): Promise<TarEntry | undefined> {
    if (this.ended) return undefined;
    await this.skip(this.left + this.padding);
    this.left = 0;
    this.padding = 0;
    let paxPath: string | undefined;
    let paxSize: number | undefined;
    let longName: string | undefined;
    for (;;) {
      const start = this.position();
      const [h, base] = await this.header();
      if (isZeroBlock(h, base)) {
        await this.drain();
        return undefined;
      }
      if (!checksumMatches(h, base)) {
        throw new TarFormatError(`not a tar stream: bad header checksum at byte ${start}`);
      }
      const own = sizeField(h, base, start);
      const flag = h[base + TYPE] ?? 0;
      if (flag === 0x78 /* x */ || flag === 0x67 /* g */ || flag === 0x4c /* L */) {
        const meta = await this.meta(own, start);
        // A global header ('g') sets defaults for the whole archive; no writer we take
        // from sends one, and a path in it would name every entry alike: ignored.
        if (flag === 0x78) ({ path: paxPath, size: paxSize } = paxRecords(meta, start));
        else if (flag === 0x4c) longName = cString(meta, 0, meta.length);
        continue;
      }
      // A PAX size is the next entry's, over its header's (which tops out at 8 GiB).
      const size = paxSize ?? own;
      this.left = size;
      this.padding = padded(size) - size;
      return {
        name: paxPath ?? longName ?? ustarName(h, base),
        type:
          flag === 0x30 || flag === 0 || flag === 0x37
            ? 'file'
            : flag === 0x35
              ? 'directory'
              : 'other',
        size,
        mode: octalField(h, base + MODE, 8, start, 'mode'),
      };
    }
  }

  /**
   * The rest of the current entry's content, copied into `out` (as many bytes as are
   * left), or into a buffer of its own.
   */
  async bytes(out: Buffer = Buffer.allocUnsafeSlow(this.left)): Promise<Buffer> {
    if (out.length !== this.left) {
      throw new RangeError(`${this.left} bytes of content are left, not ${out.length}`);
    }
    let filled = 0;
    while (this.left > 0) {
      const piece = await this.piece();
      filled += piece.copy(out, filled);
    }
    return out;
  }

  /** The rest of the current entry's content in pieces, each valid until the next read. */
  async *content(): AsyncGenerator<Buffer> {
    while (this.left > 0) yield await this.piece();
  }

  private position(): number {
    return this.before + this.at;
  }

  /** Up to the rest of the current entry's content from the current chunk. */
  private async piece(): Promise<Buffer> {
    if (this.at === this.chunk.length && !(await this.fill())) throw this.truncated();
    const n = Math.min(this.left, this.chunk.length - this.at);
    const piece = this.chunk.subarray(this.at, this.at + n);
    this.at += n;
    this.left -= n;
    return piece;
  }

  /** The next header block: a view into the chunk, or assembled in `scratch` across two. */
  private async header(): Promise<[Buffer, number]> {
    if (this.chunk.length - this.at >= BLOCK) {
      const base = this.at;
      this.at += BLOCK;
      return [this.chunk, base];
    }
    let have = 0;
    while (have < BLOCK) {
      if (this.at === this.chunk.length && !(await this.fill())) {
        if (have > 0 && this.position() === have) {
          throw new TarFormatError(`not a tar stream: ${have} bytes, less than one header`);
        }
        if (have > 0) throw this.truncated();
        throw new TarFormatError(
          this.position() === 0
            ? 'empty body: not a tar stream'
            : 'tar stream ends without its end-of-archive block (truncated?)',
        );
      }
      const n = Math.min(BLOCK - have, this.chunk.length - this.at);
      this.chunk.copy(this.scratch, have, this.at, this.at + n);
      this.at += n;
      have += n;
    }
    return [this.scratch, 0];
  }

  /** A PAX header's or GNU long name's content, read whole (bounded by META_MAX). */
  private async meta(size: number, start: number): Promise<Buffer> {
    if (size > META_MAX) {
      throw new TarFormatError(
        `tar header at byte ${start}: ${size} bytes of metadata is too much`,
      );
    }
    this.left = size;
    const meta = await this.bytes();
    await this.skip(padded(size) - size);
    return meta;
  }

  private async skip(bytes: number): Promise<void> {
    let rest = bytes;
    while (rest > 0) {
      if (this.at === this.chunk.length && !(await this.fill())) throw this.truncated();
      const n = Math.min(rest, this.chunk.length - this.at);
      this.at += n;
      rest -= n;
    }
  }

  /** Reads what follows the end-of-archive block (a second zero block, record padding). */
  private async drain(): Promise<void> {
    this.ended = true;
    while (await this.fill()) this.at = this.chunk.length;
  }

  /** The next chunk of the body; false at its end. */
  private async fill(): Promise<boolean> {
    for (;;) {
      const { done, value } = await this.source.next();
      if (done) return false;
      if (value.length === 0) continue;
      this.before += this.chunk.length;
      this.chunk = Buffer.isBuffer(value)
        ? value
        : Buffer.from(value.buffer, value.byteOffset, value.length);
      this.at = 0;
      return true;
    }
  }

  private truncated(): TarFormatError {
    return new TarFormatError(
      `tar stream ends inside an entry at byte ${this.position()} (truncated?)`,
    );
  }
}

function isZeroBlock(h: Buffer, base: number): boolean {
  for (let i = base; i < base + BLOCK; i++) if (h[i] !== 0) return false;
  return true;
}

/**
 * The checksum field against the sum of the header's bytes with the field itself read as
 * eight spaces: unsigned, or signed as some old tars summed.
 */
function checksumMatches(h: Buffer, base: number): boolean {
  const stored = octalDigits(h, base + CHECKSUM, 8);
  const sum = headerSum(h, base);
  if (stored === sum) return true;
  let high = 0; // each byte over 127 counts 256 less when signed
  for (let i = base; i < base + BLOCK; i++) if ((h[i] as number) > 127) high++;
  for (let i = base + CHECKSUM; i < base + CHECKSUM + 8; i++) if ((h[i] as number) > 127) high--;
  return stored === sum - 256 * high;
}

/** The size field: octal digits, or GNU's base-256 for sizes of 8 GiB and more. */
function sizeField(h: Buffer, base: number, start: number): number {
  const first = h[base + SIZE] as number;
  if (!(first & 0x80)) return octalField(h, base + SIZE, 12, start, 'size');
  let value = first & 0x7f;
  for (let i = base + SIZE + 1; i < base + SIZE + 12; i++) value = value * 256 + (h[i] as number);
  if (!Number.isSafeInteger(value)) {
    throw new TarFormatError(`tar header at byte ${start}: size is too large`);
  }
  return value;
}

function octalField(h: Buffer, at: number, width: number, start: number, field: string): number {
  const value = octalDigits(h, at, width);
  if (value < 0)
    throw new TarFormatError(`tar header at byte ${start}: ${field} is not an octal number`);
  return value;
}

/** An octal number padded with spaces or NULs; -1 when a byte is anything else. */
function octalDigits(h: Buffer, at: number, width: number): number {
  let i = at;
  const end = at + width;
  while (i < end && h[i] === 0x20) i++;
  let value = 0;
  let digits = 0;
  for (; i < end; i++) {
    const b = h[i] as number;
    if (b === 0 || b === 0x20) break;
    if (b < 0x30 || b > 0x37) return -1;
    value = value * 8 + (b - 0x30);
    digits++;
  }
  for (; i < end; i++) if (h[i] !== 0 && h[i] !== 0x20) return -1;
  return digits === 0 ? 0 : value;
}

/** The name field, joined to the prefix field in POSIX ustar headers ("ustar\0"). */
function ustarName(h: Buffer, base: number): string {
  const name = cString(h, base + NAME, base + NAME + NAME_MAX);
  const posix =
    h[base + MAGIC] === 0x75 && h.toString('latin1', base + MAGIC, base + MAGIC + 6) === 'ustar\0';
  if (!posix || h[base + PREFIX] === 0) return name;
  return `${cString(h, base + PREFIX, base + PREFIX + PREFIX_MAX)}/${name}`;
}

/** UTF-8 text up to the first NUL (or `end`). */
function cString(b: Buffer, start: number, end: number): string {
  let stop = start;
  while (stop < end && b[stop] !== 0) stop++;
  return b.toString('utf8', start, stop);
}

/** A PAX header's `path` and `size` records ("<length> key=value\n" each). */
function paxRecords(meta: Buffer, start: number): { path?: string; size?: number } {
  const out: { path?: string; size?: number } = {};
  let at = 0;
  while (at < meta.length) {
    const space = meta.indexOf(0x20, at);
    const length = space > at ? Number(meta.toString('latin1', at, space)) : Number.NaN;
    const end = at + length;
    const equals = meta.indexOf(0x3d, space);
    if (
      !Number.isSafeInteger(length) ||
      end > meta.length ||
      equals < 0 ||
      equals >= end ||
      meta[end - 1] !== 0x0a
    ) {
      throw new TarFormatError(`tar header at byte ${start}: malformed PAX record`);
    }
    const key = meta.toString('utf8', space + 1, equals);
    const value = meta.toString('utf8', equals + 1, end - 1);
    if (key === 'path') out.path = value;
    else if (key === 'size') {
      const size = Number(value);
      if (!Number.isSafeInteger(size) || size < 0 || !/^\d+$/.test(value)) {
        throw new TarFormatError(`tar header at byte ${start}: PAX size "${value}" is not a size`);
      }
      out.size = size;
    }
    at = end;
  }
  return out;
}
