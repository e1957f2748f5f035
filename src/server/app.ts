/**
 * The reference CB server: spec Parts A, B and C over HTTP, on the same Store the local
 * backend uses. fastify gives us JSON body limits, content-type parsers that hand raw
 * upload streams through untouched, and structured logs.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { z } from 'zod/v3';
import { isSnapupError, SnapupError } from '../errors.js';
import { setEntry } from '../protocol/manifest.js';
import { checkSnapshotPath } from '../protocol/paths.js';
import {
  type FileEntry,
  fileModeOf,
  parseOrThrow,
  pathRecord,
  permissionsSchema,
  type SnapshotAddress,
  type UploadResponse,
} from '../protocol/types.js';
import type { BatchFile, SingleFile, Store } from '../store/store.js';
import { Slabs } from '../util/slabs.js';
import { TarFormatError, TarReader } from '../util/tar-read.js';
import { TarPieces } from '../util/tar-write.js';
import type { UserStore } from './users.js';

export const SERVER_VERSION = '0.1.0';
export const EXTENSIONS = [
  'health',
  'list',
  'get',
  'download',
  'execute',
  'batch',
  'archive',
] as const;

export interface ServerLimits {
  /** Largest JSON body (newSnapshot, A4). 64 MiB holds a ~450,000-file manifest. */
  maxJsonBytes: number;
  /** Largest single A2 upload. */
  maxUploadBytes: number;
  maxBatchBytes: number;
  maxBatchEntries: number;
  /**
   * Largest archive answer: it is read into memory whole (its files are small), so this
   * bounds a request's memory. A pull asks for 8 MiB at a time.
   */
  maxArchiveBytes: number;
  /** Uploads (A2, batch, A4) in flight at once before answering 503. */
  maxInflightUploads: number;
}

export const DEFAULT_LIMITS: ServerLimits = {
  maxJsonBytes: 64 << 20,
  maxUploadBytes: 16 * 1024 ** 3,
  maxBatchBytes: 256 << 20,
  maxBatchEntries: 10_000,
  maxArchiveBytes: 16 << 20,
  maxInflightUploads: 64,
};

export interface ServerOptions {
  store: Store;
  users: UserStore;
  limits?: Partial<ServerLimits>;
  logger?: boolean;
  /** Told of what the operator should see (a users file that became unreadable). */
  onWarning?: (message: string) => void;
  /** A connection silent this long is closed (DEFAULT_IDLE_TIMEOUT_MS). */
  idleTimeoutMs?: number;
}

/**
 * A client that stops sending in the middle of an upload (its machine suspended, a link
 * gone without a reset) held an upload slot and a temp file forever: 64 of them and every
 * upload was refused. Two minutes without a byte closes the connection; a slow link still
 * sends within that.
 */
export const DEFAULT_IDLE_TIMEOUT_MS = 120_000;

declare module 'fastify' {
  interface FastifyRequest {
    user: string;
  }
}

const archiveBodySchema = z.object({ paths: z.array(z.string()).min(1) });

const singleBodySchema = z.object({
  meta: z.unknown().optional(),
  files: pathRecord(z.object({ content: z.string(), permissions: permissionsSchema })).optional(),
});

type AddressParams = { name: string; tag: string; '*'?: string };
type OwnerQuery = { owner?: string };

export function buildServer(options: ServerOptions): FastifyInstance {
  const limits: ServerLimits = { ...DEFAULT_LIMITS, ...options.limits };
  const idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  const { store, users } = options;
  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit: limits.maxJsonBytes,
    connectionTimeout: idleTimeoutMs,
    // Paths inside snapshots can be long (spec B.6 allows 4096 bytes, percent-encoded).
    routerOptions: { maxParamLength: 16 * 1024 },
    return503OnClosing: true,
    // A manifest's keys are file paths, and a file may be named __proto__: the parsed body
    // keeps it as an own key (JSON.parse does), and every map built from it is built with
    // setEntry, never by merging the body into another object.
    onProtoPoisoning: 'ignore',
  });
  app.decorateRequest('user', '');

  // The idle timeout is for clients stalled in their request. The request each connection
  // is on tells them from a server still working on its answer (a freeze's fsync of a large
  // snapshot can take minutes), which keeps its connection. Recorded by the onRequest hook.
  const requestOn = new WeakMap<Socket, IncomingMessage>();
  app.server.on('timeout', (socket: Socket) => {
    if (requestOn.get(socket)?.complete === true) socket.setTimeout(idleTimeoutMs);
    else socket.destroy();
  });

  // Raw bodies (A2 uploads, batch tars) are handed over as streams, never buffered.
  app.addContentTypeParser('*', (_req, payload, done) => done(null, payload));

  app.setErrorHandler((err, _req, reply) => sendError(reply, err, limits.maxJsonBytes));
  app.setNotFoundHandler((req, reply) =>
    reply
      .code(404)
      .send({ error: 'NOT_FOUND', message: `no such endpoint: ${req.method} ${req.url}` }),
  );

  const warn = options.onWarning ?? ((message: string) => app.log.warn(message));
  app.addHook('onRequest', async (req, reply) => {
    requestOn.set(req.raw.socket, req.raw);
    if (req.url === '/cb/health') return;
    // Users added or removed with `snapup user` while the server runs count at once.
    await users.refresh((err) =>
      warn(`${err instanceof Error ? err.message : String(err)}; the users read before stay`),
    );
    const user = await authenticate(req, users);
    if (!user) {
      reply.header('WWW-Authenticate', 'Basic realm="snapup", charset="UTF-8"');
      return reply
        .code(401)
        .send({ error: 'UNAUTHORIZED', message: 'missing or wrong credentials' });
    }
    req.user = user;
  });

  let inflight = 0;
  /** Bounds uploads in flight: over the limit, 503 with Retry-After instead of falling over. */
  const guardUpload = async (reply: FastifyReply, fn: () => Promise<unknown>) => {
    if (inflight >= limits.maxInflightUploads) {
      reply.header('Retry-After', '1');
      return reply
        .code(503)
        .send({ error: 'OVERLOADED', message: 'too many uploads in flight; retry shortly' });
    }
    inflight++;
    try {
      return await fn();
    } finally {
      inflight--;
    }
  };

  app.get('/cb/health', async () => ({
    status: 'ok',
    version: SERVER_VERSION,
    extensions: EXTENSIONS,
    limits: {
      maxJsonBytes: limits.maxJsonBytes,
      maxUploadBytes: limits.maxUploadBytes,
      maxBatchBytes: limits.maxBatchBytes,
      maxBatchEntries: limits.maxBatchEntries,
      maxArchiveBytes: limits.maxArchiveBytes,
    },
  }));

  // A1
  app.post('/cb/newSnapshot', async (req) => {
    return store.newSnapshot(req.user, jsonBody(req));
  });

  // A4
  app.post('/cb/snapshot', async (req, reply) =>
    guardUpload(reply, async () => {
      const body = parseOrThrow(singleBodySchema, jsonBody(req), 'body');
      const files: Record<string, SingleFile> = {};
      for (const [path, f] of Object.entries(body.files ?? {})) {
        if (!/^[A-Za-z0-9+/]*={0,2}$/.test(f.content)) {
          throw new SnapupError('BAD_INPUT', `files[${JSON.stringify(path)}].content: not base64`, {
            field: 'files',
          });
        }
        setEntry(files, path, {
          content: { bytes: Buffer.from(f.content, 'base64') },
          permissions: f.permissions,
        });
      }
      return store.single(req.user, (body.meta ?? {}) as Record<string, unknown>, files);
    }),
  );

  // A2
  app.post<{ Params: AddressParams; Querystring: OwnerQuery }>(
    '/cb/snapshots/:name/:tag/files/*',
    async (req, reply) =>
      guardUpload(reply, async () => {
        const address = addressOf(req);
        const path = filePath(req);
        const declared = Number(req.headers['content-length'] ?? Number.NaN);
        if (declared > limits.maxUploadBytes)
          throw tooLarge(`upload of ${declared} bytes`, limits.maxUploadBytes);
        const stream = limitStream(req.body as Readable, limits.maxUploadBytes);
        const size = Number.isSafeInteger(declared) ? declared : undefined;
        const stored = await store.upload(req.user, address, path, { stream, size });
        return reply.code(201).send(stored);
      }),
  );

  // A3
  app.post<{ Params: AddressParams; Querystring: OwnerQuery }>(
    '/cb/snapshots/:name/:tag/freeze',
    async (req) => store.freeze(req.user, addressOf(req)),
  );

  // A5
  app.delete<{ Params: AddressParams; Querystring: OwnerQuery }>(
    '/cb/snapshots/:name/:tag',
    async (req, reply) => {
      await store.remove(req.user, addressOf(req));
      return reply.code(204).send();
    },
  );

  // C: list
  app.get<{ Querystring: { owner?: string; name?: string } }>('/cb/snapshots', async (req) => {
    const filter: { owner?: string; name?: string } = {};
    if (req.query.owner) filter.owner = req.query.owner;
    if (req.query.name) filter.name = req.query.name;
    return { snapshots: await store.list(req.user, filter) };
  });

  // C: one snapshot with its manifest
  app.get<{ Params: AddressParams; Querystring: OwnerQuery }>(
    '/cb/snapshots/:name/:tag',
    async (req) => {
      const { snapshot, fileHashes } = await store.get(req.user, addressOf(req));
      return { ...snapshot, fileHashes };
    },
  );

  // C: a file's bytes
  app.get<{ Params: AddressParams; Querystring: OwnerQuery }>(
    '/cb/snapshots/:name/:tag/files/*',
    async (req, reply) => {
      const path = filePath(req);
      // fileEntries answers one entry per path, or throws NOT_FOUND.
      const [entry] = (await store.fileEntries(req.user, addressOf(req), [path])) as [FileEntry];
      const etag = `"${entry.sha1}"`;
      if (req.headers['if-none-match'] === etag) return reply.code(304).send();
      reply.header('ETag', etag).header('Content-Type', 'application/octet-stream');
      if (entry.size !== undefined) reply.header('Content-Length', String(entry.size));
      return reply.send(Readable.from(store.readObject(entry.sha1)));
    },
  );

  // C: archive — many small files in one answer, as a tar stream (a pull's batches)
  app.post<{ Params: AddressParams; Querystring: OwnerQuery }>(
    '/cb/snapshots/:name/:tag/archive',
    async (req, reply) => {
      const { paths } = parseOrThrow(archiveBodySchema, jsonBody(req), 'body');
      if (paths.length > limits.maxBatchEntries) {
        throw new SnapupError(
          'TOO_LARGE',
          `archive of ${paths.length} files is over the server's limit of ${limits.maxBatchEntries}`,
        );
      }
      const entries = await store.fileEntries(req.user, addressOf(req), paths);
      const bytes = entries.reduce((sum, e) => sum + (e.size ?? 0), 0);
      if (bytes > limits.maxArchiveBytes)
        throw tooLarge(`archive of ${bytes} bytes`, limits.maxArchiveBytes);
      const contents = await store.readObjects(entries.map((e) => e.sha1));
      return reply
        .header('Content-Type', 'application/x-tar')
        .send(archiveOf(paths, entries, contents));
    },
  );

  // C: execute
  app.post<{ Params: AddressParams; Querystring: OwnerQuery }>(
    '/cb/snapshots/:name/:tag/execute',
    async (req) => store.execute(req.user, addressOf(req)),
  );

  // C: batch of files as a tar stream
  app.post<{ Params: AddressParams; Querystring: OwnerQuery }>(
    '/cb/snapshots/:name/:tag/batch',
    async (req, reply) =>
      guardUpload(reply, async () => {
        const address = addressOf(req);
        const declared = Number(req.headers['content-length'] ?? Number.NaN);
        if (declared > limits.maxBatchBytes)
          throw tooLarge(`batch of ${declared} bytes`, limits.maxBatchBytes);
        return receiveBatch(
          store,
          req.user,
          address,
          limitStream(req.body as Readable, limits.maxBatchBytes),
          limits,
        );
      }),
  );

  return app;
}

function jsonBody(req: FastifyRequest): Record<string, unknown> {
  const type = req.headers['content-type'] ?? '';
  if (!type.startsWith('application/json')) {
    throw new SnapupError('BAD_INPUT', 'body: send JSON with Content-Type: application/json', {
      field: 'body',
    });
  }
  if (typeof req.body !== 'object' || req.body === null || Array.isArray(req.body)) {
    throw new SnapupError('BAD_INPUT', 'body: must be a JSON object', { field: 'body' });
  }
  return req.body as Record<string, unknown>;
}

function addressOf(
  req: FastifyRequest<{ Params: AddressParams; Querystring: OwnerQuery }>,
): SnapshotAddress {
  const address: SnapshotAddress = { name: req.params.name, tag: req.params.tag };
  if (req.query.owner) address.owner = req.query.owner;
  return address;
}

function filePath(req: FastifyRequest<{ Params: AddressParams }>): string {
  const path = req.params['*'] ?? '';
  const problem = checkSnapshotPath(path);
  if (problem)
    throw new SnapupError('BAD_INPUT', `path ${JSON.stringify(path)}: ${problem}`, {
      field: 'path',
    });
  return path;
}

function tooLarge(what: string, limit: number): SnapupError {
  return new SnapupError('TOO_LARGE', `${what} is over the server's limit of ${limit} bytes`);
}

/** Passes a body through, failing with 413 once more than `limit` bytes arrived. */
async function* limitStream(body: Readable, limit: number): AsyncGenerator<Uint8Array> {
  let seen = 0;
  for await (const chunk of body) {
    seen += (chunk as Buffer).length;
    if (seen > limit) throw tooLarge('body', limit);
    yield chunk as Buffer;
  }
}

interface BatchAnswer {
  stored: { path: string; sha1: string; size: number }[];
  rejected: { path: string; error: string; message: string }[];
}

async function receiveBatch(
  store: Store,
  user: string,
  address: SnapshotAddress,
  body: AsyncIterable<Uint8Array>,
  limits: ServerLimits,
): Promise<BatchAnswer> {
  const answer: BatchAnswer = { stored: [], rejected: [] };
  const tar = new TarReader(body);
  let entries = 0;
  // Small entries are gathered and stored together on the worker pool; large ones stream.
  let pending: BatchFile[] = [];
  let pendingBytes = 0;
  let slabs = new Slabs();
  const flush = async () => {
    if (pending.length === 0) return;
    const files = pending;
    pending = [];
    pendingBytes = 0;
    slabs = new Slabs(); // the pending files' slabs go to a worker
    const results = await store.uploadBatch(user, address, files);
    results.forEach((r, i) => {
      record(answer, (files[i] as BatchFile).path, r);
    });
  };
  try {
    // Whatever of an entry is left unread, the next header's read skips.
    for (let entry = await tar.next(); entry; entry = await tar.next()) {
      const path = entry.name.replace(/^\.\//, '');
      if (entry.type !== 'file') continue;
      if (++entries > limits.maxBatchEntries) {
        throw new SnapupError('TOO_LARGE', `batch has more than ${limits.maxBatchEntries} entries`);
      }
      const problem = checkSnapshotPath(path);
      if (problem) {
        answer.rejected.push({ path, error: 'BAD_INPUT', message: `${path}: ${problem}` });
        continue;
      }
      if (entry.size <= SMALL_ENTRY) {
        pending.push({ path, bytes: await tar.bytes(slabs.take(entry.size)), handOver: true });
        pendingBytes += entry.size;
        if (pending.length >= 256 || pendingBytes >= 8 << 20) await flush();
        continue;
      }
      await flush();
      const stored = await store
        .upload(user, address, path, { stream: tar.content(), size: entry.size })
        .catch((err: unknown) => err as Error);
      // A body that broke off inside this entry is the request's failure, not the file's.
      if (stored instanceof TarFormatError) throw stored;
      record(answer, path, stored);
    }
    await flush();
  } catch (err) {
    if (!(err instanceof TarFormatError)) throw err;
    throw new SnapupError('BAD_INPUT', `batch body: ${err.message}`, { field: 'body' });
  }
  return answer;
}

/** An archive answer: one tar of the files' contents in one buffer, sized up front. */
function archiveOf(
  paths: readonly string[],
  entries: readonly FileEntry[],
  contents: readonly Buffer[],
): Buffer {
  // Room for each file's header and padding, for the PAX header and record of a name over
  // 100 bytes (~2,060 bytes more than it), and the end: never a second piece and a copy.
  const estimate = paths.reduce(
    (sum, path, i) => sum + (contents[i] as Buffer).length + 2048 + 2 * Buffer.byteLength(path),
    1024,
  );
  const tar = new TarPieces(estimate);
  paths.forEach((path, i) => {
    const content = contents[i] as Buffer;
    const mode = fileModeOf((entries[i] as FileEntry).permissions);
    tar.add(path, content.length, (into, at) => content.copy(into, at), mode);
  });
  const pieces = [...tar.take(), ...tar.end()];
  return pieces.length === 1 ? (pieces[0] as Buffer) : Buffer.concat(pieces);
}

/** Files up to this size in a batch are stored together on the worker pool. */
const SMALL_ENTRY = 1 << 20;

/** Adds one path's outcome to a batch answer; a server-side failure fails the request. */
function record(answer: BatchAnswer, path: string, result: UploadResponse | Error): void {
  if (!(result instanceof Error)) {
    answer.stored.push(result);
    return;
  }
  if (!isSnapupError(result) || result.status >= 500) throw result;
  answer.rejected.push({ path, error: result.code, message: result.message });
}

function sendError(reply: FastifyReply, err: unknown, maxJsonBytes: number): FastifyReply {
  if (isSnapupError(err)) {
    const body: Record<string, unknown> = { error: err.code, message: err.message };
    if (err.data?.missing) body.missing = err.data.missing;
    if (err.status >= 500) reply.log.error(err);
    return reply.code(err.status).send(body);
  }
  const e = err as { statusCode?: number; code?: string; message?: string };
  if (e.statusCode === 413 || e.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return reply.code(413).send({
      error: 'TOO_LARGE',
      // What to change: a manifest of many files is the usual cause, raised with --max-json.
      message: `request body is over the server's limit of ${maxJsonBytes} bytes for JSON (snapup serve --max-json)`,
    });
  }
  if (e.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || e.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') {
    return reply
      .code(400)
      .send({ error: 'BAD_INPUT', message: `body: malformed JSON (${e.message})` });
  }
  if (e.statusCode && e.statusCode >= 400 && e.statusCode < 500) {
    return reply
      .code(e.statusCode)
      .send({ error: 'BAD_INPUT', message: e.message ?? 'bad request' });
  }
  reply.log.error(err);
  return reply.code(500).send({ error: 'INTERNAL', message: 'internal server error' });
}

async function authenticate(req: FastifyRequest, users: UserStore): Promise<string | undefined> {
  const header = req.headers.authorization;
  if (!header?.startsWith('Basic ')) return undefined;
  const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return undefined;
  const name = decoded.slice(0, colon);
  return (await users.verify(name, decoded.slice(colon + 1))) ? name : undefined;
}
