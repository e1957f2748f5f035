/** The terminal progress display of the CLI. */
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { progressSink } from '../src/cli/progress.js';

/** A stream that says it is a terminal, keeping what is written to it. */
function fakeTerminal() {
  const stream = Object.assign(new PassThrough(), { isTTY: true, columns: 160 });
  let text = '';
  stream.on('data', (chunk: Buffer) => {
    text += chunk.toString();
  });
  return { stream, text: () => text };
}

const uploads = (n: number) =>
  Array.from({ length: n }, (_, i) => ({
    type: 'upload' as const,
    files: i + 1,
    bytes: (i + 1) * 1000,
    totalFiles: n,
    totalBytes: n * 1000,
  }));

describe('progressSink', () => {
  it('draws a bar whose last frame is the last event, however many came in between', async () => {
    const term = fakeTerminal();
    const { sink, stop } = progressSink({ bars: true, warnings: true, stream: term.stream });
    sink({ type: 'stage', stage: 'upload', state: 'start' });
    // All within the throttle's window: only the first and the last reach the bar.
    for (const e of uploads(20_000)) sink(e);
    stop();
    await new Promise((resolve) => setImmediate(resolve));
    expect(term.text()).toContain('upload');
    expect(term.text()).toContain('20000/20000');
    expect(term.text()).toContain('19.1 MiB of 19.1 MiB');
  });

  it('shows a status line while negotiating and freezing, and warnings on lines of their own', () => {
    const term = fakeTerminal();
    const { sink, stop } = progressSink({ bars: true, warnings: true, stream: term.stream });
    const clear = '\r\x1b[K';
    sink({ type: 'scan', files: 500, bytes: 2048 });
    sink({ type: 'warning', message: 'skipping symlink a', path: '/x/a' });
    sink({ type: 'stage', stage: 'negotiate', state: 'start' });
    const negotiating = term.text();
    sink({ type: 'stage', stage: 'negotiate', state: 'end', ms: 5 });
    sink({ type: 'stage', stage: 'freeze', state: 'start' });
    const freezing = term.text();
    sink({ type: 'stage', stage: 'freeze', state: 'end', ms: 5 });
    stop();
    // The scan's count is cleared before the warning, not run into it.
    expect(negotiating).toBe(
      `\rscanning 500 files, 2.0 KiB${clear}warning: skipping symlink a\n${clear}asking which content is missing...`,
    );
    expect(freezing.slice(negotiating.length)).toBe(`${clear}${clear}freezing the snapshot...`);
    expect(term.text().endsWith(`freezing the snapshot...${clear}`)).toBe(true);
  });

  it('writes nothing for progress without bars, but still prints warnings', () => {
    const term = fakeTerminal();
    const { sink, stop } = progressSink({ bars: false, warnings: true, stream: term.stream });
    for (const e of uploads(1000)) sink(e);
    sink({ type: 'warning', message: 'skipping a', path: '/x/a' });
    stop();
    expect(term.text()).toBe('warning: skipping a\n');
  });

  it('prints warnings up to its limit, then one line with the count of the rest', () => {
    const term = fakeTerminal();
    const { sink, stop } = progressSink({
      bars: true,
      warnings: true,
      warningLimit: 2,
      stream: term.stream,
    });
    for (const name of ['a', 'b', 'c', 'd']) sink({ type: 'warning', message: `skipping ${name}` });
    stop();
    stop();
    const clear = '\r\x1b[K';
    expect(term.text()).toBe(
      `${clear}warning: skipping a\n${clear}warning: skipping b\n${clear}warning: 2 more warnings not shown (--verbose shows every one)\n`,
    );
  });

  it('without bars, prints a line of progress every interval of a long stage only', () => {
    const term = fakeTerminal();
    let t = 0;
    const { sink, stop } = progressSink({
      bars: false,
      warnings: true,
      lineEveryMs: 10_000,
      stream: term.stream,
      now: () => t,
    });
    const upload = (at: number, files: number) => {
      t = at;
      sink({ type: 'upload', files, bytes: files * 1024, totalFiles: 8, totalBytes: 8192 });
    };
    sink({ type: 'stage', stage: 'upload', state: 'start' });
    upload(5_000, 1);
    upload(10_500, 2);
    upload(15_000, 3);
    upload(21_000, 6);
    t = 22_000;
    sink({ type: 'stage', stage: 'upload', state: 'end' });
    // A stage of its own that lasts less than the interval: no line.
    sink({ type: 'stage', stage: 'freeze', state: 'start' });
    t = 30_000;
    sink({ type: 'wait', what: 'the disk', polls: 1, elapsedMs: 8_000 });
    t = 33_000;
    sink({ type: 'wait', what: 'the disk', polls: 2, elapsedMs: 11_000 });
    stop();
    expect(term.text().split('\n')).toEqual([
      'upload: 2/8 files, 2.0 KiB of 8.0 KiB (25%)',
      'upload: 6/8 files, 6.0 KiB of 8.0 KiB (75%)',
      'waiting for the disk, 11.00 s',
      '',
    ]);
  });

  it('draws bars and no lines on a terminal, whatever the interval', () => {
    const term = fakeTerminal();
    let t = 0;
    const { sink, stop } = progressSink({
      bars: true,
      warnings: true,
      lineEveryMs: 1,
      stream: term.stream,
      now: () => t,
    });
    t = 50;
    sink({ type: 'upload', files: 1, bytes: 10, totalFiles: 2, totalBytes: 20 });
    stop();
    expect(term.text()).not.toMatch(/upload: 1\/2/);
  });

  it('shows one line for requests retried alike at once, each attempt and reason of its own', () => {
    const term = fakeTerminal();
    const { sink, stop } = progressSink({ bars: false, warnings: true, stream: term.stream });
    const retry = (path: string, attempt: number, reason = 'connect ECONNREFUSED 127.0.0.1:9') =>
      sink({
        type: 'retry',
        url: `http://127.0.0.1:9${path}`,
        attempt,
        retries: 5,
        delayMs: 100,
        reason,
      });
    // Eight uploads in flight when the server went away.
    for (let i = 0; i < 8; i++) retry(`/files/f${i}`, 1);
    for (let i = 0; i < 8; i++) retry(`/files/f${i}`, 2);
    retry('/files/f0', 2, 'HTTP 503');
    stop();
    expect(term.text().trim().split('\n')).toEqual([
      'retrying http://127.0.0.1:9/files/f0 after connect ECONNREFUSED 127.0.0.1:9 (attempt 1 of 5, in 100 ms)',
      'retrying http://127.0.0.1:9/files/f0 after connect ECONNREFUSED 127.0.0.1:9 (attempt 2 of 5, in 100 ms)',
      'retrying http://127.0.0.1:9/files/f0 after HTTP 503 (attempt 2 of 5, in 100 ms)',
    ]);
  });
});
