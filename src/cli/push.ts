import { Command, Option } from 'commander';
import type { PushSummary } from '../engine/events.js';
import { DEFAULT_CONCURRENCY, DEFAULT_SINGLE_MAX, push } from '../engine/push.js';
import { defaultName } from '../lifecycle/directory.js';
import {
  globals,
  interruptSignal,
  printJson,
  progressFor,
  withBackend,
  withNextStep,
} from './context.js';
import {
  formatBytes,
  formatMs,
  parseAccessLevel,
  parseConcurrency,
  parseDuration,
  parseGrants,
  parseSize,
} from './format.js';

const collect = (value: string, previous: string[]) => [...previous, value];

export function pushCommand(): Command {
  return new Command('push')
    .description('upload a directory as a snapshot, sending only content the store lacks')
    .argument('<dir>', 'the directory to push')
    .option('--name <name>', 'snapshot name (default: the directory name)')
    .option(
      '--tag <tag>',
      'snapshot tag (default: "default", or a generated one when that is frozen)',
    )
    .option(
      '--exclude <glob>',
      'skip paths matching a gitignore-style pattern (repeatable)',
      collect,
      [],
    )
    .option('--follow-symlinks', 'follow symlinks that point to files inside the directory')
    .option('--expire <duration>', 'delete the snapshot after this long, e.g. 3600, 30m, 12h, 7d')
    .option('--remove-after-execute', 'delete the snapshot after its first pull')
    .addOption(
      new Option('--access <level>', 'access for other users').choices([
        'Invisible',
        'Visible',
        'ReadWrite',
      ]),
    )
    .option(
      '--grant <user=level>',
      'access for one user, overriding --access (repeatable)',
      collect,
      [],
    )
    .option(
      '--single-max <bytes>',
      'send missing content in one request up to this size (e.g. 1M)',
      `${DEFAULT_SINGLE_MAX}`,
    )
    .option('--concurrency <n>', 'uploads in flight at once', `${DEFAULT_CONCURRENCY}`)
    .option('--no-cache', 'do not read or write the hash cache (hash every file)')
    .option('--dry-run', 'show what would be uploaded; write nothing')
    .addHelpText(
      'after',
      `
Examples:
  snapup push ./site                         # → site/default in the local store
  snapup push ./site --name site --tag v1 --json
  snapup push . --exclude '*.log' --expire 7d

Ignore rules: .gitignore and .snapupignore files at every level (git's rules), plus
--exclude; .git/ is always skipped. Symlinks and special files are skipped with a warning.

Interrupted or out of space, a push keeps what it stored: run it again to send only the
rest.`,
    )
    .action(async (dir: string, o, cmd: Command) => {
      const g = globals(cmd);
      const concurrency = parseConcurrency(o.concurrency);
      const progress = progressFor(g);
      const options = {
        dir,
        name: o.name ?? defaultName(dir),
        tag: o.tag,
        excludes: o.exclude,
        followSymlinks: o.followSymlinks ?? false,
        expireSec: o.expire === undefined ? undefined : parseDuration(o.expire, 'expire'),
        removeAfterExecute: o.removeAfterExecute,
        accessLevel: o.access === undefined ? undefined : parseAccessLevel(o.access, 'access'),
        accessPerUser: parseGrants(o.grant),
        singleMax: parseSize(o.singleMax, 'single-max'),
        concurrency,
        cacheDir: o.cache === false ? (false as const) : undefined,
        dryRun: o.dryRun ?? false,
        signal: interruptSignal(),
        onEvent: progress.sink,
      };
      const summary: PushSummary = await withNextStep(
        withBackend(g, (target) => push({ ...options, target }), concurrency, progress.sink),
        {
          DISK_FULL:
            'what was stored so far is kept: once there is space, run the same command again to resume',
        },
      ).finally(progress.stop);
      if (g.json) printJson(summary);
      else if (!g.quiet) process.stdout.write(describe(summary));
    });
}

function describe(s: PushSummary): string {
  const lines: string[] = [];
  if (s.dryRun) {
    for (const f of s.plan ?? []) lines.push(`would upload ${f.path} (${formatBytes(f.size)})`);
    lines.push(
      `dry run: would upload ${s.uploadedFiles} file(s), ${formatBytes(s.uploadedBytes)} (${s.mode} mode); nothing written`,
    );
  } else {
    lines.push(
      `${s.snapshot.frozen ? 'pushed' : 'pushed (not frozen)'} ${s.snapshot.name}/${s.snapshot.tag}`,
    );
  }
  lines.push(
    `  files     ${s.files} (${formatBytes(s.bytes)}); hashed ${s.hashedFiles} (${formatBytes(s.hashedBytes)}), from cache ${s.cachedFiles}`,
    // A dry run said what it would upload on its first line: nothing was.
    ...(s.dryRun
      ? []
      : [
          `  uploaded  ${s.uploadedFiles} file(s), ${formatBytes(s.uploadedBytes)} in ${s.mode} mode${s.stagedFiles > 0 ? ` (${s.stagedFiles} stored while hashed)` : ''}`,
        ]),
    `  dedup     ${formatBytes(s.dedupBytes)} not sent (${formatBytes(s.dedupStoredBytes)} already stored, ${formatBytes(s.dedupTreeBytes)} duplicates in the tree)`,
    `  time      ${formatMs(s.durationMs)} (scan ${formatMs(s.stagesMs.scan)}, hash ${formatMs(s.stagesMs.hash)}, upload ${formatMs(s.stagesMs.upload)}, freeze ${formatMs(s.stagesMs.freeze)})`,
  );
  if (s.skipped > 0) lines.push(`  skipped   ${s.skipped} path(s), see the warnings`);
  return `${lines.join('\n')}\n`;
}
