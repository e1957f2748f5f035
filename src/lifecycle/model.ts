/**
 * The one snapshot lifecycle every backend offers (create, list, get, delete, restore,
 * and wait where an operation is asynchronous), with one snapshot model. The local store
 * and a CB server hold directory snapshots; Datalayer holds runtime snapshots; VergeOS
 * holds whole-system cloud snapshots. `src/lifecycle/vocabulary.ts` maps each backend's
 * words onto this model; the README has the same mapping as a table.
 */
import type { EventSink } from '../engine/events.js';
import { SnapupError } from '../errors.js';

export const BACKEND_KINDS = ['local', 'cb', 'datalayer', 'verge'] as const;
export type BackendKind = (typeof BACKEND_KINDS)[number];

export type Capability = 'create' | 'list' | 'get' | 'delete' | 'restore' | 'wait' | 'contents';

/** A snapshot as every backend describes it. Dates are ISO-8601 strings in UTC. */
export interface SnapshotInfo {
  backend: BackendKind;
  /** What `get`, `delete` and `restore` take: `name/tag` (local, CB), uid (Datalayer), $key (VergeOS). */
  id: string;
  name: string;
  description: string;
  createdAt: string | null;
  updatedAt: string | null;
  /** null when it never expires or the backend has no expiry. */
  expiresAt: string | null;
  neverExpires: boolean;
  /** The backend's own status word (CB: open/frozen; VergeOS: normal/held; Datalayer: as sent). */
  status: string | null;
  /** Can no longer change: CB frozen, VergeOS immutable. */
  frozen: boolean;
  /** Hidden from others: CB accessLevel Invisible, VergeOS private. */
  private: boolean;
  /** Bytes, where the backend knows them. */
  size: number | null;
  /** The backend's record exactly as received (snake_case stays snake_case). */
  raw: unknown;
}

/**
 * What `create` takes. Each backend uses the options its API has and refuses the others
 * by name (see `refuseUnsupported`), so nothing is silently dropped.
 */
export interface CreateOptions {
  name?: string;
  description?: string;
  /** local, CB: the directory to upload. */
  source?: string;
  /** local, CB: the snapshot tag. */
  tag?: string;
  /** Datalayer: the pod name of the running runtime to snapshot. */
  runtime?: string;
  /** Datalayer: stop the runtime once the snapshot is taken. */
  stop?: boolean;
  /** Seconds the snapshot is kept (CB expirationTimeSec, VergeOS expires). */
  retentionSec?: number;
  /** VergeOS: keep forever (`expires: 0`, `expires_type: never`). */
  neverExpires?: boolean;
  /** VergeOS: immutable (cannot be deleted while locked). */
  immutable?: boolean;
  /** CB: accessLevel Invisible; VergeOS: private (hidden from tenants). */
  private?: boolean;
  /** VergeOS: minimum snapshots to keep. */
  minSnapshots?: number;
  /** Wait for an asynchronous create to finish (VergeOS task). */
  wait?: boolean;
  /** Longest wait in seconds; 0 waits forever. */
  waitTimeoutSec?: number;
}

/** What `restore` takes; the meaning of "restore" is each backend's own. */
export interface RestoreOptions {
  /** local, CB: the folder to write the files into. */
  dest?: string;
  /** local, CB: write into a folder that already has files. */
  force?: boolean;
  /** Datalayer: minutes limit of the new runtime (its credits limit is derived from it). */
  minutes?: number;
  /** Datalayer: load the snapshot into this existing runtime instead of a new one. */
  runtime?: string;
  /** VergeOS: recover this VM (key or name) from the snapshot. */
  vm?: string;
  /** VergeOS: recover this tenant (key or name) from the snapshot. */
  tenant?: string;
  /** VergeOS: the name the recovered VM or tenant gets. */
  newName?: string;
  /** Wait for the recovery task, where the backend reports one. */
  wait?: boolean;
  waitTimeoutSec?: number;
}

export interface RestoreResult {
  backend: BackendKind;
  snapshotId: string;
  /** What was made: files in a folder, a runtime, a recovered VM or tenant. */
  kind: 'directory' | 'runtime' | 'vm' | 'tenant';
  /** The folder, the runtime's pod name, or the VM/tenant key. */
  target: string;
  status: string;
  raw: unknown;
}

export interface ListQuery {
  /** Only snapshots with this name (a VergeOS name may use * and ? wildcards). */
  name?: string;
  /** VergeOS: include snapshots past their expiry. */
  includeExpired?: boolean;
  limit?: number;
  offset?: number;
}

export interface DeleteOptions {
  /** Wait until the backend no longer reports the snapshot (Datalayer deletes are asynchronous). */
  wait?: boolean;
}

/** What a snapshot holds, for `snapup show`. */
export type SnapshotContents =
  | {
      kind: 'files';
      files: { path: string; sha1: string; size: number | null; exe: boolean; ro: boolean }[];
    }
  | {
      kind: 'machines';
      vms: { key: number; name: string; status: string; cpuCores: number; ramMb: number }[];
      tenants: { key: number; name: string; status: string; nodes: number; ramMb: number }[];
    };

export interface CallOptions {
  signal?: AbortSignal;
  onEvent?: EventSink;
}

export interface SnapshotLifecycle {
  readonly kind: BackendKind;
  /** For messages, e.g. "VergeOS at https://verge.example/api/v4". */
  readonly description: string;
  readonly capabilities: ReadonlySet<Capability>;
  /** The create options this backend understands; the others are refused by name. */
  readonly createOptions: readonly (keyof CreateOptions)[];
  readonly restoreOptions: readonly (keyof RestoreOptions)[];
  list(query?: ListQuery, call?: CallOptions): Promise<SnapshotInfo[]>;
  get(id: string, call?: CallOptions): Promise<SnapshotInfo>;
  create(options: CreateOptions, call?: CallOptions): Promise<SnapshotInfo>;
  delete(id: string, options?: DeleteOptions, call?: CallOptions): Promise<void>;
  restore(id: string, options: RestoreOptions, call?: CallOptions): Promise<RestoreResult>;
  contents?(id: string, call?: CallOptions): Promise<SnapshotContents>;
  close(): Promise<void>;
}

/**
 * Refuses options the backend has no use for, naming them, instead of dropping them.
 * `label` turns an option into what the caller typed (the CLI passes its flag names).
 */
export function refuseUnsupported<T extends object>(
  backend: Pick<SnapshotLifecycle, 'kind'>,
  what: 'create' | 'restore',
  given: T,
  supported: readonly (keyof T)[],
  label: (key: keyof T) => string = String,
): void {
  const unsupported = (Object.keys(given) as (keyof T)[]).filter(
    (k) => given[k] !== undefined && !supported.includes(k),
  );
  if (unsupported.length > 0) {
    throw new SnapupError(
      'UNSUPPORTED',
      `${backend.kind}: ${what} does not take ${unsupported.map(label).join(', ')} (it takes ${supported.map(label).join(', ') || 'no options'})`,
      { field: String(unsupported[0]) },
    );
  }
}

/** Refuses a call the backend cannot make, saying so instead of pretending. */
export function requireCapability(backend: SnapshotLifecycle, capability: Capability): void {
  if (!backend.capabilities.has(capability)) {
    throw new SnapupError(
      'UNSUPPORTED',
      `${backend.description} does not offer "${capability}" for snapshots`,
      {
        field: capability,
      },
    );
  }
}

/** Epoch seconds → ISO string; null for missing, zero or unreadable values. */
export function isoFromEpochSec(value: unknown): string | null {
  const n = Number(value);
  if (value === null || value === undefined || value === '' || !Number.isFinite(n) || n <= 0)
    return null;
  return new Date(n * 1000).toISOString();
}
