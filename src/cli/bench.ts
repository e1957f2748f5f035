import { Command } from 'commander';
import { type Estimate, estimate } from '../engine/estimate.js';
import { DEFAULT_SINGLE_MAX } from '../engine/push.js';
import { parseAddress } from '../protocol/types.js';
import { globals, interruptSignal, printJson, progressFor, withBackend } from './context.js';
import { formatBytes, formatMs, formatShare, parseSize, table } from './format.js';

const collect = (value: string, previous: string[]) => [...previous, value];

export function benchCommand(): Command {
  return new Command('bench')
    .description('estimate what deduplication saves for a directory; uploads nothing')
    .argument('<dir>', 'the directory')
    .option(
      '--against <snapshot>',
      'compare with the content of NAME/TAG in the store or on the server',
    )
    .option('--compare <dir>', 'compare with the content of a second directory')
    .option(
      '--exclude <glob>',
      'skip paths matching a gitignore-style pattern (repeatable)',
      collect,
      [],
    )
    .option('--follow-symlinks', 'follow symlinks that point to files inside the directory')
    .option('--no-cache', 'hash every file (measures hashing throughput on its own)')
    .option('--single-max <bytes>', 'threshold for the one-request plan', `${DEFAULT_SINGLE_MAX}`)
    .addHelpText(
      'after',
      `
Reports files and bytes, unique content, duplicates inside the tree, content the store
(or --server) already holds, content shared with --against/--compare, the bytes a push
would send, the request plan, and the hashing throughput. Add --json for tools.

With a comparison, "a push would send" counts only what neither the store nor the
comparison holds, as if the comparison had been pushed first; --against and --compare
given together count both.`,
    )
    .action(async (dir: string, o, cmd: Command) => {
      const g = globals(cmd);
      const progress = progressFor(g);
      let target = '';
      const result = await withBackend(g, (backend) => {
        target = backend.description;
        return estimate({
          dir,
          target: backend,
          against: o.against
            ? { source: backend, address: parseAddress(o.against, 'against') }
            : undefined,
          compareDir: o.compare,
          excludes: o.exclude,
          followSymlinks: o.followSymlinks ?? false,
          cacheDir: o.cache === false ? false : undefined,
          singleMax: parseSize(o.singleMax, 'single-max'),
          signal: interruptSignal('nothing was written'),
          onEvent: progress.sink,
        });
      }).finally(progress.stop);
      if (g.json) return printJson({ ...result, target });
      process.stdout.write(describe(result, target));
    });
}

/** The table for people; `target` names the store or server the content was looked up in. */
function describe(e: Estimate, target: string): string {
  const pct = (part: number) => formatShare(part, e.bytes);
  const rows: string[][] = [
    ['files in the tree', String(e.files), formatBytes(e.bytes), '100%'],
    ['unique contents', String(e.uniqueFiles), formatBytes(e.uniqueBytes), pct(e.uniqueBytes)],
    [
      'duplicates inside the tree',
      String(e.treeDuplicateFiles),
      formatBytes(e.treeDuplicateBytes),
      pct(e.treeDuplicateBytes),
    ],
  ];
  if (e.storedFiles !== null && e.storedBytes !== null) {
    rows.push([
      'already stored',
      String(e.storedFiles),
      formatBytes(e.storedBytes),
      pct(e.storedBytes),
    ]);
  }
  if (e.sharedFiles !== null && e.sharedBytes !== null) {
    rows.push([
      'shared with the comparison',
      String(e.sharedFiles),
      formatBytes(e.sharedBytes),
      pct(e.sharedBytes),
    ]);
  }
  rows.push([
    // Without knowing what the target holds, this is what it would take if it held nothing.
    e.storedFiles === null ? 'a push sends at most' : 'a push would send',
    String(e.wouldSendFiles),
    formatBytes(e.wouldSendBytes),
    pct(e.wouldSendBytes),
  ]);
  const plan =
    e.plan.mode === 'none'
      ? 'nothing to send (freeze only)'
      : e.plan.mode === 'single'
        ? 'one single-request upload'
        : `${e.plan.requests} requests: ${e.plan.batches} batch(es) of small files, ${e.plan.singleFiles} file(s) one by one`;
  const h = e.hashing;
  const lines = [
    table(['', 'FILES', 'BYTES', 'SHARE'], rows),
    '',
    `deduplication saves ${formatBytes(e.savedBytes)} (${formatShare(e.savedBytes, e.bytes)})`,
    `looked up in: ${target}`,
    `request plan: ${plan}`,
    h.files > 0
      ? `hashing: ${h.files} files, ${formatBytes(h.bytes)} in ${formatMs(h.ms)} (${h.mbPerSec.toFixed(0)} MB/s, ${h.filesPerSec.toFixed(0)} files/s); ${h.cachedFiles} from the cache`
      : `hashing: all ${h.cachedFiles} files from the cache (use --no-cache to measure hashing)`,
    ...e.notes.map((n) => `note: ${n}`),
  ];
  return `${lines.join('\n')}\n`;
}
