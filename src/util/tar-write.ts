/**
 * Writing tar streams of regular files (the bodies of batch uploads) by hand: tar-stream's
 * entry and header encoding cost ~14 µs a file, 0.7 s of the client's CPU in a push of
 * 50,000 small files over HTTP. Reading stays with tar-stream (tar.ts). Headers are ustar;
 * a name too long for ustar's name and prefix fields goes in a PAX `path` record before
 * its header, as GNU tar and tar-stream write it.
 */
const BLOCK = 512;
const NAME_MAX = 100;
const PREFIX_MAX = 155;
/** Eleven octal digits: the largest size a ustar header holds (8 GiB - 1). */
const SIZE_MAX = 0o77777777777;

/** Two zero blocks: the end of an archive. */
export const TAR_END: Buffer = Buffer.alloc(2 * BLOCK);

/** The pieces of one regular file's entry: header(s), content, padding to a block. */
export function tarFileEntry(name: string, content: Uint8Array, mode = 0o644): Uint8Array[] {
  const out: Uint8Array[] = [];
  const path = Buffer.from(name, 'utf8');
  const split = splitName(path);
  if (!split) {
    const record = paxRecord('path', name);
    out.push(header(Buffer.from('PaxHeader'), undefined, record.length, 0o644, 'x'), record);
    pushPadding(out, record.length);
  }
  const [prefix, base] = split ?? [undefined, truncate(path, NAME_MAX)];
  out.push(header(base, prefix, content.byteLength, mode, '0'), content);
  pushPadding(out, content.byteLength);
  return out;
}

function pushPadding(out: Uint8Array[], size: number): void {
  const rest = size % BLOCK;
  if (rest !== 0) out.push(Buffer.alloc(BLOCK - rest));
}

/** ustar's name and prefix for `path`, or undefined when it needs a PAX record. */
function splitName(path: Buffer): [Buffer | undefined, Buffer] | undefined {
  if (path.length <= NAME_MAX) return [undefined, path];
  // A '/' (0x2f) never occurs inside a multi-byte UTF-8 character.
  for (let i = Math.min(path.length - 2, PREFIX_MAX); i > 0; i--) {
    if (path[i] === 0x2f && path.length - i - 1 <= NAME_MAX)
      return [path.subarray(0, i), path.subarray(i + 1)];
  }
  return undefined;
}

/** At most `max` bytes of `bytes`, not cutting a UTF-8 character (readers take the PAX name). */
function truncate(bytes: Buffer, max: number): Buffer {
  let end = Math.min(bytes.length, max);
  while (end > 0 && end < bytes.length && ((bytes[end] ?? 0) & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end);
}

/** `"<length> key=value\n"`, the length counting its own digits. */
function paxRecord(key: string, value: string): Buffer {
  const body = Buffer.byteLength(` ${key}=${value}\n`);
  let length = body + String(body).length;
  if (String(length).length !== String(body).length) length = body + String(length).length;
  return Buffer.from(`${length} ${key}=${value}\n`, 'utf8');
}

function header(
  name: Buffer,
  prefix: Buffer | undefined,
  size: number,
  mode: number,
  type: '0' | 'x',
): Buffer {
  if (size > SIZE_MAX) throw new RangeError(`tar entry of ${size} bytes is too large`);
  const h = Buffer.alloc(BLOCK);
  name.copy(h, 0);
  octal(h, 100, 8, mode);
  octal(h, 108, 8, 0); // uid
  octal(h, 116, 8, 0); // gid
  octal(h, 124, 12, size);
  octal(h, 136, 12, 0); // mtime: the content is what counts
  h.write(type, 156, 'latin1');
  h.write('ustar\0' + '00', 257, 'latin1');
  prefix?.copy(h, 345);
  // The checksum is taken with its own field read as eight spaces.
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += h[i] ?? 0;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return h;
}

/** A zero-padded octal number ending in NUL, filling `width` bytes at `at`. */
function octal(h: Buffer, at: number, width: number, value: number): void {
  h.write(`${value.toString(8).padStart(width - 1, '0')}\0`, at, 'latin1');
}
