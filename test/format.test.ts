/** The CLI's printed values. */
import { describe, expect, it } from 'vitest';
import { formatShare } from '../src/cli/format.js';

describe('formatShare', () => {
  it('prints one decimal, and never rounds a part that is not none or all to 0.0% or 100.0%', () => {
    expect(formatShare(1, 3)).toBe('33.3%');
    expect(formatShare(0, 500)).toBe('0.0%');
    expect(formatShare(500, 500)).toBe('100.0%');
    // 6 bytes to send of 27 KiB, and everything but those 6 bytes saved.
    expect(formatShare(6, 28_365)).toBe('<0.1%');
    expect(formatShare(28_359, 28_365)).toBe('>99.9%');
    // Just at the edges one decimal shows them as they are.
    expect(formatShare(5, 10_000)).toBe('0.1%');
    expect(formatShare(9_994, 10_000)).toBe('99.9%');
    expect(formatShare(0, 0)).toBe('-');
  });
});
