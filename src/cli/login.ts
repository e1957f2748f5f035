import { Command } from 'commander';
import { SnapupError } from '../errors.js';
import { globals, hostOf } from './context.js';
import { readPassword } from './password.js';

type Client = import('../client/cb-client.js').CbClient;

/**
 * Any authenticated call tells: a 401 means wrong credentials. A read (the list extension)
 * where the server offers one; a Part A server has only writes, so there it is the removal
 * of a snapshot nobody names, where 404 (or 403) means the credentials passed.
 */
async function checkCredentials(client: Client): Promise<void> {
  if ((await client.serverInfo()).extensions.includes('list')) {
    await client.list({ name: 'snapup-login-check' });
    return;
  }
  await client.remove({ name: 'snapup-login-check', tag: 'none' }).catch((err: unknown) => {
    if (!(err instanceof SnapupError) || (err.code !== 'NOT_FOUND' && err.code !== 'FORBIDDEN'))
      throw err;
  });
}

export function loginCommand(): Command {
  return new Command('login')
    .description('check credentials against a server and save them in ~/.netrc (mode 600)')
    .argument('<server>', 'the server URL, e.g. http://127.0.0.1:8080')
    .addHelpText(
      'after',
      '\nGive the user with the global --user option: snapup login URL --user NAME.',
    )
    .action(async (server: string, _o, cmd: Command) => {
      const o = globals(cmd);
      const host = hostOf(server);
      if (!o.user)
        throw new SnapupError('BAD_INPUT', 'user: give it with --user NAME', { field: 'user' });
      const password = o.password ?? (await readPassword(`password for ${o.user} at ${host}: `));
      const { CbClient } = await import('../client/cb-client.js');
      const { netrcPath, saveNetrcCredentials } = await import('../client/netrc.js');
      const client = new CbClient({
        server,
        credentials: { user: o.user, password },
        retry: { retries: 1 },
      });
      try {
        await checkCredentials(client);
      } finally {
        await client.close();
      }
      await saveNetrcCredentials(host, { user: o.user, password });
      process.stderr.write(`credentials for ${o.user} at ${host} saved in ${netrcPath()}\n`);
    });
}
