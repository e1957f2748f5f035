import { Command } from 'commander';
import { peakRssBytes, StageClock } from '../engine/events.js';
import { buildManifest } from '../hash/manifest.js';
import { globals, interruptSignal, printJson, progressFor } from './context.js';

const collect = (value: string, previous: string[]) => [...previous, value];

export function manifestCommand(): Command {
  return new Command('manifest')
    .description(
      'print the manifest of a directory (path, sha1, size, permissions); no store needed',
    )
    .argument('<dir>', 'the directory')
    .option(
      '--exclude <glob>',
      'skip paths matching a gitignore-style pattern (repeatable)',
      collect,
      [],
    )
    .option('--follow-symlinks', 'follow symlinks that point to files inside the directory')
    .option('--no-cache', 'do not read or write the hash cache')
    .action(async (dir: string, o, cmd: Command) => {
      const g = globals(cmd);
      const progress = progressFor(g);
      const manifest = await buildManifest(
        dir,
        {
          excludes: o.exclude,
          followSymlinks: o.followSymlinks ?? false,
          cacheDir: o.cache === false ? false : undefined,
          signal: interruptSignal(),
        },
        progress.sink,
        new StageClock(progress.sink),
      ).finally(progress.stop);
      if (g.json) {
        return printJson({
          digest: manifest.digest,
          bytes: manifest.bytes,
          peakRssBytes: peakRssBytes(),
          files: manifest.files.map((f) => ({
            path: f.path,
            sha1: f.sha1,
            size: f.size,
            permissions: f.permissions,
          })),
        });
      }
      // One line per file, written in chunks: a 100,000-file manifest is one write per 1,000.
      let chunk = '';
      manifest.files.forEach((f, i) => {
        chunk += `${f.sha1}  ${f.permissions.exe ? 'x' : '-'}${f.permissions.ro ? 'r' : '-'}  ${String(f.size).padStart(10)}  ${f.path}\n`;
        if (i % 1000 === 999) {
          process.stdout.write(chunk);
          chunk = '';
        }
      });
      process.stdout.write(`${chunk}# ${manifest.files.length} files, digest ${manifest.digest}\n`);
    });
}
