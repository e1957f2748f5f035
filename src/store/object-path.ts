/** Where a loose object lives in the store: `objects/ab/<sha1>` (shared by both threads). */
import { join } from 'node:path';

export function objectPathIn(objectsDir: string, sha1: string): string {
  return join(objectsDir, sha1.slice(0, 2), sha1);
}
