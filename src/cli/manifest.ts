import { Command } from 'commander';
import { peakRssBytes, StageClock } from '../engine/events.js';
import { buildManifest } from '../hash/manifest.js';
import { permissionsJson } from '../protocol/manifest.js';
import { globals, interruptSignal, progressFor } from './context.js';
import { fileLine } from './format.js';
import { writeOut } from './output.js';

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
          signal: interruptSignal('nothing was written'),
        },
        progress.sink,
        new StageClock(progress.sink),
      ).finally(progress.stop);
      // Written in pieces of 1,000 files, a file per line, each waiting for the reader: the
      // document as one string was 10 MB for 50,000 files (and the peak it reports now
      // includes writing it).
      const files = manifest.files;
      if (g.json) {
        await writeOut(
          `{\n  "digest": "${manifest.digest}",\n  "bytes": ${manifest.bytes},\n  "files": [`,
        );
        let piece = '';
        for (let i = 0; i < files.length; i++) {
          const f = files[i] as (typeof files)[number];
          // By hand, as JSON.stringify of the same object writes it: an object serialised
          // per file was ~90 ms of a 50,000-file manifest.
          piece += `${i === 0 ? '' : ','}\n    {"path":${JSON.stringify(f.path)},"sha1":"${f.sha1}","size":${f.size},"permissions":${permissionsJson(f.permissions)}}`;
          if (i % 1000 === 999) {
            await writeOut(piece);
            piece = '';
          }
        }
        const close = files.length > 0 ? '\n  ]' : ']';
        await writeOut(`${piece}${close},\n  "peakRssBytes": ${peakRssBytes()}\n}\n`);
        return;
      }
      let chunk = '';
      for (let i = 0; i < files.length; i++) {
        const f = files[i] as (typeof files)[number];
        chunk += `${fileLine(f.sha1, f.permissions, f.size, f.path)}\n`;
        if (i % 1000 === 999) {
          await writeOut(chunk);
          chunk = '';
        }
      }
      await writeOut(`${chunk}# ${files.length} files, digest ${manifest.digest}\n`);
    });
}
