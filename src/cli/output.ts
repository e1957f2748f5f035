/**
 * The CLI's standard output, guarded. A reader that goes away early (`snapup manifest DIR |
 * head`) ends the output quietly, as ripgrep does, where Node would crash with a stack
 * trace on EPIPE; any other failure to write (a full disk behind `> file`) is one error
 * message and exit code 6, once, the command's work itself left to finish (what it stored or
 * saved stays). `writeOut` waits for a slow reader instead of queueing everything in memory:
 * a 50,000-file manifest piped to another process held ~20 MiB more.
 */
import { ExitCode, fsError, type SnapupError } from '../errors.js';

let guarded = false;
/** Nothing more is written: the reader is gone, or writing failed. */
let ended = false;
let failure: SnapupError | undefined;

/** Installs the guard (once): from then on a failed write never throws or crashes. */
export function guardStandardOutput(): void {
  if (guarded) return;
  guarded = true;
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    const first = !ended;
    ended = true;
    if (!first || err.code === 'EPIPE') return;
    failure = fsError(err, 'standard output', 'write the output');
    process.stderr.write(`snapup: ${failure.message}\n`);
    // Also when the write fails after the command returned (a pipe is written behind it).
    process.exitCode = failure.exitCode;
  });
}

/** The exit code of a command that returned `code`, a failed output taking precedence. */
export function exitCodeWithOutput(code: number): number {
  return failure && code === ExitCode.ok ? failure.exitCode : code;
}

/** Writes `text` to standard output, waiting for the reader to take it if it lags. */
export async function writeOut(text: string): Promise<void> {
  guardStandardOutput();
  if (ended || process.stdout.write(text)) return;
  const out = process.stdout;
  await new Promise<void>((resolve) => {
    const done = () => {
      out.off('drain', done);
      out.off('close', done);
      out.off('error', done);
      resolve();
    };
    out.on('drain', done);
    out.on('close', done);
    out.on('error', done);
  });
}
