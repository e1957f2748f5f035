/**
 * Shows engine events on a terminal: one cli-progress bar per long stage on stderr, and
 * warnings as lines. Nothing is drawn when stderr is not a TTY (scripts, CI, --json).
 */
import { createRequire } from 'node:module';
import type CliProgress from 'cli-progress';
import type { EngineEvent, EventSink } from '../engine/events.js';
import { formatBytes, formatMs } from './format.js';

export interface ProgressOptions {
  /** Draw bars (stderr is a TTY and output is for humans). */
  bars: boolean;
  /** Print warnings (not with --quiet). */
  warnings: boolean;
}

/** Loaded only when a bar is drawn: runs without a terminal never pay for it. */
let cliProgress: typeof CliProgress | undefined;
function bars(): typeof CliProgress {
  cliProgress ??= createRequire(import.meta.url)('cli-progress') as typeof CliProgress;
  return cliProgress;
}

export function progressSink(options: ProgressOptions): { sink: EventSink; stop: () => void } {
  let bar: CliProgress.SingleBar | undefined;
  let barStage = '';
  const stop = () => {
    bar?.stop();
    bar = undefined;
  };
  const show = (stage: string, value: number, total: number, payload: Record<string, string>) => {
    if (!options.bars) return;
    if (barStage !== stage || !bar) {
      stop();
      barStage = stage;
      const { SingleBar, Presets } = bars();
      bar = new SingleBar(
        {
          stream: process.stderr,
          format: `${stage.padEnd(8)} [{bar}] {percentage}% | {done}/{all} | {detail}`,
          hideCursor: true,
          clearOnComplete: true,
          fps: 10,
        },
        Presets.shades_classic,
      );
      bar.start(total, value, payload);
    } else {
      bar.setTotal(total);
      bar.update(value, payload);
    }
  };
  const sink = (e: EngineEvent) => {
    switch (e.type) {
      case 'scan':
        if (options.bars)
          process.stderr.write(`\rscanning ${e.files} files, ${formatBytes(e.bytes)}`);
        break;
      case 'stage':
        if (e.stage === 'scan' && e.state === 'end' && options.bars)
          process.stderr.write('\r\x1b[K');
        if (e.state === 'end') stop();
        break;
      case 'hash':
      case 'upload':
      case 'download':
        show(e.type, e.bytes, e.totalBytes, {
          done: String(e.files),
          all: String(e.totalFiles),
          detail: `${formatBytes(e.bytes)} of ${formatBytes(e.totalBytes)}`,
        });
        break;
      case 'retry':
        if (options.warnings) {
          stop();
          process.stderr.write(
            `retrying ${e.url} after ${e.reason} (attempt ${e.attempt} of ${e.retries}, in ${formatMs(e.delayMs)})\n`,
          );
        }
        break;
      case 'wait':
        if (options.bars) {
          process.stderr.write(
            `\r\x1b[Kwaiting for ${e.what}${e.status ? ` (${e.status})` : ''}, ${formatMs(e.elapsedMs)}`,
          );
        }
        break;
      case 'warning':
        if (options.warnings) {
          stop();
          process.stderr.write(`warning: ${e.message}\n`);
        }
        break;
      default:
        break;
    }
  };
  return { sink, stop };
}
