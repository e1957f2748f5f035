import { createHash } from 'node:crypto';

/**
 * Passes chunks through while hashing them, holding back the last one until the whole
 * content proved to hash to `sha1`: a consumer that writes chunks to a temp file and
 * renames it at the end never publishes corrupt content. `onMismatch` makes the error.
 */
export async function* verifiedChunks(
  source: AsyncIterable<Uint8Array>,
  sha1: string,
  onMismatch: (actual: string) => Error,
): AsyncGenerator<Buffer> {
  const hash = createHash('sha1');
  let pending: Buffer | undefined;
  for await (const chunk of source) {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
    hash.update(buf);
    if (pending) yield pending;
    pending = buf;
  }
  const actual = hash.digest('hex');
  if (actual !== sha1) throw onMismatch(actual);
  if (pending) yield pending;
}
