/** The `snapup` command line: parsing, dispatch and turning errors into exit codes. */
import { readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { Command, CommanderError } from 'commander';
import { ExitCode, isSnapupError } from '../errors.js';
import { benchCommand } from './bench.js';
import { createCommand } from './create.js';
import { gcCommand } from './gc.js';
import { lsCommand } from './list.js';
import { loginCommand } from './login.js';
import { manifestCommand } from './manifest.js';
import { exitCodeWithOutput, guardStandardOutput } from './output.js';
import { pullCommand } from './pull.js';
import { pushCommand } from './push.js';
import { rmCommand } from './remove.js';
import { restoreCommand } from './restore.js';
import { serveCommand, userCommand } from './serve.js';
import { showCommand } from './show.js';

const { version } = JSON.parse(
  readFileSync(new URL('../../../package.json', import.meta.url), 'utf8'),
) as {
  version: string;
};

export function buildProgram(): Command {
  const program = new Command('snapup')
    .description(
      'Upload a directory as a content-addressed snapshot, sending only what the store lacks.',
    )
    .version(version)
    .optionsGroup('Backend options:')
    .option(
      '--backend <kind>',
      'local, cb, datalayer or verge (default: $SNAPUP_BACKEND, else cb with --server, else local)',
    )
    .option('--store <dir>', 'the local store (default: $SNAPUP_STORE, else $XDG_DATA_HOME/snapup)')
    .option(
      '--server <url>',
      'use a CB server instead of the local store (default: $SNAPUP_SERVER)',
    )
    .option(
      '--user <name>',
      'user for the CB server (default: $SNAPUP_USER, else ~/.netrc) or VergeOS (default: $VERGE_USER)',
    )
    .option(
      '--password <password>',
      'password for the CB server (default: $SNAPUP_PASSWORD, else ~/.netrc) or VergeOS ($VERGE_PASSWORD)',
    )
    .option(
      '--token <token>',
      'API token for Datalayer (default: $DATALAYER_TOKEN) or VergeOS (default: $VERGE_TOKEN)',
    )
    .option(
      '--datalayer-url <url>',
      'Datalayer Runtimes service (default: $DATALAYER_RUN_URL, else https://r1.datalayer.run)',
    )
    .option('--datalayer-prefix <path>', 'Datalayer API prefix (default: /api/runtimes/v1)')
    .option(
      '--datalayer-snapshots <segment>',
      'Datalayer snapshot path segment (default: $DATALAYER_SNAPSHOTS_SEGMENT, else runtime-snapshots; newer servers: sandbox-snapshots)',
    )
    .option('--verge-host <host>', 'VergeOS host, served over https (default: $VERGE_HOST)')
    .option('--insecure', 'VergeOS: do not verify the TLS certificate (self-signed appliances)')
    .optionsGroup('Output options:')
    .option('--json', 'print one JSON document on stdout instead of text')
    .option('-q, --quiet', 'print nothing but errors')
    .option('-v, --verbose', 'print every warning (else the first 20 and a count of the rest)')
    .option('--debug', 'show stack traces for errors')
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText(
      'after',
      `
Exit codes: 0 ok, 1 failure, 2 bad input or usage, 3 snapshot or path not found,
4 conflict (frozen, locked, missing content), 5 integrity (hash mismatch, corrupt store),
6 I/O (unreadable, disk full), 7 access denied, 130 interrupted.`,
    );
  for (const cmd of [
    pushCommand(),
    pullCommand(),
    lsCommand(),
    showCommand(),
    createCommand(),
    restoreCommand(),
    rmCommand(),
    manifestCommand(),
    gcCommand(),
    benchCommand(),
    serveCommand(),
    userCommand(),
    loginCommand(),
  ]) {
    program.addCommand(cmd);
  }
  const override = (cmd: Command) => {
    cmd.exitOverride();
    for (const sub of cmd.commands) override(sub);
  };
  override(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  guardStandardOutput();
  return exitCodeWithOutput(await runCommand(argv));
}

async function runCommand(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return ExitCode.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version exit 0; usage errors were already printed by commander.
      return err.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    }
    const debug = argv.includes('--debug');
    if (isSnapupError(err)) {
      process.stderr.write(`snapup: ${err.message}\n`);
      if (debug && err.stack) process.stderr.write(`${err.stack}\n`);
      return err.exitCode;
    }
    const text = err instanceof Error ? err.message : String(err);
    process.stderr.write(
      `snapup: unexpected error: ${text}${debug ? '' : ' (run with --debug for details)'}\n`,
    );
    if (debug && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
    return ExitCode.failure;
  }
}

// undici parses HTTP with WebAssembly (llhttp), which V8 compiles twice: at once with its
// baseline compiler, then again in the background with its optimising one. That second
// compile held ~30 MB for the whole run and, at exit, a wait of 70-80 ms for the job to
// finish (a no-op push of 50,000 files over HTTP: 0.72-0.84 → 0.64-0.67 s, 161-165 → 126-128
// MiB); parsing a CLI's responses does not need the faster code (pull of mixed: no slower).
// Set here, before undici is first loaded, and only for the CLI: the library leaves a host
// process's V8 alone.
setFlagsFromString('--liftoff-only');
process.exitCode = await main(process.argv);
