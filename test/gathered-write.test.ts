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

  it('finishes a gathered write the system took only part of', async () => {
    const file = join(tempDir(), 'short.bin');
    const real = await fsp.open(file, 'wx');
    // A handle whose gathered writes take half of what they are given, as a full disk may.
    const halving = {
      writev: async (parts: Uint8Array[]) => {
        const joined = Buffer.concat(parts);
        return real.write(joined, 0, Math.ceil(joined.length / 2));
      },
      write: (b: Buffer, at: number, n: number) => real.write(b, at, Math.min(n, 1000)),
    } as unknown as fsp.FileHandle;
    const chunks = Array.from({ length: 20 }, (_, i) => bytes(i + 7, (64 << 10) + 3));
    async function* source() {
      yield* chunks;
    }
    expect(await writeGathered(halving, source())).toBe(20 * ((64 << 10) + 3));
    await real.close();
    expect(readFileSync(file).equals(Buffer.concat(chunks))).toBe(true);
  });
});
