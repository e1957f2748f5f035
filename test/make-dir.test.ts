import { mkdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeDir } from '../src/util/make-dir.js';
import { ROOT, runCli, tempDir } from './helpers.js';

describe('makeDir', () => {
  it('makes every missing folder, and accepts one that exists', async () => {
    const root = tempDir();
    const deep = join(root, 'a', 'b', 'c');
    await makeDir(deep);
    expect(statSync(deep).isDirectory()).toBe(true);
    await makeDir(deep);
    await Promise.all([1, 2, 3].map((i) => makeDir(join(root, 'x', 'y', String(i)))));
    expect(statSync(join(root, 'x', 'y', '3')).isDirectory()).toBe(true);
  });

  it('names a file or a broken symlink in the way', async () => {
    const root = tempDir();
    writeFileSync(join(root, 'file'), 'f');
    await expect(makeDir(join(root, 'file'))).rejects.toMatchObject({
      code: 'NOT_A_DIRECTORY',
      message: `${join(root, 'file')}: exists and is not a folder (a file is in the way)`,
    });
    symlinkSync(join(root, 'gone'), join(root, 'link'));
    await expect(makeDir(join(root, 'link', 'sub'))).rejects.toMatchObject({
      code: 'NOT_A_DIRECTORY',
      message: `${join(root, 'link')}: exists and is not a folder (a broken symlink is in the way)`,
    });
  });

  it('gives up where the parent exists but cannot hold the folder (Node 20 loops forever)', async () => {
    // mkdir under /proc/self answers ENOENT while /proc/self is there.
    await expect(makeDir('/proc/self/snapup-test/sub')).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('pull into such a place ends with one line instead of spinning', async () => {
    const env = { SNAPUP_STORE: join(tempDir(), 'store'), XDG_CACHE_HOME: tempDir() };
    const sample = join(ROOT, 'fixtures', 'sample');
    expect((await runCli(['push', sample, '--name', 'site', '-q'], { env })).code).toBe(0);
    const stuck = await runCli(['pull', 'site', '/proc/self/snapup-test'], { env });
    expect(stuck.stderr).toBe('snapup: /proc/self/snapup-test: no such file or directory\n');
    expect(stuck.code).toBe(3);
    const root = tempDir();
    mkdirSync(join(root, 'in'));
    symlinkSync(join(root, 'gone'), join(root, 'in', 'link'));
    const broken = await runCli(['pull', 'site', join(root, 'in', 'link', 'out')], { env });
    expect(broken.stderr).toMatch(/in\/link: exists and is not a folder \(a broken symlink/);
    expect(broken.code).toBe(2);
  });
});
