/**
 * What the last push of a folder under a name became: its tag and the digests of its
 * manifest and snapshot options, kept beside the hash cache. A push without a tag whose
 * manifest and options are unchanged since then names exactly that snapshot; the spec
 * (B.1, B.10) answers an identical manifest at its own address with `frozen: true`. Without
 * this, a snapshot pushed, edited and pushed again lives under a generated tag, and every
 * later unchanged push would make one more copy (and pay for a full negotiation and
 * freeze) instead of doing nothing.
 *
 * Only an optimisation: a memory that cannot be read or written is no memory.
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { dirname, join } from 'node:path';
import type { NewSnapshotParams } from '../protocol/types.js';
import { writeFileAtomic } from '../util/atomic.js';
import { makeDir } from '../util/make-dir.js';

export interface LastPush {
  tag: string;
  manifestDigest: string;
  optionsDigest: string;
}

export class LastPushMemory {
  private readonly file: string;

  constructor(
    cacheDir: string,
    key: { root: string; target: string; user?: string; name: string },
  ) {
    const id = createHash('sha256')
      .update(JSON.stringify([key.root, key.target, key.user ?? '', key.name]))
      .digest('hex')
      .slice(0, 24);
    this.file = join(cacheDir, 'last-push', `${id}.json`);
  }

  async recall(): Promise<LastPush | undefined> {
    try {
      const v = JSON.parse(await fsp.readFile(this.file, 'utf8')) as Partial<LastPush>;
      if (
        typeof v.tag === 'string' &&
        typeof v.manifestDigest === 'string' &&
        typeof v.optionsDigest === 'string'
      ) {
        return { tag: v.tag, manifestDigest: v.manifestDigest, optionsDigest: v.optionsDigest };
      }
    } catch {
      // none yet, or unreadable: as if none
    }
    return undefined;
  }

  async remember(last: LastPush): Promise<void> {
    try {
      await makeDir(dirname(this.file));
      await writeFileAtomic(this.file, JSON.stringify(last));
    } catch {
      // the next push just negotiates in full
    }
  }
}

/** The snapshot options that make two pushes of the same content different snapshots. */
export function optionsDigest(meta: NewSnapshotParams): string {
  const { expirationTimeSec, removeAfterExecute, accessLevel, accessPerUser } = meta;
  return createHash('sha256')
    .update(
      JSON.stringify([
        expirationTimeSec ?? null,
        removeAfterExecute ?? false,
        accessLevel ?? null,
        Object.entries(accessPerUser ?? {}).sort(),
      ]),
    )
    .digest('hex');
}
