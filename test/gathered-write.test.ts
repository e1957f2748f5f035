import { promises as fsp, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeGathered } from '../src/util/gathered-write.js';
import { bytes, tempDir } from './helpers.js';

describe('gathered writes', () => {
  it('writes every chunk in order, across the 1 MiB gathering, and counts them', async () => {
    // 40 chunks of 64 KiB + 1: over two gathered writes and a remainder, and an empty one.
    const chunks = [
      ...Array.from({ length: 40 }, (_, i) => bytes(i + 1, (64 << 10) + 1)),
      Buffer.alloc(0),
      bytes(99, 10),
    ];
    const file = join(tempDir(), 'out.bin');
    const handle = await fsp.open(file, 'wx');
    const seen: number[] = [];
    async function* source() {
      yield* chunks;
    }
    const size = await writeGathered(handle, source(), (c) => seen.push(c.byteLength));
    await handle.close();
    const whole = Buffer.concat(chunks);
    expect(size).toBe(whole.length);
    expect(seen).toEqual(chunks.map((c) => c.length));
    expect(readFileSync(file).equals(whole)).toBe(true);
  });
});
