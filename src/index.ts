/**
 * snapup's library API.
 *
 *   import { push, pull, openStore } from 'snapup';
 *   const store = await openStore();                    // the embedded local store
 *   const summary = await push({ dir: 'site', target: store, name: 'site', tag: 'v1' });
 *   await pull({ source: store, address: { name: 'site', tag: 'v1' }, dest: '/tmp/site' });
 */
import { defaultStoreDir, LocalBackend } from './backends/local.js';
import type { StoreOptions } from './store/store.js';

export { defaultStoreDir, LocalBackend, localUser } from './backends/local.js';
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
export { type ErrorCode, ExitCode, isSnapupError, SnapupError } from './errors.js';
export {
  buildManifest,
  type Manifest,
  type ManifestFile,
  type ManifestOptions,
} from './hash/manifest.js';
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
