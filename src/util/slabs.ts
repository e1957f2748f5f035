/**
 * Buffers for many small contents carved out of a few larger ones, for contents that go
 * to a worker together: a batch of 256 small files is one or a few ArrayBuffers to
 * allocate, count against V8's external memory and transfer, instead of 256 (each a
 * malloc, and the external memory they add up to is what sets off full collections
 * while a server receives). Take a new Slabs after handing the last ones over: a
 * transferred ArrayBuffer is empty on this side.
 */
export class Slabs {
  private slab: Buffer | undefined;
  private used = 0;

  constructor(private readonly slabSize = 1 << 20) {}

  /** `size` bytes of a slab (a new one when the current one lacks the room). */
  take(size: number): Buffer {
    if (!this.slab || this.slab.length - this.used < size) {
      this.slab = Buffer.allocUnsafeSlow(Math.max(this.slabSize, size));
      this.used = 0;
    }
    const out = this.slab.subarray(this.used, this.used + size);
    this.used += size;
    return out;
  }
}

/** The memory under `views`, each ArrayBuffer once (a transfer list may not repeat one). */
export function distinctBuffers(views: Iterable<Uint8Array>): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  for (const v of views) out.add(v.buffer as ArrayBuffer);
  return [...out];
}
