/** VergeOS cloud snapshots behind the one snapshot lifecycle. */
import { SnapupError } from '../../errors.js';
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
} from '../../lifecycle/model.js';
import { infoFromVerge } from '../../lifecycle/vocabulary.js';
import { VergeClient, type VergeOptions } from './client.js';
import { type CloudSnapshot, CloudSnapshots } from './cloud-snapshots.js';
import { waitTask } from './tasks.js';

const KEY_RE = /^\d+$/;

export class VergeLifecycle implements SnapshotLifecycle {
  readonly kind = 'verge' as const;
  readonly description: string;
  readonly capabilities: ReadonlySet<Capability> = new Set<Capability>([
    'create',
    'list',
    'get',
    'delete',
    'restore',
    'wait',
    'contents',
  ]);
  readonly createOptions = [
    'name',
    'retentionSec',
    'neverExpires',
    'immutable',
    'private',
    'minSnapshots',
    'wait',
    'waitTimeoutSec',
  ] as const;
  readonly restoreOptions = ['vm', 'tenant', 'newName', 'wait', 'waitTimeoutSec'] as const;
  readonly client: VergeClient;
  readonly snapshots: CloudSnapshots;
  /** Task polling interval (pyvergeos: 2 s); tests shorten it. */
  pollIntervalMs: number | undefined;

  constructor(client: VergeClient | VergeOptions) {
    this.client = client instanceof VergeClient ? client : new VergeClient(client);
    this.snapshots = new CloudSnapshots(this.client);
    this.description = `VergeOS at ${this.client.baseUrl}`;
  }

  /** A key (digits) or a name (expired snapshots included, as pyvergeos does). */
  resolve(id: string, signal?: AbortSignal): Promise<CloudSnapshot> {
    return KEY_RE.test(id)
      ? this.snapshots.get(Number(id), { signal })
      : this.snapshots.getByName(id, { includeExpired: true, signal });
  }

  async list(query: ListQuery = {}, call: CallOptions = {}): Promise<SnapshotInfo[]> {
    const found = await this.snapshots.list({
      includeExpired: query.includeExpired,
      where: query.name === undefined ? undefined : { name: query.name },
      limit: query.limit,
      offset: query.offset,
      signal: call.signal,
    });
    return found.map(infoFromVerge);
  }

  async get(id: string, call: CallOptions = {}): Promise<SnapshotInfo> {
    return infoFromVerge(await this.resolve(id, call.signal));
  }

  async create(options: CreateOptions, call: CallOptions = {}): Promise<SnapshotInfo> {
    refuseUnsupported(this, 'create', options, this.createOptions);
    const created = await this.snapshots.create({
      name: options.name,
      retentionSec: options.retentionSec,
      neverExpire: options.neverExpires,
      immutable: options.immutable,
      private: options.private,
      minSnapshots: options.minSnapshots,
      wait: options.wait,
      waitTimeoutSec: options.waitTimeoutSec,
      pollIntervalMs: this.pollIntervalMs,
      signal: call.signal,
    });
    return infoFromVerge(created);
  }

  async delete(id: string, _options = {}, call: CallOptions = {}): Promise<void> {
    const snapshot = await this.resolve(id, call.signal);
    await snapshot.delete(call.signal);
  }

  async restore(
    id: string,
    options: RestoreOptions,
    call: CallOptions = {},
  ): Promise<RestoreResult> {
    refuseUnsupported(this, 'restore', options, this.restoreOptions);
    if ((options.vm === undefined) === (options.tenant === undefined)) {
      throw new SnapupError(
        'BAD_INPUT',
        'verge: restore recovers one VM (--vm) or one tenant (--tenant); give exactly one',
        {
          field: 'vm',
        },
      );
    }
    const kind = options.vm !== undefined ? 'vm' : 'tenant';
    const which = (options.vm ?? options.tenant) as string;
    const snapshot = KEY_RE.test(id) ? { snapshotKey: Number(id) } : { snapshotName: id };
    const target = KEY_RE.test(which) ? { key: Number(which) } : { name: which };
    const request = { ...snapshot, ...target, newName: options.newName, signal: call.signal };
    const result =
      kind === 'vm'
        ? await this.snapshots.recoverVm(request)
        : await this.snapshots.recoverTenant(request);
    let status: string = result.status;
    if (options.wait && result.taskKey !== undefined) {
      const task = await waitTask(this.client, result.taskKey, {
        timeoutSec: options.waitTimeoutSec,
        pollIntervalMs: this.pollIntervalMs,
        signal: call.signal,
      });
      status = String(task.status ?? 'idle') === 'idle' ? 'complete' : String(task.status);
    }
    return {
      backend: 'verge',
      snapshotId: String(result.snapshotKey),
      kind,
      target: String(result.key),
      status,
      raw: result,
    };
  }

  async contents(id: string, call: CallOptions = {}): Promise<SnapshotContents> {
    const key = KEY_RE.test(id) ? Number(id) : (await this.resolve(id, call.signal)).key;
    const [vms, tenants] = await Promise.all([
      this.snapshots.vms(key).list({ signal: call.signal }),
      this.snapshots.tenants(key).list({ signal: call.signal }),
    ]);
    return {
      kind: 'machines',
      vms: vms.map((m) => ({
        key: m.key,
        name: m.name,
        status: m.status,
        cpuCores: m.cpuCores,
        ramMb: m.ramMb,
      })),
      tenants: tenants.map((m) => ({
        key: m.key,
        name: m.name,
        status: m.status,
        nodes: m.nodes,
        ramMb: m.ramMb,
      })),
    };
  }

  close(): Promise<void> {
    return this.client.close();
  }
}
