/**
 * A set of 20-byte object hashes, each with two numbers (which pack holds it, and where in
 * that pack's index), kept in typed arrays with open addressing: no object, string or map
 * entry per hash. The pack index of a store with 74,000 packed objects spent ~32 ms
 * building a Map of hex strings to location objects on every push, and the garbage
 * collector copied them all again; this table is built in a few milliseconds and is five
 * typed arrays to the collector.
 */

const EMPTY = 0;

export class ObjectTable {
  /** Five 32-bit words per entry: its hash's bytes as they are. */
  private words = new Uint32Array(0);
  private firsts = new Uint32Array(0);
  private seconds = new Uint32Array(0);
  /** Entry number + 1 per slot; EMPTY for none. */
  private slots = new Int32Array(0);
  private count = 0;
  /** The hash being looked up, as bytes and as the words they make. */
  private readonly probe = new Uint32Array(5);
  private readonly probeBytes = Buffer.from(this.probe.buffer);

  get size(): number {
    return this.count;
  }

  /**
   * The entry holding `sha1` (40 hex digits; the store's are lowercase, and an uppercase
   * spelling names the same bytes), or -1. Anything else is never found.
   */
  find(sha1: string): number {
    if (sha1.length !== 40 || this.probeBytes.write(sha1, 'hex') !== 20) return -1;
    return this.count === 0 ? -1 : this.entryAt(this.slotOfProbe());
  }

  /** The two numbers `insert` gave the entry. */
  first(entry: number): number {
    return this.firsts[entry] as number;
  }

  second(entry: number): number {
    return this.seconds[entry] as number;
  }

  /**
   * Adds the hash in `hashes[at, at+5)` (its 20 bytes seen as 32-bit words, see `wordsOf`)
   * unless present: the first holder stays.
   */
  insert(hashes: Uint32Array, at: number, first: number, second: number): void {
    const probe = this.probe;
    for (let k = 0; k < 5; k++) probe[k] = hashes[at + k] as number;
    if (2 * (this.count + 1) > this.slots.length) this.reserve(this.count + 1);
    const slot = this.slotOfProbe();
    if (this.slots[slot] !== EMPTY) return;
    const entry = this.count++;
    const w = this.words;
    for (let k = 0; k < 5; k++) w[5 * entry + k] = probe[k] as number;
    this.firsts[entry] = first;
    this.seconds[entry] = second;
    this.slots[slot] = entry + 1;
  }

  /** The slot holding the probe's hash, or the empty slot where it would go. */
  private slotOfProbe(): number {
    const p = this.probe;
    const w = this.words;
    const mask = this.slots.length - 1;
    // The words of a SHA-1 are uniformly distributed: the first is a good enough hash.
    let slot = (p[0] as number) & mask;
    for (;;) {
      const held = this.slots[slot] as number;
      if (held === EMPTY) return slot;
      const at = 5 * (held - 1);
      if (
        w[at] === p[0] &&
        w[at + 1] === p[1] &&
        w[at + 2] === p[2] &&
        w[at + 3] === p[3] &&
        w[at + 4] === p[4]
      )
        return slot;
      slot = (slot + 1) & mask;
    }
  }

  private entryAt(slot: number): number {
    return (this.slots[slot] as number) - 1;
  }

  /**
   * Makes room for `count` entries in all (at most half the slots are used, so probes stay
   * short): once before a known number of inserts saves growing step by step.
   */
  reserve(count: number): void {
    if (2 * count <= this.slots.length) return;
    let room = Math.max(1024, this.slots.length);
    while (room < 2 * count) room *= 2;
    const words = new Uint32Array(5 * (room / 2));
    words.set(this.words.subarray(0, 5 * this.count));
    const firsts = new Uint32Array(room / 2);
    firsts.set(this.firsts.subarray(0, this.count));
    const seconds = new Uint32Array(room / 2);
    seconds.set(this.seconds.subarray(0, this.count));
    this.words = words;
    this.firsts = firsts;
    this.seconds = seconds;
    this.slots = new Int32Array(room);
    const mask = room - 1;
    for (let entry = 0; entry < this.count; entry++) {
      let slot = (words[5 * entry] as number) & mask;
      while (this.slots[slot] !== EMPTY) slot = (slot + 1) & mask;
      this.slots[slot] = entry + 1;
    }
  }
}

/** 20-byte hashes end to end, seen as the words `insert` takes (copied when unaligned). */
export function wordsOf(hashes: Uint8Array): Uint32Array {
  const bytes = hashes.byteOffset % 4 === 0 ? hashes : new Uint8Array(hashes);
  return new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
}
