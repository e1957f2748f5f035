/** What every command shares: global options, the backend, output and interruption. */
import type { Command } from 'commander';
import { defaultStoreDir, LocalBackend } from '../backends/local.js';
import { progressSink } from './progress.js';

export interface GlobalOptions {
  store?: string;
  json?: boolean;
  quiet?: boolean;
  debug?: boolean;
}

export function globals(cmd: Command): GlobalOptions {
  return cmd.optsWithGlobals() as GlobalOptions;
}

export function openLocal(g: GlobalOptions): Promise<LocalBackend> {
  return LocalBackend.open(g.store ?? defaultStoreDir());
}

/** Progress bars only for a human on a terminal. */
export function progressFor(g: GlobalOptions) {
  return progressSink({
    bars: !g.json && !g.quiet && process.stderr.isTTY === true,
    warnings: !g.quiet,
  });
}

/** Aborts on the first Ctrl-C or SIGTERM so writes stop cleanly; a second one exits at once. */
export function interruptSignal(): AbortSignal {
  const controller = new AbortController();
  const onSignal = (name: string) => {
    if (controller.signal.aborted) process.exit(130);
    controller.abort(
      new Error(
        `interrupted by ${name}; the store is consistent, run the same command again to resume`,
      ),
    );
  };
  process.once('SIGINT', () => onSignal('SIGINT'));
  process.once('SIGTERM', () => onSignal('SIGTERM'));
  return controller.signal;
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
