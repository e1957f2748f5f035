/**
 * Directory snapshots (the local store and CB servers) behind the one lifecycle: create
 * is a push of a folder, restore a pull into one. Ids are `name/tag` (`name` alone for
 * its `default` tag) or `owner:name/tag` for another user's snapshot.
 */
import { basename, resolve } from 'node:path';
import { pull } from '../engine/pull.js';
import { push } from '../engine/push.js';
import type { PullSource, PushTarget } from '../engine/target.js';
import { SnapupError } from '../errors.js';
import {
  checkName,
  NAME_RE,
  parseAddress,
  type SnapshotAddress,
  type SnapshotMeta,
} from '../protocol/types.js';
import {
  type CallOptions,
  type Capability,
  type CreateOptions,
  type ListQuery,
  type RestoreOptions,
  type RestoreResult,
  refuseUnsupported,
  type SnapshotContents,
  type SnapshotInfo,
  type SnapshotLifecycle,
} from './model.js';
import { infoFromCb } from './vocabulary.js';

/** What the local store and the CB client both offer. */
export interface DirectoryBackend extends PushTarget, PullSource {
  /** The user snapshots are made as (their ids leave the owner out). */
  readonly user?: string | undefined;
  list(filter?: { owner?: string; name?: string }): Promise<SnapshotMeta[]>;
  remove(address: SnapshotAddress): Promise<void>;
  close?(): Promise<void>;
}

/** `name`, `name/tag` or `owner:name/tag`. */
export function parseSnapshotId(id: string): SnapshotAddress {
  const colon = id.indexOf(':');
  if (colon < 0) return parseAddress(id);
  const owner = checkName(id.slice(0, colon), 'snapshot owner');
  return { ...parseAddress(id.slice(colon + 1)), owner };
}

export class DirectoryLifecycle implements SnapshotLifecycle {
  readonly description: string;
  readonly capabilities: ReadonlySet<Capability> = new Set<Capability>([
    'create',
    'list',
    'get',
    'delete',
    'restore',
    'contents',
  ]);
  readonly createOptions = ['name', 'tag', 'source', 'retentionSec', 'private'] as const;
  readonly restoreOptions = ['dest', 'force'] as const;

  constructor(
    readonly backend: DirectoryBackend,
    readonly kind: 'local' | 'cb',
  ) {
    this.description = backend.description;
  }

  private info(meta: SnapshotMeta): SnapshotInfo {
    return infoFromCb(meta, this.kind, this.backend.user);
  }

  async list(query: ListQuery = {}): Promise<SnapshotInfo[]> {
    const all = await this.backend.list(query.name === undefined ? {} : { name: query.name });
    const from = query.offset ?? 0;
    return all
      .slice(from, query.limit === undefined || query.limit === 0 ? undefined : from + query.limit)
      .map((m) => this.info(m));
  }

  async get(id: string, call: CallOptions = {}): Promise<SnapshotInfo> {
    const { snapshot } = await this.backend.get(parseSnapshotId(id), call.signal);
    return this.info(snapshot);
  }

  /** A push of `source`; the name defaults to the folder's name. */
  async create(options: CreateOptions, call: CallOptions = {}): Promise<SnapshotInfo> {
    refuseUnsupported(this, 'create', options, this.createOptions);
    if (!options.source) {
      throw new SnapupError(
        'BAD_INPUT',
        `${this.kind}: create uploads a folder; give it (--from DIR)`,
        {
          field: 'source',
        },
      );
    }
    const summary = await push({
      dir: options.source,
      target: this.backend,
      name: options.name ?? defaultName(options.source),
      tag: options.tag,
      expireSec: options.retentionSec,
      accessLevel: options.private ? 'Invisible' : undefined,
      signal: call.signal,
      onEvent: call.onEvent,
    });
    return this.get(`${summary.snapshot.name}/${summary.snapshot.tag}`, call);
  }

  async delete(id: string): Promise<void> {
    await this.backend.remove(parseSnapshotId(id));
  }

  /** A pull into `dest`. */
  async restore(
    id: string,
    options: RestoreOptions,
    call: CallOptions = {},
  ): Promise<RestoreResult> {
    refuseUnsupported(this, 'restore', options, this.restoreOptions);
    if (!options.dest) {
      throw new SnapupError(
        'BAD_INPUT',
        `${this.kind}: restore writes the files into a folder; give it (--into DIR)`,
        {
          field: 'dest',
        },
      );
    }
    const summary = await pull({
      source: this.backend,
      address: parseSnapshotId(id),
      dest: options.dest,
      force: options.force,
      signal: call.signal,
      onEvent: call.onEvent,
    });
    return {
      backend: this.kind,
      snapshotId: id,
      kind: 'directory',
      target: resolve(options.dest),
      status: 'restored',
      raw: summary,
    };
  }

  async contents(id: string, call: CallOptions = {}): Promise<SnapshotContents> {
    const { fileHashes } = await this.backend.get(parseSnapshotId(id), call.signal);
    return {
      kind: 'files',
      files: Object.entries(fileHashes).map(([path, e]) => ({
        path,
        sha1: e.sha1,
        size: e.size ?? null,
        exe: e.permissions.exe,
        ro: e.permissions.ro,
      })),
    };
  }

  async close(): Promise<void> {
    await this.backend.close?.();
  }
}

/** The folder's own name, made a valid snapshot name (`snapshot` when nothing is left). */
export function defaultName(dir: string): string {
  const base = basename(resolve(dir))
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '');
  return NAME_RE.test(base) ? base : 'snapshot';
}
