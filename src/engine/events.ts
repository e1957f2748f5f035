/**
 * The one progress stream of the engine. The CLI's progress bars, its `--json` summary
 * and library callers all consume these events.
 */
import { readFileSync } from 'node:fs';
import type { SnapshotMeta } from '../protocol/types.js';

export type Stage = 'scan' | 'hash' | 'negotiate' | 'upload' | 'freeze' | 'download';

export type EngineEvent =
  | { type: 'stage'; stage: Stage; state: 'start' | 'end'; ms?: number }
  | { type: 'scan'; files: number; bytes: number }
  | { type: 'hash'; files: number; bytes: number; totalFiles: number; totalBytes: number }
  | { type: 'negotiate'; missingFiles: number; missingBytes: number }
  | { type: 'upload'; files: number; bytes: number; totalFiles: number; totalBytes: number }
  | { type: 'download'; files: number; bytes: number; totalFiles: number; totalBytes: number }
  | { type: 'warning'; message: string; path?: string }
  /** A request is sent again after a transient failure (HTTP 503, a reset connection...). */
  | {
      type: 'retry';
      url: string;
      attempt: number;
      retries: number;
      delayMs: number;
      reason: string;
    }
  /** Still waiting on something asynchronous (a VergeOS task, a Datalayer 202 or delete). */
  | { type: 'wait'; what: string; polls: number; elapsedMs: number; status?: string }
  | { type: 'summary'; summary: PushSummary | PullSummary };

export type EventSink = (event: EngineEvent) => void;

export type UploadMode = 'single' | 'multi' | 'none';

/** The `--json` output of `snapup push`: a stable contract, documented in the README. */
export interface PushSummary {
  kind: 'push';
  files: number;
  bytes: number;
  hashedFiles: number;
  hashedBytes: number;
  cachedFiles: number;
  cachedBytes: number;
  uploadedFiles: number;
  uploadedBytes: number;
  /** Of the uploaded files, those the local store's hash workers stored while hashing. */
  stagedFiles: number;
  /** Bytes not sent: already stored, plus duplicates within the tree. */
  dedupBytes: number;
  dedupStoredBytes: number;
  dedupTreeBytes: number;
  skipped: number;
  durationMs: number;
  /** Peak resident memory of this process so far (bytes). */
  peakRssBytes: number;
  stagesMs: Record<'scan' | 'hash' | 'negotiate' | 'upload' | 'freeze', number>;
  mode: UploadMode;
  requests: number;
  dryRun: boolean;
  /** With dryRun: the files that would be uploaded. */
  plan?: { path: string; size: number }[];
  manifestDigest: string;
  snapshot: Pick<SnapshotMeta, 'name' | 'tag' | 'frozen'> & Partial<SnapshotMeta>;
}

export interface PullSummary {
  kind: 'pull';
  files: number;
  bytes: number;
  downloadedFiles: number;
  downloadedBytes: number;
  /** Already in the destination with the right content (a pull --force finishing one). */
  keptFiles: number;
  keptBytes: number;
  durationMs: number;
  peakRssBytes: number;
  snapshot: SnapshotMeta;
  dest: string;
}

/**
 * Peak resident memory of this process so far, in bytes. On Linux this is VmHWM from
 * /proc/self/status: getrusage's maxrss survives execve, so a process started from a large
 * parent (a benchmark harness) would report the parent's peak.
 */
export function peakRssBytes(): number {
  if (process.platform === 'linux') {
    try {
      const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
      if (m?.[1]) return Number(m[1]) * 1024;
    } catch {
      // fall back to getrusage
    }
  }
  return process.resourceUsage().maxRSS * 1024;
}

/** Measures stages and reports their start and end as events. */
export class StageClock {
  readonly ms: Record<string, number> = {};
  private readonly started = performance.now();

  constructor(private readonly emit: EventSink) {}

  async run<T>(stage: Stage, fn: () => Promise<T>): Promise<T> {
    this.emit({ type: 'stage', stage, state: 'start' });
    const t0 = performance.now();
    try {
      return await fn();
    } finally {
      const ms = performance.now() - t0;
      this.ms[stage] = (this.ms[stage] ?? 0) + ms;
      this.emit({ type: 'stage', stage, state: 'end', ms });
    }
  }

  get totalMs(): number {
    return performance.now() - this.started;
  }
}
