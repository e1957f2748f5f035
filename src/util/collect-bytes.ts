/**
 * A stream's whole content (for small contents), in a buffer of its own: a worker gets a
 * copy of the whole backing memory of what it is sent, and the chunks are views into the
 * stream's larger buffers (or, via Buffer.concat, into the shared 8 KiB pool).
 */
export async function collectBytes(stream: AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    chunks.push(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  const out = Buffer.allocUnsafeSlow(size);
  let offset = 0;
  for (const chunk of chunks) offset += chunk.copy(out, offset);
  return out;
}
