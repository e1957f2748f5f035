/** What every command shares: global options, the backend, output and interruption. */
import type { Command } from 'commander';
import { defaultStoreDir, LocalBackend } from '../backends/local.js';
import type { Credentials } from '../client/netrc.js';
import type { EventSink } from '../engine/events.js';
import { type ErrorCode, isSnapupError, SnapupError } from '../errors.js';
import type { DirectoryBackend } from '../lifecycle/directory.js';
import type { SnapshotLifecycle } from '../lifecycle/model.js';
import { parseFolder } from './format.js';
import { progressSink } from './progress.js';

export interface GlobalOptions {
  backend?: string;
  token?: string;
  datalayerUrl?: string;
  datalayerPrefix?: string;
  datalayerSnapshots?: string;
  vergeHost?: string;
  insecure?: boolean;
  store?: string;
  server?: string;
  user?: string;
  password?: string;
  json?: boolean;
  quiet?: boolean;
  verbose?: boolean;
  debug?: boolean;
}

/** What the snapshot commands need, whichever backend serves them. */
export type Backend = DirectoryBackend;

/**
 * The folder-snapshot backend: a CB server (`--server` or SNAPUP_SERVER), otherwise the
 * local store. Datalayer and VergeOS hold no folders, so push and pull refuse them.
 */
export async function openBackend(
  g: GlobalOptions,
  connections?: number,
  onEvent?: EventSink,
): Promise<Backend> {
  const server = g.server ?? process.env.SNAPUP_SERVER;
  const kind = (g.backend ?? process.env.SNAPUP_BACKEND ?? '').toLowerCase();
  if (kind === 'datalayer' || kind === 'verge') {
    throw new SnapupError(
      'UNSUPPORTED',
      `${kind} snapshots hold a ${kind === 'datalayer' ? 'runtime' : 'whole system'}, not a folder: use "snapup create" and "snapup restore" with --backend ${kind}`,
      { field: 'backend' },
    );
  }
  if (kind === 'cb' && !server) {
    throw new SnapupError(
      'BAD_INPUT',
      'backend cb: give the server (--server URL or SNAPUP_SERVER)',
      {
        field: 'server',
      },
    );
  }
  if (!server || kind === 'local') return openLocal(g);
  const credentials = await credentialsFor(server, g);
  // Loaded only when needed: the HTTP client stack costs ~80 ms of start-up.
  const { CbClient } = await import('../client/cb-client.js');
  return new CbClient({ server, credentials, connections, onEvent });
}

/** Opens the backend for one command and closes its connections afterwards. */
export async function withBackend<T>(
  g: GlobalOptions,
  fn: (b: Backend) => Promise<T>,
  connections?: number,
  onEvent?: EventSink,
): Promise<T> {
  const backend = await openBackend(g, connections, onEvent);
  try {
    return await fn(backend);
  } finally {
    await backend.close?.();
  }
}

/** The host name of a server URL, with an error naming the option when it is not a URL. */
export function hostOf(server: string): string {
  try {
    return new URL(server).hostname;
  } catch {
    throw new SnapupError(
      'BAD_INPUT',
      `server: "${server}" is not a URL like http://127.0.0.1:8080`,
      {
        field: 'server',
      },
    );
  }
}

/** --user/--password, else SNAPUP_USER/SNAPUP_PASSWORD, else ~/.netrc for the server's host. */
export async function credentialsFor(
  server: string,
  g: GlobalOptions,
): Promise<Credentials | undefined> {
  const user = g.user ?? process.env.SNAPUP_USER;
  const password = g.password ?? process.env.SNAPUP_PASSWORD;
  if (user !== undefined && password !== undefined) return { user, password };
  const host = hostOf(server);
  const { netrcCredentials } = await import('../client/netrc.js');
  const fromNetrc = await netrcCredentials(host);
  if (fromNetrc && user !== undefined && fromNetrc.user !== user) return undefined;
  return fromNetrc;
}

export function globals(cmd: Command): GlobalOptions {
  return cmd.optsWithGlobals() as GlobalOptions;
}

export function openLocal(g: GlobalOptions): Promise<LocalBackend> {
  return LocalBackend.open(
    g.store !== undefined ? parseFolder(g.store, 'store') : defaultStoreDir(),
    { onWarning: g.quiet ? undefined : (message) => process.stderr.write(`warning: ${message}\n`) },
  );
}

/** Warnings a command prints before it only counts them (without --verbose). */
export const WARNING_LIMIT = 20;

/** How often a long stage prints a line of progress where no bar is drawn. */
export const PROGRESS_LINE_MS = 10_000;

/** Progress bars only for a human on a terminal. */
export function progressFor(g: GlobalOptions) {
  return progressSink({
    bars: !g.json && !g.quiet && process.stderr.isTTY === true,
    warnings: !g.quiet,
    warningLimit: g.verbose ? undefined : WARNING_LIMIT,
    // Logs (stderr not a terminal) get a line every 10 s of a long stage; --json runs none.
    lineEveryMs: g.json || g.quiet ? 0 : PROGRESS_LINE_MS,
  });
}

/**
 * Aborts on the first Ctrl-C or SIGTERM so writes stop cleanly; a second one exits at once.
 * `next` tells the user what the interrupted command left and how to go on.
 */
export function interruptSignal(
  next = 'the store is consistent, run the same command again to resume',
): AbortSignal {
  const controller = new AbortController();
  const onSignal = (name: string) => {
    if (controller.signal.aborted) process.exit(130);
    controller.abort(new Error(`interrupted by ${name}; ${next}`));
  };
  // `on`, not `once`: kept registered so that a library's exit hook (proper-lockfile's
  // signal-exit) sees a handler and does not re-raise the signal over the clean stop.
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  return controller.signal;
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/**
 * Adds what to do next to a failure whose code has a hint (a full disk: what was written
 * is kept, and running again resumes), keeping the error's code, path and exit status.
 */
export async function withNextStep<T>(
  work: Promise<T>,
  hints: Partial<Record<ErrorCode, string>> | (() => Partial<Record<ErrorCode, string>>),
): Promise<T> {
  try {
    return await work;
  } catch (err) {
    if (!isSnapupError(err)) throw err;
    // A function when the advice depends on how far the work got.
    const hint = (typeof hints === 'function' ? hints() : hints)[err.code];
    if (hint === undefined) throw err;
    throw new SnapupError(err.code, `${err.message}; ${hint}`, {
      path: err.path,
      field: err.field,
      data: err.data,
      cause: err,
    });
  }
}

/**
 * What a pull (or a restore into a folder) stopped part way leaves, then `next`: each file
 * it finished was written whole, and --force keeps those and fetches the rest.
 */
export function keptFilesAdvice(dest: string, next: string): string {
  return `the files written so far stay in ${dest}: ${next}`;
}

/**
 * What an interrupted create or restore leaves, when it is not what a push or pull leaves:
 * a remote service (Datalayer, VergeOS) may carry out a request it has received whatever
 * the CLI does next, so running it again could make a second snapshot or restore.
 */
export function remoteInterruptAdvice(life: Pick<SnapshotLifecycle, 'kind' | 'description'>) {
  if (life.kind === 'local' || life.kind === 'cb') return undefined;
  return `${life.description} may still carry out the request: check there before running it again`;
}
