/** Parsing and printing of the values the CLI takes and shows. */
import { SnapupError } from '../errors.js';
import {
  ACCESS_LEVELS,
  type AccessLevel,
  checkName,
  MAX_EXPIRATION_SEC,
} from '../protocol/types.js';

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} ${units[u]}` : `${v.toFixed(1)} ${units[u]}`;
}

/**
 * `part` of `whole` as a percentage with one decimal, never rounded to 0.0% or 100.0%
 * when it is not exactly that: 6 bytes to send of 27 KiB is "<0.1%", not "0.0%".
 */
export function formatShare(part: number, whole: number): string {
  if (whole === 0) return '-';
  const pct = (100 * part) / whole;
  if (part > 0 && pct < 0.05) return '<0.1%';
  if (part < whole && pct >= 99.95) return '>99.9%';
  return `${pct.toFixed(1)}%`;
}

/** Characters that would break a one-file-per-line listing or make a path ambiguous. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it finds
const NEEDS_QUOTES = /[\u0000-\u001f\u007f"\\]/;

/**
 * One line of a file listing (`snapup manifest`, `show --files`): hash, `x`/`r` flags, size,
 * path. A path with a newline, other control character, quote or backslash is printed as a
 * JSON string, as git quotes such names, so that every line is one file.
 */
export function fileLine(
  sha1: string,
  perms: { exe: boolean; ro: boolean },
  size: number | null | undefined,
  path: string,
): string {
  const shown = NEEDS_QUOTES.test(path) ? JSON.stringify(path) : path;
  return `${sha1}  ${perms.exe ? 'x' : '-'}${perms.ro ? 'r' : '-'}  ${String(size ?? '?').padStart(10)}  ${shown}`;
}

export function formatMs(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

const DURATION_UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/** `90`, `30s`, `15m`, `2h`, `7d`, `1w` → seconds, at most `limit` (100 years unless given). */
export function parseDuration(
  text: string,
  field: string,
  limit = { sec: MAX_EXPIRATION_SEC, text: '100 years' },
): number {
  const m = /^(\d+)([smhdw]?)$/.exec(text.trim());
  const value = m ? Number(m[1]) * (DURATION_UNITS[m[2] || 's'] ?? 1) : Number.NaN;
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new SnapupError(
      'BAD_INPUT',
      `${field}: "${text}" is not a duration like 90, 30m, 12h or 7d`,
      { field },
    );
  }
  if (value > limit.sec)
    throw new SnapupError('BAD_INPUT', `${field}: "${text}" is longer than ${limit.text}`, {
      field,
    });
  return value;
}

/** A wait limit: a duration, or 0 to wait for as long as it takes. */
export function parseWaitTimeout(text: string): number {
  return text.trim() === '0' ? 0 : parseDuration(text, 'wait-timeout');
}

/** `1048576`, `512k`, `4M`, `1G` (powers of 1024) → bytes. */
export function parseSize(text: string, field: string): number {
  const m = /^(\d+)([kKmMgG]?)(i?[bB])?$/.exec(text.trim());
  const mult: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };
  const value = m ? Number(m[1]) * (mult[(m[2] ?? '').toLowerCase()] ?? 1) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new SnapupError(
      'BAD_INPUT',
      `${field}: "${text}" is not a size like 1048576, 512k or 4M`,
      { field },
    );
  }
  return value;
}

export function parsePositiveInt(text: string, field: string): number {
  return parseWholeNumber(text, field, 1);
}

/**
 * The most requests or file writes a command keeps in flight: each holds a connection or
 * an open file and its buffers (a pull with 5,000 took 386 MiB where 8 take ~150).
 */
export const MAX_CONCURRENCY = 256;

export function parseConcurrency(text: string): number {
  const n = parsePositiveInt(text, 'concurrency');
  if (n > MAX_CONCURRENCY)
    throw new SnapupError(
      'BAD_INPUT',
      `concurrency: ${n} is more than ${MAX_CONCURRENCY} at once; give 1 to ${MAX_CONCURRENCY}`,
      { field: 'concurrency' },
    );
  return n;
}

/** A folder named by an option: '' would be the working folder to Node. */
export function parseFolder(text: string, field: string): string {
  if (text === '')
    throw new SnapupError('BAD_INPUT', `${field}: an empty path; give a folder`, { field });
  return text;
}

/** A TCP port to listen on: 0 lets the system pick a free one. */
export function parsePort(text: string, field: string): number {
  const port = parseWholeNumber(text, field, 0);
  if (port > 65535)
    throw new SnapupError('BAD_INPUT', `${field}: "${text}" is not a port (0 to 65535)`, { field });
  return port;
}

/** A count that may be 0 (limits, offsets). */
export function parseCount(text: string, field: string): number {
  return parseWholeNumber(text, field, 0);
}

function parseWholeNumber(text: string, field: string, min: number): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isSafeInteger(n) || n < min) {
    throw new SnapupError(
      'BAD_INPUT',
      `${field}: "${text}" must be a whole number of at least ${min}`,
      {
        field,
      },
    );
  }
  return n;
}

export function parseAccessLevel(text: string, field: string): AccessLevel {
  const found = ACCESS_LEVELS.find((l) => l.toLowerCase() === text.toLowerCase());
  if (!found) {
    throw new SnapupError(
      'BAD_INPUT',
      `${field}: "${text}" is not one of ${ACCESS_LEVELS.join(', ')}`,
      { field },
    );
  }
  return found;
}

/** Repeated `--grant USER=LEVEL` → accessPerUser. */
export function parseGrants(grants: readonly string[]): Record<string, AccessLevel> | undefined {
  if (grants.length === 0) return undefined;
  const out: Record<string, AccessLevel> = {};
  for (const g of grants) {
    const eq = g.indexOf('=');
    if (eq <= 0)
      throw new SnapupError('BAD_INPUT', `grant: "${g}" is not USER=LEVEL`, { field: 'grant' });
    const user = checkName(g.slice(0, eq), 'grant user');
    out[user] = parseAccessLevel(g.slice(eq + 1), 'grant level');
  }
  return out;
}

/** A plain-text table with columns padded to their widest cell. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}
