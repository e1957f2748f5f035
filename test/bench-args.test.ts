import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, tempDir } from './helpers.js';

const BENCH = join(ROOT, 'dist', 'bench', 'run.js');
const bench = (args: string[]) =>
  spawnSync(process.execPath, [BENCH, ...args], { encoding: 'utf8' });

describe('npm run bench: its command line', () => {
  it('refuses a bad value in one line, exit 2, before measuring or writing anything', () => {
    const out = join(tempDir(), 'results');
    for (const [args, message] of [
      [['--runs', 'abc'], '--runs: "abc" must be a whole number of at least 1'],
      [['--runs', '0'], '--runs: "0" must be a whole number of at least 1'],
      [['--trees', 'small,huge'], '--trees: "huge" is not one of small, mixed, large'],
      [['--cache', 'hot'], '--cache: "hot" is not one of warm, cold'],
      [['--bogus'], "Unknown option '--bogus'"],
    ] as const) {
      const r = bench([...args, '--out', out]);
      expect(r.stderr).toBe(`bench: ${message} (npm run bench -- --help for usage)\n`);
      expect(r.stdout).toBe('');
      expect(r.status).toBe(2);
    }
    expect(existsSync(out)).toBe(false);
  });

  it('--help lists every option', () => {
    const r = bench(['--help']);
    expect(r.status).toBe(0);
    for (const option of ['--quick', '--runs N', '--trees', '--scenarios', '--cache', '--out'])
      expect(r.stdout).toContain(option);
  });
});
