import { mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { walk } from '../src/scan/walk.js';
import { mkfifoSync } from './fifo.js';
import { tempDir, writeTree } from './helpers.js';

async function paths(root: string, options: Parameters<typeof walk>[1] = {}) {
  return (await walk(root, options)).map((f) => f.path).sort();
}

describe('walk and ignore rules', () => {
  it('never enters the folders it is told to skip, saying why; refuses to walk one itself', async () => {
    const root = tempDir();
    writeTree(root, {
      'a.txt': 'a',
      'data/store/objects/x': 'x',
      'data/keep.txt': 'k',
      'my cache/snapup/h.bin': 'h',
    });
    const warnings: string[] = [];
    const found = await paths(root, {
      onWarning: (m) => warnings.push(m),
      skipFolders: [
        { abs: join(root, 'data', 'store'), why: 'the store this push writes to' },
        { abs: join(root, 'my cache', 'snapup'), why: 'the hash cache' },
        { abs: join(tempDir(), 'elsewhere'), why: 'not inside: ignored' },
      ],
    });
    expect(found).toEqual(['a.txt', 'data/keep.txt']);
    expect(warnings.sort()).toEqual([
      'skipping data/store: the store this push writes to',
      'skipping my cache/snapup: the hash cache',
    ]);
    await expect(
      walk(join(root, 'data', 'store'), {
        skipFolders: [{ abs: join(root, 'data', 'store'), why: 'the store' }],
      }),
    ).rejects.toMatchObject({
      code: 'BAD_INPUT',
      message: expect.stringContaining('this folder is the store'),
    });
  });

  it('honours nested .gitignore files with git semantics, including negation', async () => {
    const root = tempDir();
    writeTree(root, {
      '.gitignore': '*.log\nbuild/\n!keep.log\n',
      'a.log': 'x',
      'keep.log': 'x',
      'src/main.js': 'x',
      'src/.gitignore': 'generated/\n!important.log\n*.tmp\n',
      'src/important.log': 'x',
      'src/other.log': 'x',
      'src/x.tmp': 'x',
      'src/generated/out.js': 'x',
      'build/out.js': 'x',
      'lib/build/nested.js': 'x',
      'docs/.gitignore': '/only-here.txt\n',
      'docs/only-here.txt': 'x',
      'docs/sub/only-here.txt': 'x',
    });
    expect(await paths(root)).toEqual([
      '.gitignore',
      'docs/.gitignore',
      'docs/sub/only-here.txt',
      'keep.log',
      'src/.gitignore',
      'src/important.log',
      'src/main.js',
    ]);
  });

  it('cannot re-include a file whose folder is excluded (as in git)', async () => {
    const root = tempDir();
    writeTree(root, { '.gitignore': 'out/\n!out/keep.txt\n', 'out/keep.txt': 'x', 'a.txt': 'x' });
    expect(await paths(root)).toEqual(['.gitignore', 'a.txt']);
  });

  it('honours .snapupignore and --exclude, and always skips .git/', async () => {
    const root = tempDir();
    writeTree(root, {
      '.snapupignore': 'secret/\n',
      'secret/key': 'x',
      'notes/todo.md': 'x',
      'notes/keep.md': 'x',
      'src/a.js': 'x',
      'src/a.test.js': 'x',
      '.git/HEAD': 'ref',
      '.git/objects/ab/cd': 'x',
      'sub/.git/config': 'x',
    });
    expect(await paths(root, { excludes: ['*.test.js', 'notes/todo.md'] })).toEqual([
      '.snapupignore',
      'notes/keep.md',
      'src/a.js',
    ]);
  });

  it('skips symlinks and special files with one warning each', async () => {
    const root = tempDir();
    writeTree(root, { 'real.txt': 'x', 'dir/inner.txt': 'y' });
    symlinkSync('real.txt', join(root, 'link.txt'));
    symlinkSync('dir', join(root, 'dirlink'));
    mkfifoSync(join(root, 'pipe'));
    const warnings: string[] = [];
    const found = await paths(root, { onWarning: (m) => warnings.push(m) });
    expect(found).toEqual(['dir/inner.txt', 'real.txt']);
    expect(warnings.sort()).toEqual([
      'skipping special file pipe',
      'skipping symlink dirlink',
      'skipping symlink link.txt',
    ]);
  });

  it('follows symlinks to files inside the root only, with --follow-symlinks', async () => {
    const root = tempDir();
    const outside = tempDir();
    writeTree(root, { 'real.txt': 'inside', 'dir/inner.txt': 'y' });
    writeTree(outside, { 'secret.txt': 'outside' });
    symlinkSync('real.txt', join(root, 'link.txt'));
    symlinkSync(join(outside, 'secret.txt'), join(root, 'escape.txt'));
    symlinkSync('dir', join(root, 'dirlink'));
    symlinkSync('loop-b', join(root, 'loop-a'));
    symlinkSync('loop-a', join(root, 'loop-b'));
    const warnings: string[] = [];
    const files = await walk(root, { followSymlinks: true, onWarning: (m) => warnings.push(m) });
    expect(files.map((f) => f.path).sort()).toEqual(['dir/inner.txt', 'link.txt', 'real.txt']);
    expect(files.find((f) => f.path === 'link.txt')?.size).toBe(6);
    expect(warnings.join('\n')).toMatch(/escape\.txt: it points outside/);
    expect(warnings.join('\n')).toMatch(/dirlink: it points to a folder/);
    expect(warnings.join('\n')).toMatch(/loop-a: its target does not exist or loops/);
  });

  it('reports exe and ro from the mode, and NFC paths', async () => {
    const root = tempDir();
    const decomposed = 'cafe\u0301.txt';
    writeTree(root, {
      [decomposed]: 'x',
      'x.sh': { content: 'x', mode: 0o700 },
      'r.txt': { content: 'x', mode: 0o444 },
    });
    mkdirSync(join(root, 'empty-dir'));
    const files = await walk(root);
    expect(files.map((f) => f.path).sort()).toEqual(['café.txt'.normalize('NFC'), 'r.txt', 'x.sh']);
  });

  it('refuses two names that are one path once normalised, naming both', async () => {
    for (const [first, second] of [
      ['cafe\u0301.txt', 'caf\u00e9.txt'],
      ['d/cafe\u0301.txt', 'd/cafe\u0301.txt'.normalize('NFC')],
    ] as const) {
      const root = tempDir();
      writeTree(root, { [first]: 'a', [second]: 'b', 'other.txt': 'c' });
      const err = await walk(root).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'BAD_INPUT' });
      expect((err as Error).message).toMatch(/same Unicode-normalised name as/);
      expect((err as Error).message).toContain(root);
    }
  });
});
