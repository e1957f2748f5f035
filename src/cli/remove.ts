import { Command } from 'commander';
import { isSnapupError, SnapupError } from '../errors.js';
import { withLifecycle } from './backends.js';
import { globals, interruptSignal, printJson, progressFor } from './context.js';

export function rmCommand(): Command {
  return new Command('rm')
    .description('remove snapshots (local store: their content is reclaimed by "snapup gc")')
    .argument('<snapshot...>', 'local/CB: NAME or NAME/TAG; Datalayer: uid; VergeOS: key or name')
    .option(
      '--wait',
      'Datalayer: wait until the snapshot is really gone (deletes are asynchronous)',
    )
    .addHelpText(
      'after',
      `
VergeOS refuses to delete an immutable snapshot while it is locked; snapup says so
without sending the request.`,
    )
    .action(async (ids: string[], o: { wait?: boolean }, cmd: Command) => {
      const g = globals(cmd);
      const removed: string[] = [];
      // As rm(1) does: one that cannot be removed is reported, and the rest still are.
      const failed: { id: string; error: SnapupError }[] = [];
      const progress = progressFor(g);
      const signal = interruptSignal();
      await withLifecycle(
        g,
        async (life) => {
          for (const id of ids) {
            try {
              await life.delete(id, { wait: o.wait }, { signal });
            } catch (err) {
              // One snapshot without --json: its error alone says it all.
              if (!isSnapupError(err) || err.code === 'ABORTED' || (ids.length === 1 && !g.json))
                throw err;
              failed.push({ id, error: err });
              if (!g.json) process.stderr.write(`snapup: ${err.message}\n`);
              continue;
            }
            removed.push(id);
            if (!g.json && !g.quiet) process.stdout.write(`removed ${id}\n`);
          }
        },
        progress.sink,
      ).finally(progress.stop);
      if (g.json) {
        printJson({
          removed,
          failed: failed.map(({ id, error }) => ({ id, code: error.code, message: error.message })),
        });
      }
      const first = failed[0];
      if (first) {
        throw new SnapupError(
          first.error.code,
          ids.length === 1
            ? first.error.message
            : `${failed.length} of ${ids.length} snapshots not removed${g.json ? '' : ' (see above)'}`,
          { cause: first.error },
        );
      }
    });
}
