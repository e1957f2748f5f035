/** Runs the reference server: store, users, HTTP listener, expiry sweeper, clean shutdown. */
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
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
  const store = await Store.open(storeDirOf(options.dataDir));
  const users = await UserStore.open(options.dataDir);
  const app = buildServer({ store, users, limits: options.limits, logger: options.logger });
  await app.listen({ port: options.port ?? 8080, host: options.host ?? '127.0.0.1' });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const sweeper = setInterval(() => {
    store.gc().catch((err: unknown) => app.log.error(err));
  }, options.sweepIntervalMs ?? 60_000);
  sweeper.unref();
  return {
    url: `http://${options.host ?? '127.0.0.1'}:${port}`,
    app,
    store,
    users,
    close: async () => {
      clearInterval(sweeper);
      await app.close();
    },
  };
}
