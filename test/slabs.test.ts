/** Small contents carved out of shared slabs, and the distinct memory to hand over. */
import { describe, expect, it } from 'vitest';
import { distinctBuffers, Slabs } from '../src/util/slabs.js';

describe('slabs', () => {
  it('carve non-overlapping views, start a slab when one is full, and fit any size', () => {
    const slabs = new Slabs(1000);
    const views = [400, 400, 300, 0, 1000, 2500, 10].map((n) => slabs.take(n));
    expect(views.map((v) => v.length)).toEqual([400, 400, 300, 0, 1000, 2500, 10]);
    views.forEach((v, i) => {
      v.fill(i + 1);
    });
    // Each view still holds what was written into it: none overlaps another.
    views.forEach((v, i) => {
      expect(v.every((b) => b === i + 1)).toBe(true);
    });
    const buffers = distinctBuffers(views);
    // 400 + 400 in the first; 300, 0 in the second; 1000; 2500 (larger than a slab); 10.
    expect(buffers.map((b) => b.byteLength)).toEqual([1000, 1000, 1000, 2500, 1000]);
    expect(views[0]?.buffer).toBe(views[1]?.buffer);
    expect(views[2]?.buffer).not.toBe(views[1]?.buffer);
  });

  it('hand over each slab once, whole, to a worker message', () => {
    const slabs = new Slabs(64);
    const views = Array.from({ length: 10 }, (_, i) => slabs.take(16).fill(i));
    const { port1, port2 } = new MessageChannel();
    const buffers = distinctBuffers(views);
    expect(buffers).toHaveLength(3);
    // A repeated ArrayBuffer in a transfer list is a DataCloneError; distinct ones move.
    expect(() =>
      port1.postMessage(
        views,
        views.map((v) => v.buffer as ArrayBuffer),
      ),
    ).toThrow(/duplicate/i);
    port1.postMessage(views, buffers);
    expect(views.every((v) => v.length === 0)).toBe(true);
    port1.close();
    port2.close();
  });
});
