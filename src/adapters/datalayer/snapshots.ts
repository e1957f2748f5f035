/**
 * Datalayer runtime snapshots: create from a running runtime, list, get, delete (and wait
 * for the delete, as the UI does), restore into a new runtime, and load into an existing
 * one. `RuntimeSnapshot` mirrors the SDK's RuntimeSnapshotDTO (getters, `toJSON()` in
 * camelCase, `rawData()` unchanged, refusing use after delete).
 */
import { SnapupError } from '../../errors.js';
import { type DatalayerClient, requireId } from './client.js';
import { RunResponseError } from './errors.js';

/** The wire record (snake_case). */
export interface RuntimeSnapshotData {
  uid: string;
  name: string;
  description?: string;
  environment: string;
  updated_at: string;
  metadata?: Record<string, unknown>;
  size?: number;
  format?: string;
  format_version?: string;
  status?: string;
  files?: unknown[];
  [key: string]: unknown;
}

export interface RuntimeSnapshotJSON {
  uid: string;
  name: string;
  description: string;
  environment: string;
  updatedAt: string;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The envelope `{success, message, <key>}`. The SDK does not look at `success`; a 2xx
 * that says `success: false` is still a failure, so it is reported with its message.
 */
function unwrap(body: unknown, key: string, what: string): unknown {
  if (!isRecord(body)) {
    throw new SnapupError(
      'BAD_RESPONSE',
      `Datalayer answered ${what} with something that is not a JSON object`,
      {
        field: key,
      },
    );
  }
  if (body.success === false) {
    throw new SnapupError(
      'REMOTE',
      `Datalayer: ${typeof body.message === 'string' ? body.message : `${what} failed`}`,
      {
        field: key,
        data: body,
      },
    );
  }
  return body[key];
}

/** Checks the fields the model needs, naming the first one that is wrong. */
export function checkSnapshotData(value: unknown, field: string): RuntimeSnapshotData {
  if (!isRecord(value)) {
    throw new SnapupError(
      'BAD_RESPONSE',
      `Datalayer answer: ${field} is missing or not an object`,
      { field },
    );
  }
  for (const key of ['uid', 'name', 'environment', 'updated_at']) {
    if (typeof value[key] !== 'string') {
      throw new SnapupError('BAD_RESPONSE', `Datalayer answer: ${field}.${key} must be a string`, {
        field: `${field}.${key}`,
      });
    }
  }
  if (Number.isNaN(Date.parse(value.updated_at as string))) {
    throw new SnapupError('BAD_RESPONSE', `Datalayer answer: ${field}.updated_at is not a date`, {
      field: `${field}.updated_at`,
    });
  }
  return value as RuntimeSnapshotData;
}

/** What `restore` makes: a runtime (RuntimeDTO). Times are epoch seconds on the wire. */
export interface Runtime {
  podName: string;
  uid: string;
  givenName: string;
  environmentName: string;
  environmentTitle: string;
  type: string;
  burningRate: number;
  token: string;
  ingress: string;
  startedAt: Date | null;
  expiredAt: Date | null;
  raw: Record<string, unknown>;
}

export function runtimeOf(raw: Record<string, unknown>, podName?: string): Runtime {
  const time = (v: unknown) =>
    v === undefined || v === null || v === '' ? null : new Date(Number(v) * 1000);
  const str = (v: unknown) => (v === undefined || v === null ? '' : String(v));
  return {
    podName: str(raw.pod_name ?? podName),
    uid: str(raw.uid),
    givenName: str(raw.given_name),
    environmentName: str(raw.environment_name),
    environmentTitle: str(raw.environment_title),
    type: str(raw.type),
    burningRate: Number(raw.burning_rate ?? 0),
    token: str(raw.token),
    ingress: str(raw.ingress),
    startedAt: time(raw.started_at),
    expiredAt: time(raw.expired_at),
    raw,
  };
}

export interface CreateRuntimeRequest {
  environmentName: string;
  type?: 'notebook' | 'terminal' | 'job';
  givenName: string;
  /** The credits limit is ceil(minutes × burning rate per second × 60). */
  minutesLimit: number;
  fromSnapshotId?: string;
}

export class RuntimeSnapshots {
  private environments: Map<string, Record<string, unknown>> | undefined;

  constructor(readonly client: DatalayerClient) {}

  async list(signal?: AbortSignal): Promise<RuntimeSnapshot[]> {
    const body = await this.client.request('GET', this.client.snapshotsPath(), undefined, signal);
    const items = unwrap(body, 'snapshots', 'the snapshot list');
    if (!Array.isArray(items)) {
      throw new SnapupError('BAD_RESPONSE', 'Datalayer answer: snapshots must be a list', {
        field: 'snapshots',
      });
    }
    return items.map(
      (item, i) => new RuntimeSnapshot(checkSnapshotData(item, `snapshots[${i}]`), this),
    );
  }

  async get(uid: string, signal?: AbortSignal): Promise<RuntimeSnapshot> {
    requireId(uid, 'Snapshot ID is required', 'snapshot');
    const body = await this.client.request(
      'GET',
      this.client.snapshotsPath(uid),
      undefined,
      signal,
    );
    return new RuntimeSnapshot(
      checkSnapshotData(unwrap(body, 'snapshot', 'the snapshot'), 'snapshot'),
      this,
    );
  }

  /** POST {pod_name, name, description, stop}; `description` is left out when not given. */
  async create(
    podName: string,
    name: string,
    description?: string,
    stop = false,
    signal?: AbortSignal,
  ): Promise<RuntimeSnapshot> {
    requireId(podName, 'Pod name is required', 'runtime');
    requireId(name, 'Snapshot name is required', 'name');
    const body = await this.client.request(
      'POST',
      this.client.snapshotsPath(),
      { pod_name: podName, name, description, stop },
      signal,
    );
    return new RuntimeSnapshot(
      checkSnapshotData(unwrap(body, 'snapshot', 'the create'), 'snapshot'),
      this,
    );
  }

  /** DELETE; any 2xx is success (the body is ignored). */
  async delete(uid: string, signal?: AbortSignal): Promise<void> {
    requireId(uid, 'Snapshot ID is required', 'snapshot');
    await this.client.request('DELETE', this.client.snapshotsPath(uid), undefined, signal);
  }

  /**
   * Waits until a deleted snapshot is gone, as the UI's delete poller does: GET it after
   * 1 s, 2 s, 4 s ... until a 404 (or a soft-deleted record, status `deleted`).
   */
  waitGone(uid: string, signal?: AbortSignal): Promise<void> {
    return this.client.poll(`snapshot ${uid} still exists after its delete`, signal, async () => {
      try {
        const body = await this.client.request(
          'GET',
          this.client.snapshotsPath(uid),
          undefined,
          signal,
        );
        const snapshot = unwrap(body, 'snapshot', 'the snapshot');
        return isRecord(snapshot) && snapshot.status === 'deleted'
          ? { done: true, value: undefined }
          : { done: false };
      } catch (err) {
        if (err instanceof RunResponseError && err.response.status === 404)
          return { done: true, value: undefined };
        throw err;
      }
    });
  }

  /** The environment named `name` (GET /environments, cached), for its burning rate. */
  async environment(name: string, signal?: AbortSignal): Promise<Record<string, unknown>> {
    if (!this.environments) {
      const body = await this.client.request('GET', '/environments', undefined, signal);
      const list = unwrap(body, 'environments', 'the environment list');
      this.environments = new Map(
        (Array.isArray(list) ? list : []).filter(isRecord).map((e) => [String(e.name), e] as const),
      );
    }
    const found = this.environments.get(name);
    if (!found) {
      throw new SnapupError(
        'NOT_FOUND',
        `Environment "${name}" not found. Available environments: ${[...this.environments.keys()].join(', ') || '(none)'}`,
        { field: 'environment' },
      );
    }
    return found;
  }

  /** POST /runtimes: what the SDK's restore intends (its own call is broken upstream). */
  async createRuntime(request: CreateRuntimeRequest, signal?: AbortSignal): Promise<Runtime> {
    if (!Number.isFinite(request.minutesLimit) || request.minutesLimit <= 0) {
      throw new SnapupError(
        'BAD_INPUT',
        `minutes: ${request.minutesLimit} must be a positive number of minutes`,
        {
          field: 'minutes',
        },
      );
    }
    const env = await this.environment(request.environmentName, signal);
    const body: Record<string, unknown> = {
      environment_name: request.environmentName,
      type: request.type ?? 'notebook',
      given_name: request.givenName,
      credits_limit: Math.ceil(request.minutesLimit * Number(env.burning_rate ?? 0) * 60),
    };
    if (request.fromSnapshotId !== undefined) body.from = request.fromSnapshotId;
    let answer: unknown;
    try {
      answer = await this.client.request('POST', '/runtimes', body, signal);
    } catch (err) {
      // The SDK's own wording for these two; its `<msg>` always falls back to this text.
      if (err instanceof RunResponseError && err.response.status === 404) {
        throw new SnapupError(
          'NOT_FOUND',
          `Environment '${request.environmentName}' not found. Please check the environment name and try again.`,
          { field: 'environment', cause: err },
        );
      }
      if (err instanceof RunResponseError && err.response.status === 503) {
        throw new SnapupError(
          'REMOTE',
          'No runtime available. The service is temporarily unavailable or at capacity. Please try again later.',
          { cause: err },
        );
      }
      throw err;
    }
    const runtime = unwrap(answer, 'runtime', 'the runtime create');
    if (!isRecord(runtime)) {
      throw new SnapupError(
        'BAD_RESPONSE',
        'Datalayer answer: runtime is missing or not an object',
        { field: 'runtime' },
      );
    }
    return runtimeOf(runtime);
  }

  /** PUT /runtimes/{pod} {from}: load a snapshot into a running runtime. */
  async loadInto(
    podName: string,
    uid: string,
    signal?: AbortSignal,
  ): Promise<Runtime | Record<string, unknown>> {
    requireId(podName, 'Pod name is required', 'runtime');
    requireId(uid, 'Snapshot ID is required', 'snapshot');
    let answer: unknown;
    try {
      answer = await this.client.request(
        'PUT',
        `/runtimes/${encodeURIComponent(podName)}`,
        { from: uid },
        signal,
      );
    } catch (err) {
      if (err instanceof RunResponseError && err.response.status === 404) {
        throw new SnapupError('NOT_FOUND', `Runtime with pod name '${podName}' not found.`, {
          field: 'runtime',
          cause: err,
        });
      }
      throw err;
    }
    if (isRecord(answer) && answer.success === false) unwrap(answer, 'runtime', 'the load');
    const raw = isRecord(answer) && isRecord(answer.runtime) ? answer.runtime : answer;
    return isRecord(raw) && 'pod_name' in raw ? runtimeOf(raw, podName) : isRecord(raw) ? raw : {};
  }
}

/** A snapshot, as the SDK's RuntimeSnapshotDTO presents it. */
export class RuntimeSnapshot {
  private deleted = false;

  constructor(
    private readonly data: RuntimeSnapshotData,
    private readonly snapshots: RuntimeSnapshots,
  ) {}

  private check(): RuntimeSnapshotData {
    if (this.deleted) {
      throw new SnapupError(
        'GONE',
        `Snapshot ${this.data.uid} has been deleted and no longer exists`,
        {
          field: 'snapshot',
        },
      );
    }
    return this.data;
  }

  get uid(): string {
    return this.check().uid;
  }
  get name(): string {
    return this.check().name;
  }
  get description(): string {
    return this.check().description ?? '';
  }
  get environment(): string {
    return this.check().environment;
  }
  get updatedAt(): Date {
    return new Date(this.check().updated_at);
  }

  async delete(signal?: AbortSignal): Promise<void> {
    const { uid } = this.check();
    await this.snapshots.delete(uid, signal);
    this.deleted = true;
  }

  /** A new notebook runtime `Restored from <name>` started from this snapshot. */
  async restore(minutesLimit: number, signal?: AbortSignal): Promise<Runtime> {
    const data = this.check();
    return this.snapshots.createRuntime(
      {
        environmentName: data.environment,
        type: 'notebook',
        givenName: `Restored from ${data.name}`,
        minutesLimit,
        fromSnapshotId: data.uid,
      },
      signal,
    );
  }

  /** Loads this snapshot into a running runtime. */
  async loadInto(podName: string, signal?: AbortSignal) {
    return this.snapshots.loadInto(podName, this.check().uid, signal);
  }

  toJSON(): RuntimeSnapshotJSON {
    const json = {
      uid: this.uid,
      name: this.name,
      description: this.description,
      environment: this.environment,
      updatedAt: this.updatedAt.toISOString(),
    };
    for (const [k, v] of Object.entries(json)) {
      if (v === undefined)
        throw new SnapupError('BAD_RESPONSE', `snapshot ${k} is undefined`, { field: k });
    }
    return json;
  }

  rawData(): RuntimeSnapshotData {
    return this.check();
  }

  toString(): string {
    return `Snapshot(${this.uid}, ${this.name})`;
  }
}
