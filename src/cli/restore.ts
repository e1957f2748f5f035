import { Command } from 'commander';
import { type RestoreOptions, refuseUnsupported } from '../lifecycle/model.js';
import { withLifecycle } from './backends.js';
import {
  globals,
  interruptSignal,
  keptFilesAdvice,
  printJson,
  progressFor,
  remoteInterruptAdvice,
} from './context.js';
import { parsePositiveInt, parseWaitTimeout } from './format.js';

const RESTORE_FLAGS: Record<keyof RestoreOptions, string> = {
  dest: '--into',
  force: '--force',
  minutes: '--minutes',
  runtime: '--runtime',
  vm: '--vm',
  tenant: '--tenant',
  newName: '--new-name',
  wait: '--wait',
  waitTimeoutSec: '--wait-timeout',
};

export function restoreCommand(): Command {
  return new Command('restore')
    .description(
      'bring a snapshot back: files into a folder, a Datalayer runtime, a VergeOS VM or tenant',
    )
    .argument('<snapshot>', 'local/CB: NAME or NAME/TAG; Datalayer: uid; VergeOS: key or name')
    .option('--into <dir>', 'local/CB: the folder to write (same as "snapup pull")')
    .option('--force', 'local/CB: write into a folder that already has files')
    .option(
      '--minutes <n>',
      'Datalayer: start a new notebook runtime from it, with this time limit',
    )
    .option('--runtime <pod>', 'Datalayer: load it into this running runtime instead')
    .option('--vm <key|name>', 'VergeOS: recover this VM from the snapshot')
    .option('--tenant <key|name>', 'VergeOS: recover this tenant from the snapshot')
    .option('--new-name <name>', 'VergeOS: name of the recovered VM or tenant')
    .option('--wait', 'VergeOS: wait for the recovery task to finish')
    .option('--wait-timeout <duration>', 'longest wait, e.g. 10m; 0 waits forever (default 5m)')
    .addHelpText(
      'after',
      `
Examples:
  snapup restore site/v1 --into ./site-v1
  snapup restore --backend datalayer snapshot-123 --minutes 60
  snapup restore --backend verge 'pre-upgrade' --vm web01 --new-name web01-restored --wait`,
    )
    .action(async (id: string, o, cmd: Command) => {
      const g = globals(cmd);
      const options: RestoreOptions = {
        dest: o.into,
        force: o.force,
        minutes: o.minutes === undefined ? undefined : parsePositiveInt(o.minutes, 'minutes'),
        runtime: o.runtime,
        vm: o.vm,
        tenant: o.tenant,
        newName: o.newName,
        wait: o.wait,
        waitTimeoutSec: o.waitTimeout === undefined ? undefined : parseWaitTimeout(o.waitTimeout),
      };
      const progress = progressFor(g);
      const result = await withLifecycle(
        g,
        (life) => {
          refuseUnsupported(life, 'restore', options, life.restoreOptions, (k) => RESTORE_FLAGS[k]);
          // Into a folder, like a pull: what was written stays; elsewhere the service decides.
          const signal = interruptSignal(
            remoteInterruptAdvice(life) ??
              keptFilesAdvice(o.into, 'restore again with --force to finish'),
          );
          return life.restore(id, options, { signal, onEvent: progress.sink });
        },
        progress.sink,
      ).finally(progress.stop);
      if (g.json) return printJson(result);
      if (!g.quiet) {
        process.stdout.write(
          `restored ${id} → ${result.kind} ${result.target} (${result.status})\n`,
        );
      }
    });
}
