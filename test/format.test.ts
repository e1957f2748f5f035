/** The CLI's printed values. */
import { describe, expect, it } from 'vitest';
import { fileLine, formatShare, parseDuration } from '../src/cli/format.js';
import { startServer } from '../src/server/serve.js';
import { tempDir } from './helpers.js';

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

describe('fileLine', () => {
  const sha = 'a'.repeat(40);
  it('prints hash, flags, size and path, one file per line', () => {
    expect(fileLine(sha, { exe: true, ro: false }, 12, 'src/a b.txt')).toBe(
      `${sha}  x-          12  src/a b.txt`,
    );
    expect(fileLine(sha, { exe: false, ro: true }, undefined, 'é')).toBe(
      `${sha}  -r           ?  é`,
    );
  });

  it('quotes a path that would break the line or read as quoted', () => {
    for (const [path, shown] of [
      ['new\nline', '"new\\nline"'],
      ['tab\there', '"tab\\there"'],
      ['"quoted"', '"\\"quoted\\""'],
      ['back\\slash', '"back\\\\slash"'],
      ['del\u007f', '"del\u007f"'],
    ]) {
      expect(
        fileLine(sha, { exe: false, ro: false }, 1, path as string)
          .split('  ')
          .pop(),
      ).toBe(shown);
    }
  });
});

describe('parseDuration', () => {
  it('reads units, and refuses what is longer than its limit with the limit named', () => {
    expect(parseDuration('90', 'expire')).toBe(90);
    expect(parseDuration('7d', 'expire')).toBe(7 * 86_400);
    expect(parseDuration('5200w', 'expire')).toBe(5200 * 604_800);
    expect(() => parseDuration('999999999d', 'expire')).toThrow(
      'expire: "999999999d" is longer than 100 years',
    );
    const timer = { sec: 24 * 86_400, text: '24 days' };
    expect(parseDuration('24d', 'sweep', timer)).toBe(24 * 86_400);
    expect(() => parseDuration('30d', 'sweep', timer)).toThrow(
      'sweep: "30d" is longer than 24 days',
    );
  });

  it('startServer refuses a sweep interval no Node timer can hold (it would fire every 1 ms)', async () => {
    await expect(
      startServer({ dataDir: tempDir(), port: 0, sweepIntervalMs: 30 * 86_400_000 }),
    ).rejects.toMatchObject({
      code: 'BAD_INPUT',
      message: expect.stringMatching(/^sweep interval/),
    });
  });
});
