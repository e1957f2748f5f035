/**
 * The ustar header block as POSIX lays it out, for the reader (tar-read.ts) and the writer
 * (tar-write.ts): field offsets within a header, and how content is padded.
 */
export const BLOCK = 512;

export const NAME = 0;
export const NAME_MAX = 100;
export const MODE = 100;
export const UID = 108;
export const GID = 116;
/** Twelve bytes: eleven octal digits and a NUL, or GNU's base-256 with the top bit set. */
export const SIZE = 124;
export const MTIME = 136;
/** Eight bytes, counted as spaces in the sum it holds. */
export const CHECKSUM = 148;
export const TYPE = 156;
/** "ustar\0" and version "00" in POSIX headers ("ustar  \0" in GNU's). */
export const MAGIC = 257;
export const PREFIX = 345;
export const PREFIX_MAX = 155;

/** `size` rounded up to whole blocks. */
export function padded(size: number): number {
  return Math.ceil(size / BLOCK) * BLOCK;
}

/**
 * The sum a header's checksum field holds: every byte of the block at `base`, with the
 * field itself counted as eight spaces.
 */
export function headerSum(h: Uint8Array, base: number): number {
  let sum = 8 * 0x20;
  for (let i = base; i < base + CHECKSUM; i++) sum += h[i] as number;
  for (let i = base + CHECKSUM + 8; i < base + BLOCK; i++) sum += h[i] as number;
  return sum;
}
