/**
 * Cooperative cancellation of worker tasks: the caller raises a flag in shared memory
 * (see worker-pool.ts) and the task checks it between files and chunks, so it can remove
 * what it was writing before it stops.
 */

/** What a worker task throws when its caller cancelled it. */
export class Cancelled extends Error {
  constructor() {
    super('cancelled');
  }
}

/** Throws Cancelled once the caller raised the task's shared flag. */
export function throwIfCancelled(cancel: Int32Array | undefined): void {
  if (cancel && Atomics.load(cancel, 0) !== 0) throw new Cancelled();
}
