import { Command } from 'commander';
import type { SnapshotContents, SnapshotInfo } from '../lifecycle/model.js';
import type { SnapshotMeta } from '../protocol/types.js';
import { withLifecycle } from './backends.js';
import { globals, printJson, progressFor } from './context.js';
import { fileLine, formatBytes, table } from './format.js';

export function showCommand(): Command {
  return new Command('show')
    .description('show a snapshot: its metadata and what it holds')
    .argument('<snapshot>', 'local/CB: NAME or NAME/TAG; Datalayer: uid; VergeOS: key or name')
    .option('--files', 'local/CB: list every file (path, sha1, size, permissions)')
    .addHelpText(
      'after',
      `
For VergeOS the VMs and tenants inside the snapshot are listed too.`,
    )
    .action(async (id: string, o: { files?: boolean }, cmd: Command) => {
      const g = globals(cmd);
      const progress = progressFor(g);
      const { info, contents } = await withLifecycle(
        g,
        async (life) => {
          const info = await life.get(id);
          const contents = life.contents ? await life.contents(info.id) : undefined;
          return { info, contents };
        },
        progress.sink,
      ).finally(progress.stop);
      if (g.json) {
        const files = contents?.kind === 'files' && !o.files ? undefined : contents;
        return printJson(files === undefined ? info : { ...info, contents: files });
      }
      process.stdout.write(`${describe(info, contents, o.files ?? false)}\n`);
    });
}

function describe(
  info: SnapshotInfo,
  contents: SnapshotContents | undefined,
  allFiles: boolean,
): string {
  const lines = [
    `snapshot   ${info.id}${info.name !== info.id ? `  (${info.name})` : ''}`,
    `backend    ${info.backend}`,
  ];
  if (info.description) lines.push(`about      ${info.description}`);
  lines.push(`status     ${info.status ?? '-'}`);
  if (info.createdAt) lines.push(`created    ${info.createdAt}`);
  if (info.updatedAt) lines.push(`updated    ${info.updatedAt}`);
  lines.push(`expires    ${info.neverExpires ? 'never' : (info.expiresAt ?? '-')}`);
  if (info.backend === 'verge') lines.push(`immutable  ${info.frozen ? 'yes' : 'no'}`);
  if (info.size !== null) lines.push(`size       ${formatBytes(info.size)}`);
  if (info.backend === 'local' || info.backend === 'cb')
    lines.push(...directoryLines(info.raw as SnapshotMeta));
  else lines.push(`private    ${info.private ? 'yes' : 'no'}`);
  if (contents?.kind === 'files') {
    const unique = new Set(contents.files.map((f) => f.sha1)).size;
    const exe = contents.files.filter((f) => f.exe).length;
    const ro = contents.files.filter((f) => f.ro).length;
    lines.push(
      `files      ${contents.files.length}, ${unique} unique contents, ${exe} executable, ${ro} read-only`,
    );
    if (allFiles) {
      for (const f of contents.files) {
        lines.push(fileLine(f.sha1, f, f.size, f.path));
      }
    }
  }
  if (contents?.kind === 'machines') {
    const vms = contents.vms.map((v) => ({ ...v, size: String(v.cpuCores) }));
    const tenants = contents.tenants.map((t) => ({ ...t, size: String(t.nodes) }));
    lines.push(...machineTable('VMs', 'CPU', vms), ...machineTable('Tenants', 'NODES', tenants));
  }
  return lines.join('\n');
}

function directoryLines(meta: SnapshotMeta): string[] {
  const grants = Object.entries(meta.accessPerUser);
  return [
    `owner      ${meta.owner}`,
    `access     ${meta.accessLevel}${grants.length ? `, ${grants.map(([u, l]) => `${u}=${l}`).join(', ')}` : ''}`,
    `once       ${meta.removeAfterExecute ? 'yes (removed after its first pull)' : 'no'}`,
  ];
}

/** A titled table of the VMs or tenants in a VergeOS snapshot. */
function machineTable(
  title: string,
  sizeHeader: string,
  rows: { key: number; name: string; status: string; size: string; ramMb: number }[],
): string[] {
  const out = ['', `${title} (${rows.length})`];
  if (rows.length > 0) {
    out.push(
      table(
        ['KEY', 'NAME', 'STATUS', sizeHeader, 'RAM'],
        rows.map((r) => [String(r.key), r.name, r.status, r.size, `${r.ramMb} MB`]),
      ),
    );
  }
  return out;
}
