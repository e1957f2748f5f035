/** Runs the reference server: store, users, HTTP listener, expiry sweeper, clean shutdown. */
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { SnapupError } from '../errors.js';
import { Store } from '../store/store.js';
import { buildServer, type ServerLimits } from './app.js';
import { UserStore } from './users.js';

export interface ServeOptions {
  dataDir: string;
  port?: number;
  host?: string;
  limits?: Partial<ServerLimits>;
  /** How often expired snapshots and unreferenced content are collected (spec B.11). */
  sweepIntervalMs?: number;
  logger?: boolean;
  onWarning?: (message: string) => void;
  idleTimeoutMs?: number;
}

export interface RunningServer {
  url: string;
  app: FastifyInstance;
  store: Store;
  users: UserStore;
  /** Stops accepting, lets in-flight requests finish, stops the sweeper. */
  close(): Promise<void>;
}

export function storeDirOf(dataDir: string): string {
  return join(dataDir, 'store');
}

export async function startServer(options: ServeOptions): Promise<RunningServer> {
  const sweepMs = options.sweepIntervalMs ?? 60_000;
  // Node's timers hold at most 2^31 - 1 ms: a longer interval would fire every 1 ms.
  if (!(sweepMs >= 1 && sweepMs <= 2 ** 31 - 1))
    throw new SnapupError('BAD_INPUT', `sweep interval: ${sweepMs} ms is not 1 ms to 24 days`, {
      field: 'sweep',
    });
  const store = await Store.open(storeDirOf(options.dataDir), { onWarning: options.onWarning });
  const users = await UserStore.open(options.dataDir);
  const app = buildServer({
    store,
    users,
    limits: options.limits,
    logger: options.logger,
    onWarning: options.onWarning,
    idleTimeoutMs: options.idleTimeoutMs,
  });
  const host = options.host ?? '127.0.0.1';
  try {
    await app.listen({ port: options.port ?? 8080, host });
  } catch (err) {
    await app.close().catch(() => {});
    throw listenError(err, host, options.port ?? 8080);
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const sweeper = setInterval(() => {
    store.gc().catch((err: unknown) => app.log.error(err));
  }, sweepMs);
  sweeper.unref();
  return {
    url: serverUrl(host, port ?? 0),
    app,
    store,
    users,
    close: async () => {
      clearInterval(sweeper);
      await app.close();
    },
  };
}

/** The URL a server listening on `host` answers at: an IPv6 address goes in brackets. */
export function serverUrl(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** Why the server could not listen, as the user can act on it (these are not bugs). */
function listenError(err: unknown, host: string, port: number): unknown {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const where = `${host}:${port}`;
  const fail = (message: string) => new SnapupError('BAD_INPUT', message, { cause: err });
  switch (code) {
    case 'EADDRINUSE':
      return fail(
        `${where}: the port is already in use (another server?); pick another --port, or 0 for a free one`,
      );
    case 'EACCES':
      return fail(
        `${where}: permission denied (ports below 1024 need privileges); pick another --port`,
      );
    case 'EADDRNOTAVAIL':
      return fail(`--host ${host}: not an address of this machine`);
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return fail(`--host ${host}: no such host`);
    default:
      return err;
  }
}
