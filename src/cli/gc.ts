import { Command } from 'commander';
import { SnapupError } from '../errors.js';
import { globals, openLocal, printJson } from './context.js';
import { formatBytes } from './format.js';

export function gcCommand(): Command {
  return new Command('gc')
    .description('reclaim content no snapshot references; remove expired snapshots')
    .option('--dry-run', 'report what would be removed; remove nothing')
    .addHelpText(
      'after',
      '\nContent an unfinished push declared is kept while that push goes on (it declared it or\nuploaded into it within the last hour), so gc is safe to run while pushes are in progress. Packs holding dead objects are rewritten without them,\nand small packs (left by pushes of a few edited files) are merged.',
    )
    .action(async (o: { dryRun?: boolean }, cmd: Command) => {
      const g = globals(cmd);
      if (g.server ?? process.env.SNAPUP_SERVER) {
        throw new SnapupError(
          'UNSUPPORTED',
          'gc works on the local store; a snapup server collects on its own timer',
        );
      }
      const backend = await openLocal(g);
      const report = await backend.gc({ dryRun: o.dryRun ?? false });
      if (g.json) return printJson(report);
      const verb = o.dryRun ? 'would remove' : 'removed';
      process.stdout.write(
        `${verb} ${report.removedObjects} object(s) (${formatBytes(report.removedBytes)}), ${report.removedSnapshots} expired snapshot(s), ${report.removedManifests} manifest(s), ${report.removedTempFiles} stale temp file(s); kept ${report.keptObjects} object(s)${report.repackedPacks > 0 ? `, rewrote ${report.repackedPacks} pack(s) (dead objects dropped, small packs merged)` : ''}\n`,
      );
    });
}
