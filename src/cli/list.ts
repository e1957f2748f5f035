import { Command } from 'commander';
import { globals, printJson, withBackend } from './context.js';
import { formatBytes, table } from './format.js';

export function lsCommand(): Command {
  return new Command('ls')
    .description('list the snapshots in the store')
    .argument('[name]', 'only snapshots with this name')
    .action(async (name: string | undefined, _o, cmd: Command) => {
      const g = globals(cmd);
      const snapshots = await withBackend(g, (b) => b.list(name === undefined ? {} : { name }));
      if (g.json) return printJson(snapshots);
      if (snapshots.length === 0) {
        process.stdout.write('no snapshots\n');
        return;
      }
      const others = snapshots.some((s) => s.owner !== snapshots[0]?.owner);
      const rows = snapshots.map((s) => [
        others ? `${s.owner}:${s.name}/${s.tag}` : `${s.name}/${s.tag}`,
        s.frozen ? 'frozen' : 'open',
        String(s.fileCount),
        formatBytes(s.size),
        s.createdAt.replace('T', ' ').slice(0, 19),
        s.expiresAt ? s.expiresAt.replace('T', ' ').slice(0, 19) : '-',
      ]);
      process.stdout.write(
        `${table(['SNAPSHOT', 'STATE', 'FILES', 'SIZE', 'CREATED', 'EXPIRES'], rows)}\n`,
      );
    });
}
