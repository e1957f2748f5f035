/**
 * Which snapshot backend a command talks to, and opening it from options and the
 * environment: `--backend`, else $SNAPUP_BACKEND, else `cb` when a server is given, else
 * the local store.
 */
import type { EventSink } from '../engine/events.js';
import { SnapupError } from '../errors.js';
import { BACKEND_KINDS, type BackendKind, type SnapshotLifecycle } from '../lifecycle/model.js';
import { type GlobalOptions, openBackend } from './context.js';

export function backendKind(g: GlobalOptions, env: NodeJS.ProcessEnv = process.env): BackendKind {
  const given = g.backend ?? env.SNAPUP_BACKEND;
  if (given === undefined || given === '') return (g.server ?? env.SNAPUP_SERVER) ? 'cb' : 'local';
  const kind = BACKEND_KINDS.find((k) => k === given.toLowerCase());
  if (!kind) {
    throw new SnapupError(
      'BAD_INPUT',
      `backend: "${given}" is not one of ${BACKEND_KINDS.join(', ')}`,
      {
        field: 'backend',
      },
    );
  }
  return kind;
}

/** Opens the lifecycle of the chosen backend; the HTTP adapters load only when used. */
export async function openLifecycle(
  g: GlobalOptions,
  onEvent?: EventSink,
  env: NodeJS.ProcessEnv = process.env,
): Promise<SnapshotLifecycle> {
  const kind = backendKind(g, env);
  if (kind === 'local' || kind === 'cb') {
    const { DirectoryLifecycle } = await import('../lifecycle/directory.js');
    return new DirectoryLifecycle(await openBackend(g, undefined, onEvent), kind);
  }
  if (kind === 'datalayer') {
    const { DatalayerLifecycle } = await import('../adapters/datalayer/lifecycle.js');
    return new DatalayerLifecycle({
      token: g.token ?? env.DATALAYER_TOKEN,
      baseUrl: g.datalayerUrl ?? env.DATALAYER_RUN_URL,
      prefix: g.datalayerPrefix,
      snapshotsSegment: g.datalayerSnapshots ?? env.DATALAYER_SNAPSHOTS_SEGMENT,
      onEvent,
    });
  }
  const { VergeLifecycle } = await import('../adapters/verge/lifecycle.js');
  return new VergeLifecycle({
    host: g.vergeHost ?? env.VERGE_HOST ?? '',
    token: g.token ?? env.VERGE_TOKEN,
    username: g.user ?? env.VERGE_USER,
    password: g.password ?? env.VERGE_PASSWORD,
    verifyTls: !g.insecure,
    onEvent,
  });
}

/** Runs `fn` on the chosen backend and closes its connections afterwards. */
export async function withLifecycle<T>(
  g: GlobalOptions,
  fn: (life: SnapshotLifecycle) => Promise<T>,
  onEvent?: EventSink,
): Promise<T> {
  const life = await openLifecycle(g, onEvent);
  try {
    return await fn(life);
  } finally {
    await life.close();
  }
}
