/**
 * ~/.netrc (or $NETRC), as curl --netrc reads it: `machine HOST login USER password PASS`,
 * with `default` as a fallback entry. Written back with mode 600.
 */
import { promises as fsp } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/atomic.js';

export interface Credentials {
  user: string;
  password: string;
}

export function netrcPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.NETRC || join(homedir(), '.netrc');
}

interface Entry {
  machine: string | null;
  login?: string;
  password?: string;
}

export function parseNetrc(text: string): Entry[] {
  const tokens = text
    .split('\n')
    .filter((line) => !line.trimStart().startsWith('#'))
    .join('\n')
    .split(/\s+/)
    .filter(Boolean);
  const entries: Entry[] = [];
  let current: Entry | undefined;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (t === 'machine') {
      current = { machine: tokens[++i] ?? '' };
      entries.push(current);
    } else if (t === 'default') {
      current = { machine: null };
      entries.push(current);
    } else if (t === 'login' && current) current.login = tokens[++i];
    else if (t === 'password' && current) current.password = tokens[++i];
    else if (t === 'account' && current) i++;
    else if (t === 'macdef') break; // macros run to the end of a paragraph; nothing of ours follows
  }
  return entries;
}

/** The credentials for `host` (a host name, as curl matches it), if the file has them. */
export async function netrcCredentials(
  host: string,
  path = netrcPath(),
): Promise<Credentials | undefined> {
  let text: string;
  try {
    text = await fsp.readFile(path, 'utf8');
  } catch {
    return undefined;
  }
  const entries = parseNetrc(text);
  const entry = entries.find((e) => e.machine === host) ?? entries.find((e) => e.machine === null);
  if (entry?.login === undefined || entry.password === undefined) return undefined;
  return { user: entry.login, password: entry.password };
}

/** Adds or replaces the one-line entry for `host`, keeping every other line; mode 600. */
export async function saveNetrcCredentials(
  host: string,
  creds: Credentials,
  path = netrcPath(),
): Promise<void> {
  if (/\s/.test(creds.user) || /\s/.test(creds.password)) {
    throw new Error('user names and passwords with white space cannot be stored in .netrc');
  }
  let text = '';
  try {
    text = await fsp.readFile(path, 'utf8');
  } catch {
    // new file
  }
  const kept = text
    .split('\n')
    .filter((line) => !new RegExp(`^\\s*machine\\s+${escapeRegExp(host)}(\\s|$)`).test(line));
  while (kept.length > 0 && kept[kept.length - 1] === '') kept.pop();
  // First in the file: the first matching entry wins, also over one spread over lines.
  const lines = [`machine ${host} login ${creds.user} password ${creds.password}`, ...kept, ''];
  await writeFileAtomic(path, lines.join('\n'), { mode: 0o600 });
  await fsp.chmod(path, 0o600);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
