/** Datalayer runtime snapshots behind the one snapshot lifecycle. */
import { SnapupError } from '../../errors.js';
import {
  type CallOptions,
  type Capability,
  type CreateOptions,
  type DeleteOptions,
  type ListQuery,
  type RestoreOptions,
  type RestoreResult,
  refuseUnsupported,
  type SnapshotInfo,
  type SnapshotLifecycle,
} from '../../lifecycle/model.js';
import { infoFromDatalayer } from '../../lifecycle/vocabulary.js';
import { DatalayerClient, type DatalayerOptions } from './client.js';
import { RuntimeSnapshots } from './snapshots.js';

export class DatalayerLifecycle implements SnapshotLifecycle {
  readonly kind = 'datalayer' as const;
  readonly description: string;
  readonly capabilities: ReadonlySet<Capability> = new Set<Capability>([
    'create',
    'list',
    'get',
    'delete',
    'restore',
    'wait',
  ]);
  readonly createOptions = ['name', 'description', 'runtime', 'stop'] as const;
  readonly restoreOptions = ['minutes', 'runtime'] as const;
  readonly client: DatalayerClient;
  readonly snapshots: RuntimeSnapshots;

  constructor(client: DatalayerClient | DatalayerOptions) {
    this.client = client instanceof DatalayerClient ? client : new DatalayerClient(client);
    this.snapshots = new RuntimeSnapshots(this.client);
    this.description = `Datalayer at ${this.client.baseUrl}`;
  }

  /** The API has no filter or paging; they are applied here. Nothing expires, so includeExpired changes nothing. */
  async list(query: ListQuery = {}, call: CallOptions = {}): Promise<SnapshotInfo[]> {
    const all = (await this.snapshots.list(call.signal)).map((s) => infoFromDatalayer(s.rawData()));
    const named = query.name === undefined ? all : all.filter((s) => s.name === query.name);
    const from = query.offset ?? 0;
    return named.slice(
      from,
      query.limit === undefined || query.limit === 0 ? undefined : from + query.limit,
    );
  }

  async get(id: string, call: CallOptions = {}): Promise<SnapshotInfo> {
    return infoFromDatalayer((await this.snapshots.get(id, call.signal)).rawData());
  }

  async create(options: CreateOptions, call: CallOptions = {}): Promise<SnapshotInfo> {
    refuseUnsupported(this, 'create', options, this.createOptions);
    if (!options.runtime) {
      throw new SnapupError(
        'BAD_INPUT',
        'Pod name is required: the runtime to snapshot (--runtime POD)',
        {
          field: 'runtime',
        },
      );
    }
    if (!options.name) {
      throw new SnapupError('BAD_INPUT', 'datalayer: a snapshot name is required (--name)', {
        field: 'name',
      });
    }
    const created = await this.snapshots.create(
      options.runtime,
      options.name,
      options.description,
      options.stop ?? false,
      call.signal,
    );
    return infoFromDatalayer(created.rawData());
  }

  async delete(id: string, options: DeleteOptions = {}, call: CallOptions = {}): Promise<void> {
    await this.snapshots.delete(id, call.signal);
    if (options.wait) await this.snapshots.waitGone(id, call.signal);
  }

  /** Into a new notebook runtime (`minutes`), or into a running one (`runtime`). */
  async restore(
    id: string,
    options: RestoreOptions,
    call: CallOptions = {},
  ): Promise<RestoreResult> {
    refuseUnsupported(this, 'restore', options, this.restoreOptions);
    if ((options.minutes === undefined) === (options.runtime === undefined)) {
      throw new SnapupError(
        'BAD_INPUT',
        'datalayer: restore into a new runtime (--minutes N) or into a running one (--runtime POD); give exactly one',
        { field: 'minutes' },
      );
    }
    const snapshot = await this.snapshots.get(id, call.signal);
    if (options.runtime !== undefined) {
      const loaded = await snapshot.loadInto(options.runtime, call.signal);
      return {
        backend: 'datalayer',
        snapshotId: id,
        kind: 'runtime',
        target: options.runtime,
        status: 'loaded',
        raw: 'raw' in loaded ? loaded.raw : loaded,
      };
    }
    const runtime = await snapshot.restore(options.minutes as number, call.signal);
    return {
      backend: 'datalayer',
      snapshotId: id,
      kind: 'runtime',
      target: runtime.podName,
      status: 'started',
      raw: runtime.raw,
    };
  }

  close(): Promise<void> {
    return this.client.close();
  }
}
