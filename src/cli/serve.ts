import { resolve } from 'node:path';
import { Command } from 'commander';
import { checkName } from '../protocol/types.js';
import { globals, printJson } from './context.js';
import { parseDuration, parseFolder, parsePort, parsePositiveInt, parseSize } from './format.js';
import { readPassword } from './password.js';

export function serveCommand(): Command {
  return new Command('serve')
    .description('run the reference CB server (spec Parts A, B and C) on a data folder')
    .requiredOption('--data <dir>', 'folder for the store and the users file')
    .option('--port <n>', 'port to listen on (0: any free port, printed at start)', '8080')
    .option('--host <addr>', 'address to listen on', '127.0.0.1')
    .option('--max-json <bytes>', 'largest JSON body (newSnapshot, single-request upload)', '64M')
    .option('--max-upload <bytes>', 'largest single file upload', '16G')
    .option('--max-batch <bytes>', 'largest batch upload', '256M')
    .option('--max-inflight <n>', 'uploads in flight before answering 503', '64')
    .option('--sweep <duration>', 'how often expired snapshots and garbage are collected', '60s')
    .option('--log', 'log requests (JSON lines on stdout)')
    .addHelpText(
      'after',
      '\nAdd users with snapup user add NAME --data DIR (a running server sees them within a second).\nStop with Ctrl-C or SIGTERM: in-flight requests finish first.',
    )
    .action(async (o, cmd: Command) => {
      const g = globals(cmd);
      // The server stack (fastify) loads only for this command.
      const { startServer } = await import('../server/serve.js');
      const server = await startServer({
        dataDir: resolve(parseFolder(o.data, 'data')),
        port: parsePort(o.port, 'port'),
        host: o.host,
        logger: o.log ?? false,
        onWarning: (message) => process.stderr.write(`snapup serve: warning: ${message}\n`),
        // Node's timers hold at most 2^31 - 1 ms (24.8 days): a longer one fires every 1 ms.
        sweepIntervalMs:
          parseDuration(o.sweep, 'sweep', { sec: 24 * 86_400, text: '24 days' }) * 1000,
        limits: {
          maxJsonBytes: parseSize(o.maxJson, 'max-json'),
          maxUploadBytes: parseSize(o.maxUpload, 'max-upload'),
          maxBatchBytes: parseSize(o.maxBatch, 'max-batch'),
          maxInflightUploads: parsePositiveInt(o.maxInflight, 'max-inflight'),
        },
      });
      if (server.users.names().length === 0) {
        process.stderr.write(
          `warning: no users yet; add one with: snapup user add NAME --data ${o.data}\n`,
        );
      }
      if (g.json) printJson({ url: server.url });
      else process.stderr.write(`snapup serve: listening on ${server.url}\n`);
      await new Promise<void>((done) => {
        let stopping = false;
        // Kept registered while shutting down: a library's exit hook (proper-lockfile's
        // signal-exit) re-raises a signal it believes nobody else handles.
        const stop = () => {
          if (stopping) {
            process.stderr.write('snapup serve: stopping now, without waiting\n');
            process.exit(130);
          }
          stopping = true;
          process.stderr.write('snapup serve: shutting down (again to stop at once)\n');
          server.close().then(done, done);
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
    });
}

async function openUsers(data: string) {
  const { UserStore } = await import('../server/users.js');
  return UserStore.open(resolve(parseFolder(data, 'data')));
}

export function userCommand(): Command {
  const user = new Command('user').description("manage the server's users");
  user
    .command('list')
    .description("list the server's users")
    .requiredOption('--data <dir>', "the server's data folder")
    .action(async (o: { data: string }, cmd: Command) => {
      const users = await openUsers(o.data);
      if (globals(cmd).json) printJson({ users: users.names() });
      else if (users.names().length > 0) process.stdout.write(`${users.names().join('\n')}\n`);
      else process.stderr.write(`no users in ${o.data}; add one with: snapup user add NAME\n`);
    });
  user
    .command('rm')
    .description('remove a user (their snapshots stay; a running server stops accepting them)')
    .argument('<name>', 'user name')
    .requiredOption('--data <dir>', "the server's data folder")
    .action(async (name: string, o: { data: string }) => {
      const users = await openUsers(o.data);
      await users.remove(name);
      process.stderr.write(`user ${name} removed\n`);
    });
  user
    .command('add')
    .description(
      'add a user, or set a new password (prompted on a TTY, else read from stdin or SNAPUP_PASSWORD)',
    )
    .argument('<name>', 'user name')
    .requiredOption('--data <dir>', "the server's data folder")
    .action(async (name: string, o: { data: string }) => {
      checkName(name, 'user');
      const users = await openUsers(o.data);
      const had = users.has(name);
      await users.add(name, await readPassword(`password for ${name}: `));
      process.stderr.write(had ? `password of ${name} changed\n` : `user ${name} added\n`);
    });
  return user;
}
