/**
 * CB wire types (specs/cb-protocol.md), validated at runtime with zod so that the local
 * store, the HTTP server and the client all accept and produce exactly the same shapes.
 */
import { z } from 'zod/v3';
import { SnapupError } from '../errors.js';
import { pathMap, setEntry } from './manifest.js';
import { checkSnapshotPath, folderFileClash } from './paths.js';
import { SHA1_RE } from './sha1.js';

/** Names and tags become file names in the store and URL segments on a server. */
export const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export const permissionsSchema = z.object({ ro: z.boolean(), exe: z.boolean() });
export type Permissions = z.infer<typeof permissionsSchema>;

/** The four possible values, shared: a 100,000-file manifest needs no 100,000 copies. */
const PERMISSIONS: readonly Permissions[] = [
  Object.freeze({ ro: false, exe: false }),
  Object.freeze({ ro: false, exe: true }),
  Object.freeze({ ro: true, exe: false }),
  Object.freeze({ ro: true, exe: true }),
];

/** The shared, frozen permissions object with these bits. */
export function sharedPermissions(ro: boolean, exe: boolean): Permissions {
  return PERMISSIONS[(ro ? 2 : 0) + (exe ? 1 : 0)] as Permissions;
}

/** The file mode a file with these permissions is written with (umask aside). */
export function fileModeOf(p: Permissions): number {
  const base = p.exe ? 0o755 : 0o644;
  return p.ro ? base & ~0o222 : base;
}

export const sha1Schema = z.string().regex(SHA1_RE, 'must be 40 lowercase hex digits');

export const fileEntrySchema = z.object({
  sha1: sha1Schema,
  permissions: permissionsSchema,
  /** Not in the documented API; sent by snapup so listings can report sizes. */
  size: z.number().int().nonnegative().optional(),
});
export type FileEntry = z.infer<typeof fileEntrySchema>;

/**
 * `relative/path` → entry; keys are checked against spec B.6. Checked by hand rather than
 * with a zod record: a 200,000-file manifest is validated on every push, and the
 * per-entry cost of a generic schema was the largest part of that. One pass checks each
 * entry and copies its known fields (a server receiving 50,000 entries made two, ~50 ms each).
 */
export const fileHashesSchema = z.custom<Record<string, FileEntry>>().transform((value, ctx) => {
  const parsed = parseFileHashes(value);
  if (typeof parsed === 'string') {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: parsed });
    return z.NEVER;
  }
  return parsed;
});

/**
 * Like `z.record(z.string(), value)`, but keeping every key: zod's record drops a key named
 * `__proto__`, and a file may have that name.
 */
export function pathRecord<T extends z.ZodTypeAny>(value: T) {
  return z
    .custom<Record<string, z.input<T>>>(
      (v) => typeof v === 'object' && v !== null && !Array.isArray(v),
      'must be an object',
    )
    .transform((map, ctx) => {
      const out = pathMap<z.output<T>>();
      for (const key in map) {
        if (!Object.hasOwn(map, key)) continue;
        const parsed = value.safeParse(map[key]);
        if (!parsed.success) {
          for (const issue of parsed.error.issues)
            ctx.addIssue({ ...issue, path: [key, ...issue.path] } as z.IssueData);
          return z.NEVER;
        }
        setEntry(out, key, parsed.data);
      }
      return out;
    });
}

/**
 * A fileHashes map with only the known fields (nothing a client adds is stored), or what
 * is wrong with it, naming the path.
 */
export function parseFileHashes(value: unknown): Record<string, FileEntry> | string {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return 'must be an object';
  const out = pathMap<FileEntry>();
  for (const path in value) {
    if (!Object.hasOwn(value, path)) continue;
    const problem = checkSnapshotPath(path);
    if (problem) return `${JSON.stringify(path)}: ${problem}`;
    const e = (value as Record<string, unknown>)[path] as Record<string, unknown> | null;
    if (typeof e !== 'object' || e === null) return `${JSON.stringify(path)}: must be an object`;
    if (typeof e.sha1 !== 'string' || !SHA1_RE.test(e.sha1)) {
      return `${JSON.stringify(path)}.sha1: must be 40 lowercase hex digits`;
    }
    const p = e.permissions as Record<string, unknown> | undefined;
    if (
      typeof p !== 'object' ||
      p === null ||
      typeof p.ro !== 'boolean' ||
      typeof p.exe !== 'boolean'
    ) {
      return `${JSON.stringify(path)}.permissions: must be { "ro": boolean, "exe": boolean }`;
    }
    // Shared: a parsed 50,000-file manifest held 50,000 copies of four values.
    const entry: FileEntry = { sha1: e.sha1, permissions: sharedPermissions(p.ro, p.exe) };
    if (e.size !== undefined) {
      if (!(Number.isSafeInteger(e.size) && (e.size as number) >= 0))
        return `${JSON.stringify(path)}.size: must be a whole number of bytes`;
      entry.size = e.size as number;
    }
    setEntry(out, path, entry);
  }
  return folderFileClash(Object.keys(out), (p) => Object.hasOwn(out, p)) ?? out;
}
export type FileHashes = z.output<typeof fileHashesSchema>;

export const ACCESS_LEVELS = ['Invisible', 'Visible', 'ReadWrite'] as const;
export type AccessLevel = (typeof ACCESS_LEVELS)[number];

/** Accepts the docs' `Visisble` misspelling and answers with the right one. */
export const accessLevelSchema = z
  .enum(['Invisible', 'Visible', 'Visisble', 'ReadWrite'])
  .transform((v): AccessLevel => (v === 'Visisble' ? 'Visible' : v));

export const nameSchema = z
  .string()
  .regex(NAME_RE, 'use 1-128 letters, digits, ".", "_" or "-", starting with a letter or digit');

/**
 * The longest expiry accepted: 100 years. Far beyond it a date cannot even be written
 * (JavaScript's ends 275,760 years on), which failed the request as an internal error.
 */
export const MAX_EXPIRATION_SEC = 100 * 365 * 86_400;

/** The A1 request body (also A4's `meta`). Both name spellings are accepted (spec A1). */
export const newSnapshotRequestSchema = z
  .object({
    name: nameSchema.optional(),
    tag: nameSchema.optional(),
    snapshotName: nameSchema.optional(),
    snapshotTag: nameSchema.optional(),
    removeAfterExecute: z.boolean().optional(),
    expirationTimeSec: z
      .number()
      .int()
      .positive()
      .max(MAX_EXPIRATION_SEC, `at most 100 years (${MAX_EXPIRATION_SEC} seconds)`)
      .optional(),
    accessLevel: accessLevelSchema.optional(),
    accessPerUser: z.record(z.string().min(1), accessLevelSchema).optional(),
    fileHashes: fileHashesSchema.optional(),
  })
  .transform(({ snapshotName, snapshotTag, ...rest }) => ({
    ...rest,
    name: rest.name ?? snapshotName,
    tag: rest.tag ?? snapshotTag,
  }));
export type NewSnapshotRequest = z.input<typeof newSnapshotRequestSchema>;
export type NewSnapshotParams = z.output<typeof newSnapshotRequestSchema>;

/** Snapshot metadata as every answer carries it (spec B.12). */
export interface SnapshotMeta {
  name: string;
  tag: string;
  owner: string;
  frozen: boolean;
  createdAt: string;
  expiresAt: string | null;
  removeAfterExecute: boolean;
  accessLevel: AccessLevel;
  accessPerUser: Record<string, AccessLevel>;
  fileCount: number;
  size: number;
  /**
   * Our server's extension: the manifest's digest (protocol/manifest.ts), so a client can
   * tell that a snapshot holds exactly its manifest without sending the manifest again.
   */
  manifestDigest?: string;
}

export interface NewSnapshotResponse {
  snapshot: SnapshotMeta;
  notFound: string[];
}

export interface UploadResponse {
  path: string;
  sha1: string;
  size: number;
}

export interface SnapshotAddress {
  name: string;
  tag: string;
  /** Another owner's snapshot (spec C `?owner=`); the caller's own when left out. */
  owner?: string;
}

/**
 * Parses input with a schema and turns the first problem into a BAD_INPUT error that
 * names the field, e.g. `fileHashes["a/../b"]: path has a ".." segment`.
 */
export function parseOrThrow<S extends z.ZodType>(
  schema: S,
  input: unknown,
  what: string,
): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const field = issue ? formatIssuePath(what, issue.path) : what;
  throw new SnapupError('BAD_INPUT', `${field}: ${issue?.message ?? 'invalid'}`, { field });
}

function formatIssuePath(root: string, path: PropertyKey[]): string {
  let out = root;
  for (const part of path) {
    out += typeof part === 'number' ? `[${part}]` : `[${JSON.stringify(String(part))}]`;
  }
  return out;
}

/** `name/tag`, or `name` alone for its `default` tag. */
export function parseAddress(text: string, field = 'snapshot'): SnapshotAddress {
  const [name, tag = 'default', ...rest] = text.split('/');
  if (rest.length > 0 || !name) {
    throw new SnapupError('BAD_INPUT', `${field}: "${text}" is not NAME or NAME/TAG`, { field });
  }
  checkName(name, `${field} name`);
  checkName(tag, `${field} tag`);
  return { name, tag };
}

export function checkName(value: string, field: string): string {
  if (!NAME_RE.test(value)) {
    throw new SnapupError(
      'BAD_INPUT',
      `${field}: "${value}" is invalid; use 1-128 letters, digits, ".", "_" or "-", starting with a letter or digit`,
      { field },
    );
  }
  return value;
}

export function formatAddress(a: { name: string; tag: string }): string {
  return `${a.name}/${a.tag}`;
}
