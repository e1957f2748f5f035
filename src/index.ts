/**
 * snapup's library API.
 *
 *   import { push, pull, openStore } from 'snapup';
 *   const store = await openStore();                    // the embedded local store
 *   const summary = await push({ dir: 'site', target: store, name: 'site', tag: 'v1' });
 *   await pull({ source: store, address: { name: 'site', tag: 'v1' }, dest: '/tmp/site' });
 *
 * Every backend also offers one snapshot lifecycle (create, list, get, delete, restore):
 *
 *   const verge = new VergeLifecycle({ host: 'verge.example', token: process.env.VERGE_TOKEN });
 *   const info = await verge.create({ name: 'pre-upgrade', retentionSec: 7 * 86400 });
 */
import { defaultStoreDir, LocalBackend } from './backends/local.js';
import type { StoreOptions } from './store/store.js';

export { DatalayerClient, type DatalayerOptions } from './adapters/datalayer/client.js';
export { NetworkError, RunResponseError } from './adapters/datalayer/errors.js';
export { DatalayerLifecycle } from './adapters/datalayer/lifecycle.js';
export { type Runtime, RuntimeSnapshot, RuntimeSnapshots } from './adapters/datalayer/snapshots.js';
export { validateToken } from './adapters/datalayer/token.js';
export { VergeClient, type VergeOptions } from './adapters/verge/client.js';
export {
  CloudSnapshot,
  CloudSnapshots,
  type SnapshotMachine,
} from './adapters/verge/cloud-snapshots.js';
export {
  NotConnectedError,
  VergeApiError,
  VergeAuthenticationError,
  VergeConflictError,
  VergeConnectionError,
  VergeError,
  VergeNotFoundError,
  VergeTaskError,
  VergeTaskTimeoutError,
  VergeTimeoutError,
  VergeValidationError,
} from './adapters/verge/errors.js';
export { buildFilter, formatValue } from './adapters/verge/filters.js';
export { VergeLifecycle } from './adapters/verge/lifecycle.js';
export { waitTask } from './adapters/verge/tasks.js';
export { defaultStoreDir, LocalBackend, localUser } from './backends/local.js';
export { CbClient } from './client/cb-client.js';
export type {
  EngineEvent,
  EventSink,
  PullSummary,
  PushSummary,
  Stage,
  UploadMode,
} from './engine/events.js';
export { type PullOptions, pull } from './engine/pull.js';
export {
  DEFAULT_CONCURRENCY,
  DEFAULT_SINGLE_MAX,
  type PushOptions,
  push,
  type SnapshotOptions,
} from './engine/push.js';
export type { OutgoingFile, PullSource, PushTarget } from './engine/target.js';
export {
  type ErrorCode,
  ExitCode,
  isSnapupError,
  RemoteApiError,
  SnapupError,
} from './errors.js';
export {
  buildManifest,
  type Manifest,
  type ManifestFile,
  type ManifestOptions,
} from './hash/manifest.js';
export { DirectoryLifecycle } from './lifecycle/directory.js';
export type {
  BackendKind,
  Capability,
  CreateOptions,
  ListQuery,
  RestoreOptions,
  RestoreResult,
  SnapshotContents,
  SnapshotInfo,
  SnapshotLifecycle,
} from './lifecycle/model.js';
export { manifestDigest } from './protocol/manifest.js';
export type {
  AccessLevel,
  FileHashes,
  Permissions,
  SnapshotAddress,
  SnapshotMeta,
} from './protocol/types.js';
export { type GcReport, Store, type StoreOptions } from './store/store.js';

/**
 * Opens (creating if needed) the local store: `dir`, else $SNAPUP_STORE, else the
 * platform data folder. The result is both a push target and a pull source.
 */
export function openStore(
  dir: string = defaultStoreDir(),
  options: StoreOptions = {},
): Promise<LocalBackend> {
  return LocalBackend.open(dir, options);
}
