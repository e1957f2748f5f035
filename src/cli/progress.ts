/**
 * Shows engine events on a terminal: one cli-progress bar per long stage on stderr, and
 * warnings as lines. Nothing is drawn when stderr is not a TTY (scripts, CI, --json).
 */
import { createRequire } from 'node:module';
import type CliProgress from 'cli-progress';
import type { EngineEvent, EventSink, Stage } from '../engine/events.js';
import { formatBytes, formatMs } from './format.js';

export interface ProgressOptions {
  /** Draw bars (stderr is a TTY and output is for humans). */
  bars: boolean;
  /** Print warnings (not with --quiet). */
  warnings: boolean;
  /**
   * How many warnings to print before only counting them (the rest are summed up in one
   * line at the end); unlimited when undefined.
   */
  warningLimit?: number;
  /**
   * Without bars, a line of progress every `lineEveryMs` while a stage lasts longer (a log
   * of a CI job showed nothing for the minutes an upload took); 0 for none.
   */
  lineEveryMs?: number;
  /** Where bars and warnings go (tests give a stream of their own). */
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
  /** The clock (tests give their own). */
  now?: () => number;
}

/** Loaded only when a bar is drawn: runs without a terminal never pay for it. */
let cliProgress: typeof CliProgress | undefined;
function bars(): typeof CliProgress {
  cliProgress ??= createRequire(import.meta.url)('cli-progress') as typeof CliProgress;
  return cliProgress;
}

const UPDATE_MS = 50;
/** How long a retry line stands for others like it (see repeatedRetry). */
const RETRY_REPEAT_MS = 2000;

/**
 * A line shown while a stage without a bar lasts: asking a server about 50,000 files, or
 * waiting for the disk before a freeze is recorded, can take seconds.
 */
const STATUS: Partial<Record<Stage, string>> = {
  negotiate: 'asking which content is missing',
  freeze: 'freezing the snapshot',
};

export function progressSink(options: ProgressOptions): { sink: EventSink; stop: () => void } {
  const out = options.stream ?? process.stderr;
  const now = options.now ?? (() => performance.now());
  const lineEvery = options.bars ? 0 : (options.lineEveryMs ?? 0);
  // Counted from a stage's start: a stage shorter than the interval prints no line.
  let lineAt = now();
  const line = (text: string) => {
    if (lineEvery <= 0 || now() - lineAt < lineEvery) return;
    lineAt = now();
    out.write(`${text}\n`);
  };
  let bar: CliProgress.SingleBar | undefined;
  let barStage = '';
  const stop = () => {
    bar?.stop();
    bar = undefined;
  };
  // A server that went away fails every request in flight alike: eight uploads printed
  // forty retry lines. A retry for the same reason at the same attempt within a moment of
  // one already shown says nothing new.
  const shownRetries = new Map<string, number>();
  const repeatedRetry = (reason: string, attempt: number): boolean => {
    const key = `${attempt} ${reason}`;
    const at = shownRetries.get(key);
    if (at !== undefined && now() - at < RETRY_REPEAT_MS) return true;
    shownRetries.set(key, now());
    return false;
  };
  // A tree whose files vanish under the push (a build cleaning up) skipped 1,111 paths, one
  // line each: past the limit they are counted, and the count is the last line.
  let shown = 0;
  let unshown = 0;
  // The bar redraws 10 times a second: an update per file (50,000 of them), each drawn
  // over before it is shown, cost ~100 ms of a push's main thread. The last one always goes.
  let shownAt = 0;
  const show = (e: { files: number; totalFiles: number; bytes: number; totalBytes: number }) => {
    const last = e.files >= e.totalFiles || e.bytes >= e.totalBytes;
    if (bar && !last && now() - shownAt < UPDATE_MS) return;
    shownAt = now();
    const payload = {
      done: String(e.files),
      all: String(e.totalFiles),
      detail: `${formatBytes(e.bytes)} of ${formatBytes(e.totalBytes)}`,
    };
    if (bar) {
      bar.setTotal(e.totalBytes);
      bar.update(e.bytes, payload);
      return;
    }
    const { SingleBar, Presets } = bars();
    bar = new SingleBar(
      {
        stream: out,
        format: `${barStage.padEnd(8)} [{bar}] {percentage}% | {done}/{all} | {detail}`,
        hideCursor: true,
        clearOnComplete: true,
        fps: 10,
      },
      Presets.shades_classic,
    );
    bar.start(e.totalBytes, e.bytes, payload);
  };
  /** A line of its own: over the bar, the scan's count or a status line, if one is shown. */
  const say = (text: string) => {
    stop();
    out.write(`${options.bars ? '\r\x1b[K' : ''}${text}\n`);
  };
  const sink = (e: EngineEvent) => {
    switch (e.type) {
      case 'scan':
        if (options.bars) out.write(`\rscanning ${e.files} files, ${formatBytes(e.bytes)}`);
        else line(`scanning: ${e.files} files, ${formatBytes(e.bytes)} so far`);
        break;
      case 'stage': {
        if (e.state === 'start') lineAt = now();
        if (e.state === 'end') stop();
        if (!options.bars) break;
        const status = STATUS[e.stage];
        if (e.state === 'start' && status) out.write(`\r\x1b[K${status}...`);
        // The scan's running count, or a stage's status line, goes when its stage ends.
        if (e.state === 'end' && (status || e.stage === 'scan')) out.write('\r\x1b[K');
        break;
      }
      case 'hash':
      case 'upload':
      case 'download':
        if (!options.bars) {
          const part = e.totalBytes > 0 ? ` (${Math.floor((100 * e.bytes) / e.totalBytes)}%)` : '';
          line(
            `${e.type}: ${e.files}/${e.totalFiles} files, ${formatBytes(e.bytes)} of ${formatBytes(e.totalBytes)}${part}`,
          );
          break;
        }
        if (barStage !== e.type) {
          stop();
          barStage = e.type;
        }
        show(e);
        break;
      case 'retry':
        if (options.warnings && !repeatedRetry(e.reason, e.attempt))
          say(
            `retrying ${e.url} after ${e.reason} (attempt ${e.attempt} of ${e.retries}, in ${formatMs(e.delayMs)})`,
          );
        break;
      case 'wait': {
        const text = `waiting for ${e.what}${e.status ? ` (${e.status})` : ''}, ${formatMs(e.elapsedMs)}`;
        if (options.bars) out.write(`\r\x1b[K${text}`);
        else line(text);
        break;
      }
      case 'warning':
        if (!options.warnings) break;
        if (shown < (options.warningLimit ?? Number.POSITIVE_INFINITY)) {
          shown++;
          say(`warning: ${e.message}`);
        } else unshown++;
        break;
      default:
        break;
    }
  };
  const finish = () => {
    stop();
    if (unshown > 0)
      say(
        `warning: ${unshown} more warning${unshown === 1 ? '' : 's'} not shown (--verbose shows every one)`,
      );
    unshown = 0;
  };
  return { sink, stop: finish };
}
