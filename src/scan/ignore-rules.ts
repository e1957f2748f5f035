/**
 * git's ignore semantics over nested files: every folder may hold a `.gitignore` and a
 * `.snapupignore`, whose patterns are relative to that folder; deeper files override
 * shallower ones (a deeper `!pattern` re-includes), and an excluded folder is never
 * entered, so nothing below it can be re-included (as in git).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ignore, { type Ignore } from 'ignore';
import { fsError } from '../errors.js';

export const IGNORE_FILES = ['.gitignore', '.snapupignore'] as const;

interface Level {
  /** The folder's path relative to the walk root, '' for the root, else ending in '/'. */
  base: string;
  rules: Ignore;
}

/** An immutable chain of rule levels from the root down to one folder. */
export class IgnoreChain {
  /**
   * True while the only rule is the built-in `.git/`: then a folder named `.git` is all
   * that is ignored, decided without the rule engine (most trees have no ignore files,
   * and the generic test costs a microsecond per path).
   */
  private readonly onlyGit: boolean;

  private constructor(
    private readonly levels: readonly Level[],
    onlyGit = false,
  ) {
    this.onlyGit = onlyGit;
  }

  /** The rules above the root: `.git/` always, then `--exclude` patterns. */
  static base(excludes: readonly string[]): IgnoreChain {
    const base = ignore().add('.git/');
    if (excludes.length > 0) base.add([...excludes]);
    return new IgnoreChain([{ base: '', rules: base }], excludes.length === 0);
  }

  /**
   * The chain for a folder: this chain plus the folder's own ignore files, if any.
   * `listed` says which names the folder holds, so absent files are not even tried
   * (two failed opens per folder were a tenth of a 50,000-file walk).
   */
  enter(dirAbs: string, dirRel: string, listed?: (name: string) => boolean): IgnoreChain {
    let rules: Ignore | undefined;
    for (const file of IGNORE_FILES) {
      if (listed && !listed(file)) continue;
      const text = readIfPresent(join(dirAbs, file));
      if (text !== undefined) rules = (rules ?? ignore()).add(text);
    }
    if (!rules) return this;
    return new IgnoreChain([...this.levels, { base: dirRel === '' ? '' : `${dirRel}/`, rules }]);
  }

  /** Whether `rel` (a folder when `isDir`) is excluded; the deepest deciding level wins. */
  ignores(rel: string, isDir: boolean): boolean {
    if (this.onlyGit) return isDir && (rel === '.git' || rel.endsWith('/.git'));
    let ignored = false;
    for (const level of this.levels) {
      const local = rel.slice(level.base.length) + (isDir ? '/' : '');
      const verdict = level.rules.test(local);
      if (verdict.ignored) ignored = true;
      else if (verdict.unignored) ignored = false;
    }
    return ignored;
  }
}

function readIfPresent(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') return undefined;
    throw fsError(err, path, 'read ignore rules from');
  }
}
