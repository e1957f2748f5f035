import { Command } from 'commander';
import { pull } from '../engine/pull.js';
import { parseAddress } from '../protocol/types.js';
import {
  globals,
  interruptSignal,
  keptFilesAdvice,
  printJson,
  progressFor,
  withBackend,
  withNextStep,
} from './context.js';
import { formatBytes, formatMs, parseConcurrency } from './format.js';

export function pullCommand(): Command {
  return new Command('pull')
    .description('write a snapshot back into a folder, byte-identical with its permissions')
    .argument('<snapshot>', 'NAME or NAME/TAG')
    .argument('<dest>', 'the folder to write (created; must be empty unless --force)')
    .option(
      '--force',
      "write into a folder that already has files: those with the snapshot's content are kept, the other files of the snapshot overwritten",
    )
    .option('--concurrency <n>', 'files written at once', '8')
    .addHelpText(
      'after',
      `
Examples:
  snapup pull site/v1 ./site-v1
  snapup pull site ./site --server https://snap.example --json

Every file is checked against its hash and written whole (through a temp file), with its
exe/ro bits. Interrupted, out of space or cut off from the server, a pull keeps the files it
finished: pull again with --force to complete the folder (files already there with the
right content are checked by hash and kept, not fetched again).`,
    )
    .action(async (address: string, dest: string, o, cmd: Command) => {
      const g = globals(cmd);
      const concurrency = parseConcurrency(o.concurrency);
      const progress = progressFor(g);
      const finish = keptFilesAdvice(dest, 'pull again with --force to finish');
      let writing = false;
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
              signal: interruptSignal(finish),
              onEvent: (event) => {
                if (
                  event.type === 'stage' &&
                  (event.stage === 'hash' || event.stage === 'download')
                )
                  writing = true;
                progress.sink(event);
              },
            }),
          concurrency,
          progress.sink,
        ),
        // Before the first file nothing was written: the error alone says it.
        () =>
          writing
            ? {
                DISK_FULL: keptFilesAdvice(dest, 'free some space and pull again with --force'),
                IO: finish,
                TIMEOUT: finish,
                REMOTE: finish,
              }
            : {},
      ).finally(progress.stop);
      if (g.json) return printJson(summary);
      if (!g.quiet) {
        process.stdout.write(
          `pulled ${summary.snapshot.name}/${summary.snapshot.tag} into ${summary.dest}: ${summary.files} files, ${formatBytes(summary.bytes)} in ${formatMs(summary.durationMs)}${summary.keptFiles > 0 ? ` (${summary.keptFiles} already there, ${formatBytes(summary.keptBytes)} not fetched)` : ''}\n`,
        );
      }
    });
}
