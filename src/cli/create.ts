import { Command } from 'commander';
import { type CreateOptions, refuseUnsupported } from '../lifecycle/model.js';
import { withLifecycle } from './backends.js';
import {
  globals,
  interruptSignal,
  printJson,
  progressFor,
  remoteInterruptAdvice,
} from './context.js';
import { parseDuration, parsePositiveInt, parseWaitTimeout } from './format.js';
import { shortDate } from './list.js';

/** The flag each create option comes from, for errors that name what the user typed. */
const CREATE_FLAGS: Record<keyof CreateOptions, string> = {
  name: '--name',
  description: '--description',
  source: '--from',
  tag: '--tag',
  runtime: '--runtime',
  stop: '--stop',
  retentionSec: '--retention',
  neverExpires: '--never-expire',
  immutable: '--immutable',
  private: '--private',
  minSnapshots: '--min-snapshots',
  wait: '--wait',
  waitTimeoutSec: '--wait-timeout',
};

export function createCommand(): Command {
  return new Command('create')
    .description('take a snapshot on any backend (a folder, a Datalayer runtime, a VergeOS system)')
    .option(
      '--name <name>',
      'snapshot name (local/CB: default the folder name; VergeOS: Snapshot_YYYYMMDD_HHMM)',
    )
    .option('--description <text>', 'Datalayer: what the snapshot is')
    .option('--from <dir>', 'local/CB: the folder to upload (same as "snapup push DIR")')
    .option('--tag <tag>', 'local/CB: the snapshot tag')
    .option('--runtime <pod>', 'Datalayer: pod name of the running runtime to snapshot')
    .option('--stop', 'Datalayer: stop the runtime once the snapshot is taken')
    .option(
      '--retention <duration>',
      'local/CB/VergeOS: keep it this long, e.g. 12h, 7d (VergeOS default 3d)',
    )
    .option('--never-expire', 'VergeOS: keep it until deleted')
    .option('--immutable', 'VergeOS: immutable (cannot be deleted while locked)')
    .option('--private', 'CB: invisible to other users; VergeOS: hidden from tenants')
    .option('--min-snapshots <n>', 'VergeOS: minimum number of snapshots to keep (default 1)')
    .option('--wait', 'VergeOS: wait for the snapshot task to finish')
    .option('--wait-timeout <duration>', 'longest wait, e.g. 10m; 0 waits forever (default 5m)')
    .addHelpText(
      'after',
      `
Examples:
  snapup create --from ./site --name site --tag v1
  snapup create --backend datalayer --runtime jupyter-pod-123 --name before-upgrade
  snapup create --backend verge --verge-host verge.example --name pre-upgrade --retention 7d --immutable

Options a backend does not have are refused by name; nothing is sent.`,
    )
    .action(async (o, cmd: Command) => {
      const g = globals(cmd);
      const options: CreateOptions = {
        name: o.name,
        description: o.description,
        source: o.from,
        tag: o.tag,
        runtime: o.runtime,
        stop: o.stop,
        retentionSec:
          o.retention === undefined ? undefined : parseDuration(o.retention, 'retention'),
        neverExpires: o.neverExpire,
        immutable: o.immutable,
        private: o.private,
        minSnapshots:
          o.minSnapshots === undefined
            ? undefined
            : parsePositiveInt(o.minSnapshots, 'min-snapshots'),
        wait: o.wait,
        waitTimeoutSec: o.waitTimeout === undefined ? undefined : parseWaitTimeout(o.waitTimeout),
      };
      const progress = progressFor(g);
      const info = await withLifecycle(
        g,
        (life) => {
          refuseUnsupported(life, 'create', options, life.createOptions, (k) => CREATE_FLAGS[k]);
          const signal = interruptSignal(remoteInterruptAdvice(life));
          return life.create(options, { signal, onEvent: progress.sink });
        },
        progress.sink,
      ).finally(progress.stop);
      if (g.json) return printJson(info);
      if (!g.quiet) {
        const expiry = info.neverExpires ? 'never expires' : `expires ${shortDate(info.expiresAt)}`;
        process.stdout.write(`created ${info.id} (${info.name}) on ${info.backend}, ${expiry}\n`);
      }
    });
}
