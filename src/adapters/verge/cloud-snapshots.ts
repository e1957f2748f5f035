/**
 * VergeOS cloud snapshots (pyvergeos `CloudSnapshotManager`, 1.1.1 and later): list, get
 * by key or name, create with `expires`/`expires_type`, delete, the VMs and tenants in a
 * snapshot, and recovering one of them.
 */
import { SnapupError } from '../../errors.js';
import { isRecord, type VergeClient } from './client.js';
import { VergeNotFoundError, VergeValidationError } from './errors.js';
import { buildFilter, type FilterValue, nameFilter } from './filters.js';
import { waitTask } from './tasks.js';

export const SNAP_FIELDS =
  '$key,name,description,created,expires,snapshot_profile,private,remote_sync,immutable,immutable_status,immutable_lock_expires,status,status_info';
export const VM_FIELDS =
  '$key,name,description,uuid,machine_uuid,cpu_cores,ram,os_family,is_snapshot,status,status_info,original_key,cloud_snapshot';
export const TENANT_FIELDS =
  '$key,name,description,uuid,nodes,cpu_cores,ram,is_snapshot,status,status_info,original_key,cloud_snapshot';

/** pyvergeos's default retention when none is given: 3 days. */
export const DEFAULT_RETENTION_SEC = 259_200;

export type VergeRecord = Record<string, unknown>;

/** `int($key)`; a record without one was never stored. */
export function keyOf(record: VergeRecord): number {
  const key = Number.parseInt(String(record.$key ?? ''), 10);
  if (record.$key === undefined || record.$key === null || Number.isNaN(key)) {
    throw new SnapupError('BAD_RESPONSE', 'Resource has no $key - may not be persisted', {
      field: '$key',
    });
  }
  return key;
}

const epoch = (v: unknown) => {
  const n = Number(v);
  return v !== undefined && v !== null && v !== '' && Number.isFinite(n) && n > 0
    ? new Date(n * 1000)
    : null;
};

/** A cloud snapshot record with pyvergeos's accessors and defaults. */
export class CloudSnapshot {
  constructor(
    readonly raw: VergeRecord,
    private readonly manager: CloudSnapshots,
    /** Filled by `list({ includeVms })` / `list({ includeTenants })`. */
    public vms: SnapshotMachine[] | null = null,
    public tenants: SnapshotMachine[] | null = null,
  ) {}

  get key(): number {
    return keyOf(this.raw);
  }
  get name(): string {
    return String(this.raw.name ?? '');
  }
  get description(): string {
    return String(this.raw.description ?? '');
  }
  get createdAt(): Date | null {
    return epoch(this.raw.created);
  }
  get expiresAt(): Date | null {
    return epoch(this.raw.expires);
  }
  get neverExpires(): boolean {
    const expires = this.raw.expires;
    return (
      this.raw.expires_type === 'never' ||
      (expires !== undefined && expires !== null && Number(expires) === 0)
    );
  }
  get isPrivate(): boolean {
    return Boolean(this.raw.private);
  }
  get isRemoteSync(): boolean {
    return Boolean(this.raw.remote_sync);
  }
  get isImmutable(): boolean {
    return Boolean(this.raw.immutable);
  }
  get immutableStatus(): string {
    return String(this.raw.immutable_status ?? 'unlocked');
  }
  get isLocked(): boolean {
    return this.immutableStatus === 'locked';
  }
  get immutableLockExpiresAt(): Date | null {
    return epoch(this.raw.immutable_lock_expires);
  }
  get status(): string {
    return String(this.raw.status ?? 'normal');
  }
  get statusInfo(): string {
    return String(this.raw.status_info ?? '');
  }

  /** Refused here, without a request, while the snapshot is immutable and locked. */
  async delete(signal?: AbortSignal): Promise<void> {
    if (this.isImmutable && this.isLocked) {
      throw new VergeValidationError(
        `Cannot delete immutable snapshot '${this.name}' while locked`,
      );
    }
    await this.manager.delete(this.key, signal);
  }

  toString(): string {
    return `<CloudSnapshot key=${String(this.raw.$key ?? '?')} name='${this.name}'>`;
  }
}

/** A VM or tenant inside a cloud snapshot. */
export interface SnapshotMachine {
  key: number;
  name: string;
  description: string;
  uuid: string | null;
  /** VMs only. */
  machineUuid: string | null;
  osFamily: string;
  /** Tenants only. */
  nodes: number;
  cpuCores: number;
  ramMb: number;
  isSnapshot: boolean;
  /** Recovery status: idle, importing, complete or error. */
  status: string;
  statusInfo: string;
  originalKey: number | null;
  cloudSnapshotKey: number | null;
  raw: VergeRecord;
}

function machineOf(raw: VergeRecord): SnapshotMachine {
  const intOrNull = (v: unknown) =>
    v === undefined || v === null || v === '' ? null : Number.parseInt(String(v), 10);
  const str = (v: unknown) => (v === undefined || v === null ? null : String(v));
  return {
    key: keyOf(raw),
    name: String(raw.name ?? ''),
    description: String(raw.description ?? ''),
    uuid: str(raw.uuid),
    machineUuid: str(raw.machine_uuid),
    osFamily: String(raw.os_family ?? ''),
    nodes: Number(raw.nodes ?? 0),
    cpuCores: Number(raw.cpu_cores ?? 0),
    ramMb: Number(raw.ram ?? 0),
    isSnapshot: Boolean(raw.is_snapshot ?? false),
    status: String(raw.status ?? 'idle'),
    statusInfo: String(raw.status_info ?? ''),
    originalKey: intOrNull(raw.original_key),
    cloudSnapshotKey: intOrNull(raw.cloud_snapshot),
    raw,
  };
}

export interface ListOptions {
  /** Include snapshots past their expiry (otherwise `expires eq 0 or expires gt now`). */
  includeExpired?: boolean;
  /** The caller's own filter expression, added in parentheses. */
  filter?: string;
  /** Conditions built safely with `buildFilter` (wildcards → like, lists → in). */
  where?: Record<string, FilterValue | undefined>;
  fields?: readonly string[];
  limit?: number;
  offset?: number;
  /** Default `-created` (newest first). */
  sort?: string;
  includeVms?: boolean;
  includeTenants?: boolean;
  signal?: AbortSignal;
}

export interface CreateSnapshotOptions {
  /** Default `Snapshot_YYYYMMDD_HHMM` in local time. */
  name?: string;
  /** Seconds to keep it (pyvergeos `retention_seconds` / `retention`). */
  retentionSec?: number;
  neverExpire?: boolean;
  minSnapshots?: number;
  immutable?: boolean;
  private?: boolean;
  /** Wait on the task the answer names, if any. */
  wait?: boolean;
  waitTimeoutSec?: number;
  pollIntervalMs?: number;
  signal?: AbortSignal;
}

export interface RecoverOptions {
  snapshotKey?: number;
  snapshotName?: string;
  /** The VM's (or tenant's) key or name inside the snapshot. */
  key?: number;
  name?: string;
  /** The name the recovered VM or tenant gets. */
  newName?: string;
  signal?: AbortSignal;
}

export interface RecoverResult {
  snapshotKey: number;
  /** The VM's or tenant's key in the snapshot. */
  key: number;
  status: 'initiated';
  taskKey?: number;
  response: VergeRecord;
}

export class CloudSnapshots {
  constructor(readonly client: VergeClient) {}

  async list(options: ListOptions = {}): Promise<CloudSnapshot[]> {
    const clauses: string[] = [];
    if (!options.includeExpired) {
      clauses.push(`(expires eq 0 or expires gt ${Math.floor(this.client.now() / 1000)})`);
    }
    if (options.filter) clauses.push(`(${options.filter})`);
    const built = options.where ? buildFilter(options.where) : '';
    if (built) clauses.push(built);
    const body = await this.client.request('GET', 'cloud_snapshots', {
      query: {
        filter: clauses.length > 0 ? clauses.join(' and ') : undefined,
        fields: options.fields ? options.fields.join(',') : SNAP_FIELDS,
        limit: optionalInt(options.limit, 'limit'),
        offset: optionalInt(options.offset, 'offset'),
        sort: options.sort ?? '-created',
      },
      signal: options.signal,
    });
    const records = recordsOf(body);
    const snapshots = records.map((r) => new CloudSnapshot(r, this));
    for (const s of snapshots) {
      // As in pyvergeos: one call per snapshot, and a failure gives an empty list.
      if (options.includeVms)
        s.vms = await this.vms(s.key)
          .list({ signal: options.signal })
          .catch(() => []);
      if (options.includeTenants) {
        s.tenants = await this.tenants(s.key)
          .list({ signal: options.signal })
          .catch(() => []);
      }
    }
    return snapshots;
  }

  async get(
    key: number,
    options: { fields?: readonly string[]; signal?: AbortSignal } = {},
  ): Promise<CloudSnapshot> {
    const body = await this.client.request('GET', `cloud_snapshots/${checkKey(key, 'key')}`, {
      query: { fields: options.fields ? options.fields.join(',') : SNAP_FIELDS },
      signal: options.signal,
    });
    if (!isRecord(body) || Object.keys(body).length === 0) {
      throw new VergeNotFoundError(`Cloud snapshot ${key} not found`);
    }
    return new CloudSnapshot(body, this);
  }

  /** By name, expired ones included unless told otherwise. */
  async getByName(
    name: string,
    options: { includeExpired?: boolean; signal?: AbortSignal } = {},
  ): Promise<CloudSnapshot> {
    const [found] = await this.list({
      filter: nameFilter(name),
      limit: 1,
      includeExpired: options.includeExpired ?? true,
      signal: options.signal,
    });
    if (!found) throw new VergeNotFoundError(`Cloud snapshot '${name}' not found`);
    return found;
  }

  async create(options: CreateSnapshotOptions = {}): Promise<CloudSnapshot> {
    const nowSec = this.client.now() / 1000;
    const body: Record<string, unknown> = {
      name: options.name ?? defaultSnapshotName(new Date(this.client.now())),
      min_snapshots: options.minSnapshots ?? 1,
      ...expiryFields(options, nowSec),
    };
    if (options.immutable) body.immutable = true;
    if (options.private) body.private = true;
    const response = await this.client.request('POST', 'cloud_snapshots', {
      body,
      signal: options.signal,
    });
    if (!isRecord(response)) {
      throw new SnapupError(
        'BAD_RESPONSE',
        'VergeOS answered the create with something that is not an object',
        {
          field: 'cloud_snapshots',
        },
      );
    }
    if (options.wait && response.task !== undefined && response.task !== null) {
      await waitTask(this.client, Number(response.task), {
        timeoutSec: options.waitTimeoutSec,
        pollIntervalMs: options.pollIntervalMs,
        signal: options.signal,
      });
    }
    if (response.$key !== undefined && response.$key !== null) {
      return this.get(keyOf(response), { signal: options.signal });
    }
    return new CloudSnapshot(response, this);
  }

  async delete(key: number, signal?: AbortSignal): Promise<void> {
    await this.client.request('DELETE', `cloud_snapshots/${checkKey(key, 'key')}`, { signal });
  }

  vms(snapshotKey: number): SnapshotMachines {
    return new SnapshotMachines(this.client, snapshotKey, 'vm');
  }

  tenants(snapshotKey: number): SnapshotMachines {
    return new SnapshotMachines(this.client, snapshotKey, 'tenant');
  }

  /** Starts recovering a VM from a snapshot; does not wait (the answer may name a task). */
  recoverVm(options: RecoverOptions): Promise<RecoverResult> {
    return this.recover('vm', options);
  }

  recoverTenant(options: RecoverOptions): Promise<RecoverResult> {
    return this.recover('tenant', options);
  }

  private async recover(kind: 'vm' | 'tenant', o: RecoverOptions): Promise<RecoverResult> {
    const label = kind === 'vm' ? 'vm' : 'tenant';
    let snapshotKey = o.snapshotKey;
    if (snapshotKey === undefined) {
      if (o.snapshotName === undefined) {
        throw new SnapupError(
          'BAD_INPUT',
          'Either snapshot_key or snapshot_name must be provided',
          { field: 'snapshot' },
        );
      }
      snapshotKey = (
        await this.getByName(o.snapshotName, { includeExpired: true, signal: o.signal })
      ).key;
    }
    let key = o.key;
    if (key === undefined) {
      if (o.name === undefined) {
        throw new SnapupError(
          'BAD_INPUT',
          `Either ${label}_key or ${label}_name must be provided`,
          { field: label },
        );
      }
      const machines = kind === 'vm' ? this.vms(snapshotKey) : this.tenants(snapshotKey);
      key = (await machines.getByName(o.name, o.signal)).key;
    }
    const params: Record<string, unknown> = { rows: [key] };
    if (o.newName) params.name = o.newName;
    const response = await this.client.request('POST', `cloud_snapshot_${kind}_actions`, {
      body: { action: 'recover', params },
      signal: o.signal,
    });
    const record = isRecord(response) ? response : {};
    const result: RecoverResult = { snapshotKey, key, status: 'initiated', response: record };
    if (record.task !== undefined && record.task !== null) result.taskKey = Number(record.task);
    return result;
  }
}

/** The VMs (`cloud_snapshot_vms`) or tenants (`cloud_snapshot_tenants`) of one snapshot. */
export class SnapshotMachines {
  private readonly table: string;
  private readonly fields: string;
  private readonly noun: string;

  constructor(
    private readonly client: VergeClient,
    readonly snapshotKey: number,
    kind: 'vm' | 'tenant',
  ) {
    this.table = kind === 'vm' ? 'cloud_snapshot_vms' : 'cloud_snapshot_tenants';
    this.fields = kind === 'vm' ? VM_FIELDS : TENANT_FIELDS;
    this.noun = kind === 'vm' ? 'VM' : 'Tenant';
  }

  async list(
    options: Pick<ListOptions, 'filter' | 'where' | 'limit' | 'offset' | 'signal'> = {},
  ): Promise<SnapshotMachine[]> {
    let filter = `cloud_snapshot eq ${checkKey(this.snapshotKey, 'snapshot key')}`;
    if (options.filter) filter += ` and (${options.filter})`;
    const built = options.where ? buildFilter(options.where) : '';
    if (built) filter += ` and ${built}`;
    const body = await this.client.request('GET', this.table, {
      query: {
        filter,
        fields: this.fields,
        limit: optionalInt(options.limit, 'limit'),
        offset: optionalInt(options.offset, 'offset'),
        sort: '+name',
      },
      signal: options.signal,
    });
    return recordsOf(body).map(machineOf);
  }

  async get(key: number, signal?: AbortSignal): Promise<SnapshotMachine> {
    const body = await this.client.request('GET', `${this.table}/${checkKey(key, 'key')}`, {
      query: { fields: this.fields },
      signal,
    });
    if (!isRecord(body) || Object.keys(body).length === 0) {
      throw new VergeNotFoundError(`${this.noun} ${key} not found`);
    }
    const machine = machineOf(body);
    if (machine.cloudSnapshotKey !== this.snapshotKey) {
      throw new VergeNotFoundError(
        `${this.noun} ${key} does not belong to snapshot ${this.snapshotKey}`,
      );
    }
    return machine;
  }

  async getByName(name: string, signal?: AbortSignal): Promise<SnapshotMachine> {
    const [found] = await this.list({ filter: nameFilter(name), signal });
    if (!found)
      throw new VergeNotFoundError(
        `${this.noun} '${name}' not found in cloud snapshot ${this.snapshotKey}`,
      );
    return found;
  }
}

/** The four cases of `expires` / `expires_type` (pyvergeos 1.1.1; `retention` is not sent). */
export function expiryFields(
  o: { neverExpire?: boolean; retentionSec?: number },
  nowSec: number,
): { expires: number; expires_type: 'never' | 'date' } {
  if (o.neverExpire) {
    if (o.retentionSec !== undefined) {
      throw new SnapupError(
        'BAD_INPUT',
        'retention and never-expire contradict each other; give one',
        {
          field: 'retention',
        },
      );
    }
    return { expires: 0, expires_type: 'never' };
  }
  const retention = o.retentionSec ?? DEFAULT_RETENTION_SEC;
  if (!Number.isFinite(retention) || retention <= 0) {
    throw new SnapupError(
      'BAD_INPUT',
      `retention: ${retention} must be a positive number of seconds`,
      {
        field: 'retention',
      },
    );
  }
  return { expires: Math.floor(nowSec + retention), expires_type: 'date' };
}

/** `Snapshot_YYYYMMDD_HHMM` in local time. */
export function defaultSnapshotName(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `Snapshot_${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}_${p(d.getHours())}${p(d.getMinutes())}`;
}

/** A list answer is an array, or one object the client wraps. */
function recordsOf(body: unknown): VergeRecord[] {
  if (body === null || body === undefined) return [];
  const items = Array.isArray(body) ? body : [body];
  return items.filter(isRecord);
}

function checkKey(key: number, field: string): number {
  if (!Number.isSafeInteger(key) || key < 0) {
    throw new SnapupError('BAD_INPUT', `${field}: ${key} is not a VergeOS key (a whole number)`, {
      field,
    });
  }
  return key;
}

function optionalInt(value: number | undefined, field: string): string | undefined {
  if (value === undefined) return undefined;
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new SnapupError('BAD_INPUT', `${field}: ${value} must be a whole number of at least 0`, {
      field,
    });
  }
  return String(value);
}
