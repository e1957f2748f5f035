/** Where local folders lie relative to each other, through symlinks. */
import { realpathSync } from 'node:fs';
import { basename, dirname, join, sep } from 'node:path';

/** Whether `path` is `folder` or lies inside it (both absolute and resolved alike). */
export function isWithin(path: string, folder: string): boolean {
  return path === folder || path.startsWith(folder.endsWith(sep) ? folder : folder + sep);
}

/** The real path of `path`, through symlinks, as far as it exists (the rest appended). */
export function realPathSoFar(path: string): string {
  let rest = '';
  let at = path;
  for (;;) {
    try {
      return join(realpathSync(at), rest);
    } catch {
      const up = dirname(at);
      if (up === at) return path;
      rest = join(basename(at), rest);
      at = up;
    }
  }
}
