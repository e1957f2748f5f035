import { CbClient, type ServerInfo } from '../src/client/cb-client.js';
import type { ServerLimits } from '../src/server/app.js';
import { type RunningServer, startServer } from '../src/server/serve.js';
import { tempDir } from './helpers.js';

export const PASSWORDS: Record<string, string> = {
  alice: 'alice-password',
  bob: 'bob-password',
  carl: 'carl-password',
};

/** A real server on an ephemeral loopback port with three users. */
export async function testServer(
  limits: Partial<ServerLimits> = {},
  dataDir = tempDir(),
): Promise<RunningServer> {
  const server = await startServer({ dataDir, port: 0, limits, sweepIntervalMs: 3_600_000 });
  for (const [user, password] of Object.entries(PASSWORDS)) await server.users.add(user, password);
  return server;
}

export function clientFor(
  server: { url: string },
  user = 'alice',
  extra: Partial<ConstructorParameters<typeof CbClient>[0]> = {},
) {
  return new CbClient({
    server: server.url,
    credentials: { user, password: PASSWORDS[user] as string },
    retry: { minDelayMs: 20, maxDelayMs: 200 },
    ...extra,
  });
}

export function basic(user: string, password = PASSWORDS[user] as string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

/** A client of `server` that behaves as if the server lacked `extension`. */
export function clientWithout(
  server: { url: string },
  extension: string,
  user = 'alice',
): CbClient {
  class Without extends CbClient {
    override async serverInfo(): Promise<ServerInfo> {
      const info = await super.serverInfo();
      return { ...info, extensions: info.extensions.filter((e) => e !== extension) };
    }
  }
  return new Without({
    server: server.url,
    credentials: { user, password: PASSWORDS[user] as string },
  });
}
