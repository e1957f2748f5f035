import { Command } from 'commander';
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
      const progress = progressFor(g);
      const signal = interruptSignal();
      await withLifecycle(
        g,
        async (life) => {
          for (const id of ids) {
            await life.delete(id, { wait: o.wait }, { signal });
            removed.push(id);
            if (!g.json && !g.quiet) process.stdout.write(`removed ${id}\n`);
          }
        },
        progress.sink,
      ).finally(progress.stop);
      if (g.json) printJson({ removed });
    });
}
