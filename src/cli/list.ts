import { Command } from 'commander';
import type { SnapshotInfo } from '../lifecycle/model.js';
import { withLifecycle } from './backends.js';
import { globals, printJson, progressFor } from './context.js';
import { formatBytes, parseCount, table } from './format.js';

export function lsCommand(): Command {
  return new Command('ls')
    .description('list snapshots (of any backend: local store, CB server, Datalayer, VergeOS)')
    .argument('[name]', 'only snapshots with this name (VergeOS: * and ? are wildcards)')
    .option('--all', 'VergeOS: include snapshots past their expiry')
    .option('--limit <n>', 'at most this many')
    .option('--offset <n>', 'skip this many first')
    .addHelpText(
      'after',
      `
Examples:
  snapup ls
  snapup ls --backend verge --verge-host verge.example 'nightly*'
  snapup ls --backend datalayer --json`,
    )
    .action(async (name: string | undefined, o, cmd: Command) => {
      const g = globals(cmd);
      const query = {
        name,
        includeExpired: o.all,
        limit: o.limit === undefined ? undefined : parseCount(o.limit, 'limit'),
        offset: o.offset === undefined ? undefined : parseCount(o.offset, 'offset'),
      };
      const progress = progressFor(g);
      const snapshots = await withLifecycle(g, (life) => life.list(query), progress.sink).finally(
        progress.stop,
      );
      if (g.json) return printJson(snapshots);
      if (snapshots.length === 0) {
        process.stdout.write('no snapshots\n');
        return;
      }
      process.stdout.write(
        `${table(
          ['ID', 'STATUS', 'SIZE', 'CREATED', 'EXPIRES', 'FLAGS', 'NAME'],
          snapshots.map(row),
        )}\n`,
      );
    });
}

function row(s: SnapshotInfo): string[] {
  const flags = [];
  // Directory snapshots are frozen once complete; STATUS already says so.
  if (s.frozen && s.backend !== 'local' && s.backend !== 'cb') flags.push('immutable');
  if (s.private) flags.push('private');
  return [
    s.id,
    s.status ?? '-',
    s.size === null ? '-' : formatBytes(s.size),
    shortDate(s.createdAt ?? s.updatedAt),
    s.neverExpires ? 'never' : shortDate(s.expiresAt),
    flags.join(',') || '-',
    s.name,
  ];
}

export function shortDate(iso: string | null): string {
  return iso ? iso.replace('T', ' ').slice(0, 19) : '-';
}
