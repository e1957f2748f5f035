/**
 * Where each backend's words meet the one snapshot model (the README has this as a
 * table). Keep every mapping here, so the backends read the same in `snapup ls/show`.
 *
 * | model        | local / CB                    | Datalayer             | VergeOS                        |
 * |--------------|-------------------------------|-----------------------|--------------------------------|
 * | id           | name/tag (owner:name/tag)     | uid                   | $key                           |
 * | createdAt    | createdAt                     | -                     | created (epoch s)              |
 * | updatedAt    | -                             | updated_at            | -                              |
 * | expiresAt    | expiresAt (expirationTimeSec) | - (never expires)     | expires (epoch s), 0 = never   |
 * | frozen       | frozen                        | - (false)             | immutable                      |
 * | private      | accessLevel Invisible         | - (false)             | private                        |
 * | status       | open / frozen                 | status                | status (normal / held)         |
 * | size         | size                          | size                  | -                              |
 */
import type { RuntimeSnapshotData } from '../adapters/datalayer/snapshots.js';
import type { CloudSnapshot } from '../adapters/verge/cloud-snapshots.js';
import type { SnapshotMeta } from '../protocol/types.js';
import type { SnapshotInfo } from './model.js';

/** A local or CB snapshot; the id names another owner's snapshot as `owner:name/tag`. */
export function infoFromCb(
  meta: SnapshotMeta,
  backend: 'local' | 'cb',
  self?: string,
): SnapshotInfo {
  const address = `${meta.name}/${meta.tag}`;
  return {
    backend,
    id: self === undefined || meta.owner === self ? address : `${meta.owner}:${address}`,
    name: meta.name,
    description: '',
    createdAt: meta.createdAt,
    updatedAt: null,
    expiresAt: meta.expiresAt,
    neverExpires: meta.expiresAt === null,
    status: meta.frozen ? 'frozen' : 'open',
    frozen: meta.frozen,
    private: meta.accessLevel === 'Invisible',
    size: meta.size,
    raw: meta,
  };
}

export function infoFromVerge(s: CloudSnapshot): SnapshotInfo {
  return {
    backend: 'verge',
    id: String(s.key),
    name: s.name,
    description: s.description,
    createdAt: s.createdAt?.toISOString() ?? null,
    updatedAt: null,
    expiresAt: s.neverExpires ? null : (s.expiresAt?.toISOString() ?? null),
    neverExpires: s.neverExpires,
    status: s.status,
    frozen: s.isImmutable,
    private: s.isPrivate,
    size: null,
    raw: s.raw,
  };
}

/** Datalayer snapshots have no expiry, no immutability and no visibility setting. */
export function infoFromDatalayer(data: RuntimeSnapshotData): SnapshotInfo {
  return {
    backend: 'datalayer',
    id: data.uid,
    name: data.name,
    description: data.description ?? '',
    createdAt: null,
    updatedAt: new Date(data.updated_at).toISOString(),
    expiresAt: null,
    neverExpires: true,
    status: data.status ?? null,
    frozen: false,
    private: false,
    size: typeof data.size === 'number' ? data.size : null,
    raw: data,
  };
}
