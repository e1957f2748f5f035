/** Reading tar streams (batch uploads on the server, archive answers on the client). */
import { Readable } from 'node:stream';
import tar from 'tar-stream';

/**
 * The entries of a tar body. pipe() does not pass errors on, so a body that fails midway
 * (a peer that went away) fails the iteration instead of leaving it waiting.
 */
export function tarEntries(body: AsyncIterable<Uint8Array>): tar.Extract {
  const extract = tar.extract();
  const source = Readable.from(body);
  source.on('error', (err) => extract.destroy(err));
  source.pipe(extract);
  return extract;
}

/**
 * An entry's whole content (for small entries), in a buffer of its own: a worker gets a
 * copy of the whole backing memory of what it is sent, and the chunks are views into the
 * stream's larger buffers (or, via Buffer.concat, into the shared 8 KiB pool).
 */
export async function entryBytes(entry: AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of entry) {
    chunks.push(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  const out = Buffer.allocUnsafeSlow(size);
  let offset = 0;
  for (const chunk of chunks) offset += chunk.copy(out, offset);
  return out;
}
