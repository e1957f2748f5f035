import { Command } from 'commander';
import { pull } from '../engine/pull.js';
import { parseAddress } from '../protocol/types.js';
import {
  globals,
  interruptSignal,
  printJson,
  progressFor,
  withBackend,
  withNextStep,
} from './context.js';
import { formatBytes, formatMs, parsePositiveInt } from './format.js';

export function pullCommand(): Command {
  return new Command('pull')
    .description('write a snapshot back into a folder, byte-identical with its permissions')
    .argument('<snapshot>', 'NAME or NAME/TAG')
    .argument('<dest>', 'the folder to write (created; must be empty unless --force)')
    .option(
      '--force',
      'write into a folder that already has files (files of the snapshot are overwritten)',
    )
    .option('--concurrency <n>', 'files written at once', '8')
    .addHelpText(
      'after',
      `
Examples:
  snapup pull site/v1 ./site-v1
  snapup pull site ./site --server https://snap.example --json

Every file is checked against its hash and written whole (through a temp file), with its
exe/ro bits. Interrupted or out of space, a pull keeps the files it finished: pull again
with --force to complete the folder.`,
    )
    .action(async (address: string, dest: string, o, cmd: Command) => {
      const g = globals(cmd);
      const concurrency = parsePositiveInt(o.concurrency, 'concurrency');
      const progress = progressFor(g);
      // A pull stopped part way leaves the files it finished (each written whole).
      const kept = `the files written so far stay in ${dest}`;
      const summary = await withNextStep(
        withBackend(
          g,
          (source) =>
            pull({
              source,
              address: parseAddress(address),
              dest,
              force: o.force ?? false,
              concurrency,
              signal: interruptSignal(`${kept}: pull again with --force to finish`),
              onEvent: progress.sink,
            }),
          concurrency,
          progress.sink,
        ),
        {
          DISK_FULL: `${kept}: free some space and pull again with --force`,
        },
      ).finally(progress.stop);
      if (g.json) return printJson(summary);
      if (!g.quiet) {
        process.stdout.write(
          `pulled ${summary.snapshot.name}/${summary.snapshot.tag} into ${summary.dest}: ${summary.files} files, ${formatBytes(summary.bytes)} in ${formatMs(summary.durationMs)}\n`,
        );
      }
    });
}
