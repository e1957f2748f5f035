/** Piscina worker: hashes one batch of files (many small ones, or one large one). */
import { type HashResult, sha1Files } from '../src/hash/sha1-file.js';

export default function hashBatch(paths: string[]): HashResult[] {
  return sha1Files(paths);
}
