/**
 * A set of content hashes shared by the main thread and the workers (a SharedArrayBuffer),
 * so that the workers staging content while they hash (staging.ts) store each content
 * once: not what the store's packs already hold, and not twice across batches. Each hash
 * is kept as its first 32 bits, in open addressing; a lookup that collides with another
 * hash's bits answers "claimed", which only costs that content the usual upload later.
 */

/** Probes before giving up (a full table stages nothing more; uploads still happen). */
const MAX_PROBES = 32;

export class ClaimTable {
  private readonly slots: Int32Array;
  private readonly mask: number;

  private constructor(readonly buffer: SharedArrayBuffer) {
    this.slots = new Int32Array(buffer);
    this.mask = this.slots.length - 1;
  }

  /** A table with room for `expected` hashes at a load of at most a half. */
  static create(expected: number): ClaimTable {
    let size = 1 << 16;
    while (size < expected * 2) size *= 2;
    return new ClaimTable(new SharedArrayBuffer(size * 4));
  }

  /** The same table, seen from another thread. */
  static of(buffer: SharedArrayBuffer): ClaimTable {
    return new ClaimTable(buffer);
  }

  /**
   * Claims `sha1` (40 hex digits): true when this call is the first to, false when it was
   * claimed before (or collides with a claimed hash, or the table is too full).
   */
  claim(sha1: string): boolean {
    return this.claimKey(
      Number.parseInt(sha1.slice(0, 8), 16),
      Number.parseInt(sha1.slice(8, 16), 16),
    );
  }

  /** `claim` for the hash whose 20 bytes start at `bytes[at]` (the same hash, the same claim). */
  claimBytes(bytes: Uint8Array, at: number): boolean {
    const word = (k: number) =>
      (((bytes[k] as number) << 24) |
        ((bytes[k + 1] as number) << 16) |
        ((bytes[k + 2] as number) << 8) |
        (bytes[k + 3] as number)) >>>
      0;
    return this.claimKey(word(at), word(at + 4));
  }

  /** Claims by the hash's first two 32-bit words (big-endian, as its hex reads). */
  private claimKey(first: number, second: number): boolean {
    // Never 0, the empty slot.
    const key = first | 1 | 0;
    let slot = second & this.mask;
    for (let probe = 0; probe < MAX_PROBES; probe++) {
      const old = Atomics.compareExchange(this.slots, slot, 0, key);
      if (old === 0) return true;
      if (old === key) return false;
      slot = (slot + 1) & this.mask;
    }
    return false;
  }
}
