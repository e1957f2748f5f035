/**
 * The CB protocol over HTTP (specs/cb-protocol.md): a push target and, where the server
 * offers the Part C extensions, a pull source. Works against a Part A-only server.
 */
import { closeSync, createReadStream, openSync, readSync, statSync } from 'node:fs';
import { Readable } from 'node:stream';
import { z } from 'zod/v3';
import { BATCH_FILE_MAX, splitWithin } from '../engine/plan.js';
import type { OutgoingFile, PullSource, PushTarget, RestoreRequest } from '../engine/target.js';
import { type ErrorCode, errnoError, fsError, SnapupError } from '../errors.js';
import { type BuiltManifest, manifestJson, type PathEntry } from '../protocol/manifest.js';
import { encodePathForUrl } from '../protocol/paths.js';
import type {
  FileHashes,
  NewSnapshotParams,
  NewSnapshotRequest,
  NewSnapshotResponse,
  SnapshotAddress,
  SnapshotMeta,
  UploadResponse,
} from '../protocol/types.js';
import { formatAddress } from '../protocol/types.js';
import type { RestoreResult } from '../store/restore.js';
import { collectBytes } from '../util/collect-bytes.js';
import { distinctBuffers, Slabs } from '../util/slabs.js';
import { TarFormatError, TarReader } from '../util/tar-read.js';
import { TarPieces } from '../util/tar-write.js';
import { verifiedChunks } from '../util/verify.js';
import { runInPool } from '../util/worker-pool.js';
import {
  listAnswer,
  metaAnswer,
  newSnapshotAnswer,
  parseAnswer,
  snapshotAnswer,
} from './answers.js';
import { type RequestSpec, type Response, Transport, type TransportOptions } from './http.js';
import type { Credentials } from './netrc.js';

export interface CbClientOptions extends Omit<TransportOptions, 'baseUrl' | 'headers'> {
  server: string;
  credentials?: Credentials;
}

const healthSchema = z.object({
  extensions: z.array(z.string()).default([]),
  limits: z
    .object({
      maxBatchBytes: z.number().optional(),
      maxBatchEntries: z.number().optional(),
      maxArchiveBytes: z.number().optional(),
      maxJsonBytes: z.number().optional(),
      maxUploadBytes: z.number().optional(),
    })
    .default({}),
  version: z.string().optional(),
});
export type ServerInfo = z.infer<typeof healthSchema>;

const errorBodySchema = z.object({
  error: z.string().optional(),
  message: z.string().optional(),
  missing: z.array(z.string()).optional(),
});

interface BatchAnswer {
  stored: Map<string, UploadResponse>;
  rejected: Map<string, { error: string; message: string }>;
}

/** `{...params, fileHashes}` as JSON text in pieces, the map written from `entries`. */
function* newSnapshotBody(
  params: NewSnapshotRequest,
  entries: readonly PathEntry[],
): Generator<string> {
  const head = JSON.stringify({ ...params, fileHashes: undefined });
  yield head === '{}' ? '{"fileHashes":' : `${head.slice(0, -1)},"fileHashes":`;
  yield* manifestJson(entries);
  yield '}';
}

/**
 * The batch extension's answer, checked by hand: it lists every file of every batch, and
 * a zod schema cost ~1.3 KB of garbage per file (65 MB over a 50,000-file push).
 */
function parseBatchAnswer(body: unknown, origin: string): BatchAnswer {
  const bad = (field: string) =>
    new SnapupError('BAD_RESPONSE', `${origin}: batch upload answer: ${field} is malformed`, {
      field,
    });
  const list = (key: 'stored' | 'rejected'): Record<string, unknown>[] => {
    const value = (body as Record<string, unknown> | null)?.[key];
    if (!Array.isArray(value)) throw bad(key);
    return value;
  };
  const answer: BatchAnswer = { stored: new Map(), rejected: new Map() };
  list('stored').forEach((s, i) => {
    if (typeof s?.path !== 'string' || typeof s.sha1 !== 'string' || typeof s.size !== 'number')
      throw bad(`stored[${i}]`);
    answer.stored.set(s.path, { path: s.path, sha1: s.sha1, size: s.size });
  });
  list('rejected').forEach((r, i) => {
    if (typeof r?.path !== 'string' || typeof r.error !== 'string' || typeof r.message !== 'string')
      throw bad(`rejected[${i}]`);
    answer.rejected.set(r.path, { error: r.error, message: r.message });
  });
  return answer;
}

/** Base64 is made from whole 3-byte groups per chunk, so chunks concatenate. */
const BASE64_CHUNK = 3 * 256 * 1024;

export class CbClient implements PushTarget, PullSource {
  readonly description: string;
  /** A batched file that changed or vanished comes back per file (see uploadBatch). */
  readonly batchChecksSources = true;
  readonly takesBuiltEntries = true;
  readonly transport: Transport;
  /** The user the requests are made as, when credentials were given. */
  readonly user: string | undefined;
  private info: Promise<ServerInfo> | undefined;

  constructor(options: CbClientOptions) {
    const headers: Record<string, string> = { 'user-agent': 'snapup' };
    this.user = options.credentials?.user;
    if (options.credentials) {
      const token = Buffer.from(
        `${options.credentials.user}:${options.credentials.password}`,
      ).toString('base64');
      headers.authorization = `Basic ${token}`;
    }
    this.transport = new Transport({ ...options, baseUrl: options.server, headers });
    this.description = `CB server ${this.transport.baseUrl.origin}`;
  }

  /** What the server offers (`GET /cb/health`); a Part A-only server offers nothing. */
  serverInfo(): Promise<ServerInfo> {
    this.info ??= this.transport
      .request({ method: 'GET', path: '/cb/health', retry: { retries: 1 } })
      .then(async (res) => {
        if (res.status !== 200) {
          await res.body.dump();
          return healthSchema.parse({});
        }
        const parsed = healthSchema.safeParse(await res.body.json().catch(() => null));
        return parsed.success ? parsed.data : healthSchema.parse({});
      })
      .catch((err: unknown) => {
        // Not reached at all (refused, timed out): say so, rather than that the server lacks
        // what was asked for; and ask again next time.
        this.info = undefined;
        throw err;
      });
    return this.info;
  }

  private async requireExtension(name: string, what: string): Promise<void> {
    const info = await this.serverInfo();
    if (!info.extensions.includes(name)) {
      throw new SnapupError(
        'UNSUPPORTED',
        `${this.transport.baseUrl.origin} does not offer ${what} (it lacks the CB "${name}" extension; push still works)`,
      );
    }
  }

  async newSnapshot(
    params: NewSnapshotRequest,
    signal?: AbortSignal,
    built?: BuiltManifest,
  ): Promise<NewSnapshotResponse> {
    if (!built) return this.json(newSnapshotAnswer, 'POST', '/cb/newSnapshot', params, signal);
    // The request's JSON written from the entries, in pieces: no 50,000-key map built
    // only to be serialised, and no one string of all of it.
    const res = await this.transport.request({
      method: 'POST',
      path: '/cb/newSnapshot',
      headers: { 'content-type': 'application/json' },
      body: () => Readable.from(newSnapshotBody(params, built.entries)),
      signal,
    });
    return this.answer(res, 'POST /cb/newSnapshot', undefined, newSnapshotAnswer);
  }

  async upload(
    address: SnapshotAddress,
    file: OutgoingFile,
    signal?: AbortSignal,
  ): Promise<UploadResponse> {
    const res = await this.transport.request({
      method: 'POST',
      path: `${snapshotPath(address)}/files/${encodePathForUrl(file.path)}`,
      query: ownerQuery(address),
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(file.size) },
      // A retry re-opens the file: a consumed stream cannot be replayed.
      body: () => createReadStream(file.abs),
      signal,
    });
    await this.answer(res, `upload of ${file.path}`, file.abs);
    // A 2xx means the server took the bytes as declared (a mismatch is a 422).
    return { path: file.path, sha1: file.sha1, size: file.size };
  }

  async uploadBatch(
    address: SnapshotAddress,
    files: readonly OutgoingFile[],
    signal?: AbortSignal,
  ): Promise<(UploadResponse | Error)[]> {
    const info = await this.serverInfo();
    if (!info.extensions.includes('batch')) {
      // No batch extension: one A2 request per file, in order, each declaring its length.
      const out: (UploadResponse | Error)[] = [];
      for (const f of files) {
        const changed = changedSize(f);
        out.push(changed ?? (await this.upload(address, f, signal).catch((e: Error) => e)));
      }
      return out;
    }
    // The server hashes every entry against the manifest (a changed file comes back as
    // HASH_MISMATCH); the tar reads each file once and skips one that vanished or grew.
    const skipped = new Map<string, Error>();
    const res = await this.transport.request({
      method: 'POST',
      path: `${snapshotPath(address)}/batch`,
      query: ownerQuery(address),
      headers: { 'content-type': 'application/x-tar' },
      // One piece read ahead, not Readable.from's sixteen (4 MiB a batch, 32 with eight in flight).
      body: () => Readable.from(tarOf(files, skipped), { highWaterMark: 1 }),
      signal,
    });
    const { stored, rejected } = parseBatchAnswer(
      await this.answer(res, 'batch upload', undefined, z.unknown()),
      this.transport.baseUrl.origin,
    );
    return files.map((f) => {
      const ok = stored.get(f.path);
      if (ok) return ok;
      const gone = skipped.get(f.path);
      if (gone) return gone;
      const no = rejected.get(f.path);
      const code = (no?.error ?? 'IO') as ErrorCode;
      return new SnapupError(code, `${f.abs}: ${no?.message ?? 'not stored by the server'}`, {
        path: f.abs,
      });
    });
  }

  async single(
    meta: NewSnapshotParams,
    files: readonly OutgoingFile[],
    signal?: AbortSignal,
  ): Promise<NewSnapshotResponse> {
    const res = await this.transport.request({
      method: 'POST',
      path: '/cb/snapshot',
      headers: { 'content-type': 'application/json' },
      body: () => Readable.from(singleBody(meta, files)),
      signal,
    });
    return this.answer(res, 'single-request upload', undefined, newSnapshotAnswer);
  }

  freeze(address: SnapshotAddress, signal?: AbortSignal): Promise<SnapshotMeta> {
    return this.snapshotAction(address, 'freeze', signal);
  }

  /** POST /cb/snapshots/{name}/{tag}/{action}, answered with the snapshot's metadata. */
  private snapshotAction(
    address: SnapshotAddress,
    action: 'freeze' | 'execute',
    signal?: AbortSignal,
  ): Promise<SnapshotMeta> {
    return this.json(
      metaAnswer,
      'POST',
      `${snapshotPath(address)}/${action}`,
      undefined,
      signal,
      ownerQuery(address),
    );
  }

  /** Through the list extension, whose entries our server gives a `manifestDigest`. */
  async frozenWithDigest(
    address: SnapshotAddress,
    digest: string,
    signal?: AbortSignal,
  ): Promise<SnapshotMeta | undefined> {
    if (!(await this.serverInfo()).extensions.includes('list')) return undefined;
    const filter: { owner?: string; name: string } = { name: address.name };
    if (address.owner) filter.owner = address.owner;
    const found = (await this.list(filter, signal)).find((s) => s.tag === address.tag);
    return found?.frozen && found.manifestDigest === digest ? found : undefined;
  }

  async lacks(): Promise<Set<string>> {
    throw new SnapupError(
      'UNSUPPORTED',
      '--dry-run cannot ask a CB server what it lacks without creating a snapshot; use it with the local store',
    );
  }

  async get(
    address: SnapshotAddress,
    signal?: AbortSignal,
  ): Promise<{ snapshot: SnapshotMeta; fileHashes: FileHashes }> {
    await this.requireExtension('get', 'reading snapshots (pull, show)');
    return this.json(
      snapshotAnswer,
      'GET',
      snapshotPath(address),
      undefined,
      signal,
      ownerQuery(address),
    );
  }

  async *read(
    address: SnapshotAddress,
    path: string,
    sha1: string,
    signal?: AbortSignal,
  ): AsyncGenerator<Buffer> {
    await this.requireExtension('download', 'downloads (pull)');
    const url = `${snapshotPath(address)}/files/${encodePathForUrl(path)}`;
    const res = await this.transport.request({
      method: 'GET',
      path: url,
      query: ownerQuery(address),
      signal,
    });
    if (res.status !== 200) await this.answer(res, `download of ${path}`);
    yield* verifiedChunks(res.body, sha1, (actual) => corruptDownload(path, sha1, actual));
  }

  /**
   * Small files of a pull: fetched together with the `archive` extension (one request per
   * batch), else one download each, then written and verified on the worker pool.
   */
  async restoreBatch(
    address: SnapshotAddress,
    items: readonly RestoreRequest[],
    signal?: AbortSignal,
  ): Promise<(number | Error)[]> {
    const info = await this.serverInfo();
    const contents: (Uint8Array | Error)[] = [];
    const slabs = new Slabs();
    if (!info.extensions.includes('archive'))
      contents.push(...(await this.downloadEach(address, items, signal)));
    else {
      const parts = splitWithin(
        items,
        info.limits.maxBatchEntries ?? Number.POSITIVE_INFINITY,
        maxArchive(info),
      );
      for (const part of parts) {
        const oversized = part.length === 1 && (part[0] as RestoreRequest).size > maxArchive(info);
        contents.push(
          ...(await (oversized
            ? this.downloadEach(address, part, signal)
            : this.archive(address, part, slabs, signal))),
        );
      }
    }
    const fetched = items.flatMap((item, i) => {
      const bytes = contents[i];
      return bytes instanceof Uint8Array ? [{ ...item, bytes }] : [];
    });
    // The received files' memory (slabs, or a buffer each) holds nothing else: hand it over.
    const written = await runInPool<RestoreResult[]>(
      'restore',
      { objectsDir: '', items: fetched },
      signal,
      distinctBuffers(fetched.map((f) => f.bytes)),
    );
    let next = 0;
    return items.map((item, i) => {
      const bytes = contents[i];
      if (!(bytes instanceof Uint8Array)) return bytes as Error;
      const r = written[next++] as RestoreResult;
      if (!('error' in r)) return r.size;
      if (r.code === 'CORRUPT_OBJECT') return corruptDownload(item.path, item.sha1, r.actual ?? '');
      return fsError(errnoError(r), item.target, 'write');
    });
  }

  /**
   * POST …/archive: the files' bytes as one tar answer, each in memory taken from `slabs`;
   * a file it lacks is an error.
   */
  private async archive(
    address: SnapshotAddress,
    items: readonly RestoreRequest[],
    slabs: Slabs,
    signal?: AbortSignal,
  ): Promise<(Uint8Array | Error)[]> {
    const res = await this.transport.request({
      method: 'POST',
      path: `${snapshotPath(address)}/archive`,
      query: ownerQuery(address),
      headers: { 'content-type': 'application/json' },
      body: () => JSON.stringify({ paths: items.map((i) => i.path) }),
      signal,
    });
    if (res.status !== 200) await this.answer(res, 'archive download');
    const origin = this.transport.baseUrl.origin;
    const sizes = new Map(items.map((i) => [i.path, i.size]));
    const received = new Map<string, Uint8Array | Error>();
    const tar = new TarReader(res.body);
    try {
      for (let entry = await tar.next(); entry; entry = await tar.next()) {
        const size = sizes.get(entry.name);
        // Only what was asked for is read, and only at its size: a wrong header must not
        // make the client allocate what it says.
        if (entry.type !== 'file' || size === undefined) continue;
        received.set(
          entry.name,
          entry.size === size
            ? await tar.bytes(slabs.take(size))
            : new SnapupError(
                'BAD_RESPONSE',
                `${entry.name}: ${origin} sent ${entry.size} bytes in its archive answer for a file of ${size}`,
                { path: entry.name },
              ),
        );
      }
    } catch (err) {
      if (!(err instanceof TarFormatError)) throw err;
      throw new SnapupError('BAD_RESPONSE', `${origin}: archive answer: ${err.message}`);
    }
    return items.map(
      (item) =>
        received.get(item.path) ??
        new SnapupError(
          'BAD_RESPONSE',
          `${item.path}: ${origin} left this file out of its archive answer`,
          { path: item.path },
        ),
    );
  }

  /** Without `archive`: one download per file (each is small). */
  private async downloadEach(
    address: SnapshotAddress,
    items: readonly RestoreRequest[],
    signal?: AbortSignal,
  ): Promise<(Uint8Array | Error)[]> {
    const out: (Uint8Array | Error)[] = [];
    for (const item of items) {
      out.push(
        await collectBytes(this.read(address, item.path, item.sha1, signal)).catch(
          (err: Error) => err,
        ),
      );
    }
    return out;
  }

  async execute(address: SnapshotAddress, signal?: AbortSignal): Promise<SnapshotMeta> {
    const info = await this.serverInfo();
    if (!info.extensions.includes('execute')) {
      // Nothing to record on a server without the extension; the pull itself succeeded.
      return (await this.get(address, signal)).snapshot;
    }
    return this.snapshotAction(address, 'execute', signal);
  }

  async list(
    filter: { owner?: string; name?: string } = {},
    signal?: AbortSignal,
  ): Promise<SnapshotMeta[]> {
    await this.requireExtension('list', 'listing snapshots');
    const body = await this.json(listAnswer, 'GET', '/cb/snapshots', undefined, signal, filter);
    return body.snapshots;
  }

  async remove(address: SnapshotAddress, signal?: AbortSignal): Promise<void> {
    const res = await this.transport.request({
      method: 'DELETE',
      path: snapshotPath(address),
      query: ownerQuery(address),
      signal,
    });
    if (res.status !== 204 && res.status !== 200)
      await this.answer(res, `removing ${formatAddress(address)}`);
    else await res.body.dump();
  }

  close(): Promise<void> {
    return this.transport.close();
  }

  private async json<T>(
    schema: z.ZodType<T, z.ZodTypeDef, unknown>,
    method: RequestSpec['method'],
    path: string,
    body: unknown,
    signal?: AbortSignal,
    query?: Record<string, string | undefined>,
  ): Promise<T> {
    const res = await this.transport.request({
      method,
      path,
      query,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : () => JSON.stringify(body),
      signal,
    });
    return this.answer(res, `${method} ${path}`, undefined, schema);
  }

  /**
   * The JSON of a 2xx answer checked against `schema` (without one, the answer's body is
   * not read: an A2 answer's is not needed), or the error the status and error body describe.
   */
  private async answer(res: Response, what: string, path?: string): Promise<void>;
  private async answer<T>(
    res: Response,
    what: string,
    path: string | undefined,
    schema: z.ZodType<T, z.ZodTypeDef, unknown>,
  ): Promise<T>;
  private async answer<T>(
    res: Response,
    what: string,
    path?: string,
    schema?: z.ZodType<T, z.ZodTypeDef, unknown>,
  ): Promise<T | undefined> {
    if (res.status >= 200 && res.status < 300) {
      if (!schema) {
        await res.body.dump();
        return undefined;
      }
      const contentType = res.headers['content-type'];
      return parseAnswer(
        await res.body.text(),
        Array.isArray(contentType) ? contentType[0] : contentType,
        schema,
        `${this.transport.baseUrl.origin}: ${what}`,
      );
    }
    const text = await res.body.text().catch(() => '');
    let parsed: z.infer<typeof errorBodySchema> = {};
    try {
      parsed = errorBodySchema.parse(JSON.parse(text));
    } catch {
      // not our JSON: keep the status alone
    }
    const origin = this.transport.baseUrl.origin;
    const detail = parsed.message ?? (text.slice(0, 200) || `HTTP ${res.status}`);
    const data = parsed.missing ? { missing: parsed.missing } : undefined;
    const fail = (code: ErrorCode, message: string) =>
      new SnapupError(code, message, { path, data });
    if (res.status >= 300 && res.status < 400) {
      const location = res.headers.location;
      return Promise.reject(
        fail(
          'BAD_INPUT',
          `${origin}: ${what} was redirected to ${String(location)}; snapup does not follow redirects (credentials must not travel to another host): give that address as --server`,
        ),
      );
    }
    switch (res.status) {
      case 401:
        return Promise.reject(
          fail(
            'UNAUTHORIZED',
            `${origin}: credentials missing or wrong (401); add them to ~/.netrc with "snapup login ${origin} --user NAME", or set SNAPUP_USER/SNAPUP_PASSWORD`,
          ),
        );
      case 403:
        return Promise.reject(fail('FORBIDDEN', `${what}: ${detail}`));
      case 404:
        return Promise.reject(fail('NOT_FOUND', `${what}: ${detail}`));
      case 409: {
        const code =
          parsed.error === 'FROZEN' || parsed.error === 'MISSING_CONTENT'
            ? parsed.error
            : 'CONFLICT';
        return Promise.reject(fail(code, `${what}: ${detail}`));
      }
      case 410:
        return Promise.reject(fail('GONE', `${what}: ${detail}`));
      case 413:
        return Promise.reject(fail('TOO_LARGE', `${what}: ${detail}`));
      case 422:
        return Promise.reject(
          fail('HASH_MISMATCH', `${path ?? what}: the server computed another hash (${detail})`),
        );
      case 507:
        return Promise.reject(
          fail('DISK_FULL', `${origin}: the server is out of space (HTTP 507): ${detail}`),
        );
      default:
        if (res.status >= 400 && res.status < 500)
          return Promise.reject(fail('BAD_INPUT', `${what}: ${detail}`));
        return Promise.reject(
          fail('IO', `${origin}: ${what} failed with HTTP ${res.status}: ${detail}`),
        );
    }
  }
}

function snapshotPath(a: SnapshotAddress): string {
  return `/cb/snapshots/${encodeURIComponent(a.name)}/${encodeURIComponent(a.tag)}`;
}

function ownerQuery(a: SnapshotAddress): Record<string, string | undefined> {
  return { owner: a.owner };
}

/**
 * The A4 body, streamed: `{"meta":…,"files":{"path":{"content":"<base64>",…},…}}` with each
 * file read and encoded in bounded chunks, so memory stays small whatever the threshold.
 */
async function* singleBody(
  meta: NewSnapshotParams,
  files: readonly OutgoingFile[],
): AsyncGenerator<string> {
  yield `{"meta":${JSON.stringify(meta)},"files":{`;
  for (const [i, f] of files.entries()) {
    yield `${i > 0 ? ',' : ''}${JSON.stringify(f.path)}:{"permissions":${JSON.stringify(f.permissions)},"content":"`;
    let carry: Buffer = Buffer.alloc(0);
    for await (const chunk of createReadStream(f.abs, { highWaterMark: BASE64_CHUNK })) {
      const buf = carry.length ? Buffer.concat([carry, chunk as Buffer]) : (chunk as Buffer);
      const whole = buf.length - (buf.length % 3);
      yield buf.subarray(0, whole).toString('base64');
      carry = buf.subarray(whole);
    }
    yield `${carry.toString('base64')}"}`;
  }
  yield '}}';
}

/**
 * A tar of the files (all small: batches take files up to 1 MiB), each read from disk as
 * the body is consumed, straight into the piece being sent (~256 KiB), in synchronous
 * reads (~15 µs for a small file, against ~100 µs for the four async calls).
 */
function* tarOf(files: readonly OutgoingFile[], skipped: Map<string, Error>): Generator<Buffer> {
  const tar = new TarPieces(TAR_PIECE);
  for (const f of files) {
    // Room for one byte more than the scan saw tells a file that grew since.
    let grew = false;
    const added = tar.add(f.path, f.size + 1, (into, at, room) => {
      const size = readInto(f, into, at, room, skipped);
      grew = size === room;
      return grew ? undefined : size;
    });
    if (!added && grew) {
      // Rare: read it again, whole, up to what a batch takes; its entry says what it holds now.
      const bytes = readBatched(f, skipped);
      if (bytes) tar.add(f.path, bytes.length, (into, at) => bytes.copy(into, at));
    }
    yield* tar.take();
  }
  yield* tar.end();
}

const TAR_PIECE = 256 * 1024;

/**
 * Reads up to `room` bytes of a batched file into `into` at `at`; undefined, with the
 * error the push takes as a change kept in `skipped`, when it was removed since the scan
 * (NOT_FOUND: the push then drops it). Other read errors fail the batch.
 */
function readInto(
  f: OutgoingFile,
  into: Buffer,
  at: number,
  room: number,
  skipped: Map<string, Error>,
): number | undefined {
  let fd: number;
  try {
    fd = openSync(f.abs, 'r');
  } catch (err) {
    const gone = vanishedError(err, f);
    if (!gone) throw fsError(err, f.abs, 'read');
    skipped.set(f.path, gone);
    return undefined;
  }
  let size = 0;
  try {
    for (;;) {
      const n = readSync(fd, into, at + size, room - size, null);
      size += n;
      if (n === 0 || size === room) return size;
    }
  } catch (err) {
    throw fsError(err, f.abs, 'read');
  } finally {
    closeSync(fd);
  }
}

/** Reused for batched files that grew since the scan: one read tells whether one still fits a batch. */
let batchScratch: Buffer | undefined;

/**
 * A batched file that grew since the scan, read whole when it still fits a batch (a view
 * of the scratch buffer, valid until the next such file); else undefined, with
 * FILE_CHANGED in `skipped` (re-hashed, then uploaded alone): such a file is never read
 * whole into memory.
 */
function readBatched(f: OutgoingFile, skipped: Map<string, Error>): Buffer | undefined {
  batchScratch ??= Buffer.allocUnsafeSlow(BATCH_FILE_MAX + 1);
  const size = readInto(f, batchScratch, 0, batchScratch.length, skipped);
  if (size === undefined) return undefined;
  if (size > BATCH_FILE_MAX) {
    skipped.set(
      f.path,
      new SnapupError('FILE_CHANGED', `${f.abs}: grew past the batch limit since the scan`, {
        path: f.abs,
      }),
    );
    return undefined;
  }
  return batchScratch.subarray(0, size);
}

/** NOT_FOUND, which the push takes as "removed since the scan", when `err` says so. */
function vanishedError(err: unknown, f: OutgoingFile): SnapupError | undefined {
  const code = (err as NodeJS.ErrnoException).code;
  // A folder on its path replaced by a file is as gone as the file.
  if (code !== 'ENOENT' && code !== 'ENOTDIR') return undefined;
  return fsError({ code: 'ENOENT' }, f.abs, 'read');
}

/**
 * Before an A2 upload, which declares the file's length: the error the push takes as a
 * change (NOT_FOUND, or FILE_CHANGED when the size moved), or undefined when it may go.
 */
function changedSize(f: OutgoingFile): Error | undefined {
  let size: number;
  try {
    size = statSync(f.abs).size;
  } catch (err) {
    return vanishedError(err, f) ?? fsError(err, f.abs, 'read');
  }
  if (size === f.size) return undefined;
  return new SnapupError('FILE_CHANGED', `${f.abs}: changed size since the scan`, {
    path: f.abs,
  });
}

function corruptDownload(path: string, sha1: string, actual: string): SnapupError {
  return new SnapupError(
    'CORRUPT_OBJECT',
    `${path}: the server sent content hashing to ${actual}, not ${sha1}`,
    { path },
  );
}

function maxArchive(info: ServerInfo): number {
  return info.limits.maxArchiveBytes ?? Number.POSITIVE_INFINITY;
}
