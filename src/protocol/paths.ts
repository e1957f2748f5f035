/** Snapshot path rules of spec B.6, shared by every backend and the server. */

export const MAX_PATH_BYTES = 4096;
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

/** Returns what is wrong with a snapshot path, or null when it is acceptable. */
export function checkSnapshotPath(path: string): string | null {
  if (path.length === 0) return 'path is empty';
  if (Buffer.byteLength(path, 'utf8') > MAX_PATH_BYTES) {
    return `path is longer than ${MAX_PATH_BYTES} bytes`;
  }
  if (path.includes('\0')) return 'path contains a NUL byte';
  if (path.includes('\\')) return 'path contains a backslash';
  if (path.startsWith('/')) return 'path is absolute';
  // Printable ASCII is always NFC; only other text pays for normalisation.
  if (!PRINTABLE_ASCII.test(path) && path.normalize('NFC') !== path) {
    return 'path is not NFC-normalised';
  }
  for (const segment of path.split('/')) {
    if (segment === '') return 'path has an empty segment';
    if (segment === '.' || segment === '..') return `path has a "${segment}" segment`;
  }
  return null;
}

/** Percent-encodes each segment of a snapshot path for use in a URL (spec B.6). */
export function encodePathForUrl(path: string): string {
  return path.split('/').map(encodeURIComponent).join('/');
}
