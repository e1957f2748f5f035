/**
 * V8 flags the CLI sets for its own process (the library never touches a host's V8).
 *
 * V8 keeps its flags per process, and every isolate it configures (each worker thread)
 * raises `--semi-space-growth-factor` back to at least 2 (a minimum it enforces only
 * then), so the flags are applied again each time a worker of the pool has started. A V8
 * that refused the value outright would only let the young generation grow as before;
 * test/v8-flags.test.ts tells when that happens.
 */
import { setFlagsFromString } from 'node:v8';

const processFlags: string[] = [];

/** Sets `flags` for this process and keeps them set across worker starts. */
export function setProcessV8Flags(flags: string): void {
  processFlags.push(flags);
  setFlagsFromString(flags);
}

/** Re-applies the process's flags after a worker thread's isolate was configured. */
export function reapplyProcessV8Flags(): void {
  for (const flags of processFlags) setFlagsFromString(flags);
}
