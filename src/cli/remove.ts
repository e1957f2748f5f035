import { Command } from 'commander';
import { parseAddress } from '../protocol/types.js';
import { globals, printJson, withBackend } from './context.js';

export function rmCommand(): Command {
  return new Command('rm')
    .description('remove a snapshot (its content is reclaimed by "snapup gc")')
    .argument('<snapshot...>', 'NAME or NAME/TAG, one or more')
    .action(async (addresses: string[], _o, cmd: Command) => {
      const g = globals(cmd);
      const parsed = addresses.map((a) => parseAddress(a));
      await withBackend(g, async (b) => {
        for (const address of parsed) await b.remove(address);
      });
      if (g.json) return printJson({ removed: parsed.map((a) => `${a.name}/${a.tag}`) });
      if (!g.quiet) for (const a of parsed) process.stdout.write(`removed ${a.name}/${a.tag}\n`);
    });
}
