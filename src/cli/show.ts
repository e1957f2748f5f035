import { Command } from 'commander';
import { parseAddress } from '../protocol/types.js';
import { globals, printJson, withBackend } from './context.js';
import { formatBytes } from './format.js';

export function showCommand(): Command {
  return new Command('show')
    .description('show a snapshot: metadata and a summary of its manifest')
    .argument('<snapshot>', 'NAME or NAME/TAG')
    .option('--files', 'list every file (path, sha1, size, permissions)')
    .action(async (address: string, o: { files?: boolean }, cmd: Command) => {
      const g = globals(cmd);
      const { snapshot, fileHashes } = await withBackend(g, (b) => b.get(parseAddress(address)));
      if (g.json) return printJson(o.files ? { snapshot, fileHashes } : snapshot);
      const entries = Object.entries(fileHashes);
      const unique = new Set(entries.map(([, e]) => e.sha1)).size;
      const exe = entries.filter(([, e]) => e.permissions.exe).length;
      const ro = entries.filter(([, e]) => e.permissions.ro).length;
      const lines = [
        `snapshot   ${snapshot.name}/${snapshot.tag}`,
        `owner      ${snapshot.owner}`,
        `state      ${snapshot.frozen ? 'frozen' : 'open (push not finished)'}`,
        `created    ${snapshot.createdAt}`,
        `expires    ${snapshot.expiresAt ?? 'never'}`,
        `access     ${snapshot.accessLevel}${
          Object.keys(snapshot.accessPerUser).length
            ? `, ${Object.entries(snapshot.accessPerUser)
                .map(([u, l]) => `${u}=${l}`)
                .join(', ')}`
            : ''
        }`,
        `once       ${snapshot.removeAfterExecute ? 'yes (removed after its first pull)' : 'no'}`,
        `files      ${snapshot.fileCount} (${formatBytes(snapshot.size)}), ${unique} unique contents, ${exe} executable, ${ro} read-only`,
      ];
      if (o.files) {
        for (const [path, e] of entries) {
          lines.push(
            `${e.sha1}  ${e.permissions.exe ? 'x' : '-'}${e.permissions.ro ? 'r' : '-'}  ${String(e.size ?? '?').padStart(10)}  ${path}`,
          );
        }
      }
      process.stdout.write(`${lines.join('\n')}\n`);
    });
}
