import {
  chmodSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  bytes,
  ROOT,
  readTree,
  runCli,
  sha1,
  storedObjects,
  tempDir,
  writeTree,
} from './helpers.js';

function env() {
  return { SNAPUP_STORE: join(tempDir(), 'store'), XDG_CACHE_HOME: tempDir() };
}

/** One line on stderr, no stack trace. */
function expectCleanError(stderr: string, pattern: RegExp) {
  expect(stderr).toMatch(pattern);
  expect(stderr.trim().split('\n')).toHaveLength(1);
  expect(stderr).not.toMatch(/\n\s+at /);
}

describe('snapup CLI', () => {
  it('pushes the sample, lists, shows, pulls, removes and collects', async () => {
    const e = env();
    const sample = join(ROOT, 'fixtures', 'sample');
    const push = await runCli(['push', sample, '--name', 'site', '--tag', 'v1', '--json'], {
      env: e,
    });
    expect(push.code).toBe(0);
    const s = JSON.parse(push.stdout);
    for (const field of [
      'files',
      'bytes',
      'hashedFiles',
      'hashedBytes',
      'cachedFiles',
      'uploadedFiles',
      'uploadedBytes',
      'stagedFiles',
      'dedupBytes',
      'durationMs',
    ]) {
      expect(typeof s[field]).toBe('number');
    }
    expect(s.mode).toBe('single');
    expect(s.snapshot).toMatchObject({ name: 'site', tag: 'v1', frozen: true });
    expect(s.files).toBe(Object.keys(readTree(sample)).length);

    const ls = await runCli(['ls'], { env: e });
    expect(ls.stdout).toMatch(/site\/v1\s+frozen\s+\d+/);
    const show = await runCli(['show', 'site/v1', '--json'], { env: e });
    expect(JSON.parse(show.stdout)).toMatchObject({
      backend: 'local',
      id: 'site/v1',
      name: 'site',
      status: 'frozen',
      frozen: true,
      raw: { tag: 'v1', fileCount: s.files },
    });

    const dest = join(tempDir(), 'out');
    expect((await runCli(['pull', 'site/v1', dest], { env: e })).code).toBe(0);
    expect(readTree(dest)).toEqual(readTree(sample));

    expect((await runCli(['rm', 'site/v1'], { env: e })).stdout).toBe('removed site/v1\n');
    const gc = await runCli(['gc', '--json'], { env: e });
    expect(JSON.parse(gc.stdout).removedObjects).toBeGreaterThan(0);
    expect(storedObjects(e.SNAPUP_STORE)).toEqual([]);
    expect((await runCli(['show', 'site/v1'], { env: e })).code).toBe(3);
  });

  it('defaults the snapshot to <dir name>/default and prints a human summary', async () => {
    const e = env();
    const src = join(tempDir(), 'my project');
    writeTree(src, { 'a.txt': 'a' });
    const r = await runCli(['push', src], { env: e });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^pushed my-project\/default\n/);
    expect(r.stdout).toMatch(/uploaded\s+1 file\(s\)/);
  });

  it('prints the first 20 warnings and counts the rest; --verbose prints every one', async () => {
    const e = env();
    const src = tempDir();
    writeTree(src, { 'a.txt': 'a' });
    for (let i = 0; i < 25; i++)
      symlinkSync('a.txt', join(src, `link${String(i).padStart(2, '0')}`));
    const r = await runCli(['push', src, '--name', 'links'], { env: e });
    expect(r.code).toBe(0);
    const lines = r.stderr.trim().split('\n');
    expect(lines.slice(0, 20)).toEqual(
      Array.from(
        { length: 20 },
        (_, i) => `warning: skipping symlink link${String(i).padStart(2, '0')}`,
      ),
    );
    expect(lines.slice(20)).toEqual([
      'warning: 5 more warnings not shown (--verbose shows every one)',
    ]);
    expect(r.stdout).toMatch(/skipped\s+25 path\(s\), see the warnings/);
    const all = await runCli(['push', src, '--name', 'links', '--verbose'], { env: e });
    expect(all.stderr.trim().split('\n')).toHaveLength(25);
    expect(all.stderr).toMatch(/link24\n$/);
    const quiet = await runCli(['push', src, '--name', 'links', '-q'], { env: e });
    expect(quiet.stderr).toBe('');
  });

  it('--dry-run lists what would be uploaded and writes nothing', async () => {
    const e = env();
    const src = tempDir();
    writeTree(src, { 'a.txt': 'a', 'b.txt': 'b' });
    const r = await runCli(['push', src, '--name', 'dry', '--dry-run'], { env: e });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/would upload a\.txt/);
    expect(r.stdout).toMatch(/would upload 2 file\(s\)/);
    // Nothing was uploaded, and the summary does not say it was.
    expect(r.stdout).not.toMatch(/uploaded/);
    expect(r.stdout).toMatch(/^\s+files\s+2 \(2 B\)/m);
    expect(storedObjects(e.SNAPUP_STORE)).toEqual([]);
    expect(readdirSync(join(e.SNAPUP_STORE, 'snapshots'))).toEqual([]);
  });

  it('manifest prints path, sha1, size and permissions without a store', async () => {
    const src = tempDir();
    writeTree(src, {
      'x.sh': { content: 'run', mode: 0o755 },
      'r.txt': { content: 'ro', mode: 0o444 },
    });
    const r = await runCli(['manifest', src, '--json'], {
      env: { XDG_CACHE_HOME: tempDir(), SNAPUP_STORE: '/nonexistent/never' },
    });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).files).toEqual([
      {
        path: 'r.txt',
        sha1: expect.stringMatching(/^[0-9a-f]{40}$/),
        size: 2,
        permissions: { ro: true, exe: false },
      },
      {
        path: 'x.sh',
        sha1: expect.stringMatching(/^[0-9a-f]{40}$/),
        size: 3,
        permissions: { ro: false, exe: true },
      },
    ]);
    expect(existsSync('/nonexistent/never')).toBe(false);
  });

  it('manifest --json of many files is one document: every file, the digest, the peak memory', async () => {
    const src = tempDir();
    const files: Record<string, string> = { 'q"uote.txt': 'q', 'sp ace ü\u00e9.txt': 'u' };
    for (let i = 0; i < 2500; i++) files[`d${i % 9}/f${i}`] = `c${i}`;
    writeTree(src, files);
    const env = { env: { XDG_CACHE_HOME: tempDir() } };
    const r = await runCli(['manifest', src, '--json'], env);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.files).toHaveLength(2502);
    expect(doc.files.map((f: { path: string }) => f.path)).toEqual(Object.keys(files).sort());
    expect(doc.files[0]).toEqual({
      path: 'd0/f0',
      sha1: sha1('c0'),
      size: 2,
      permissions: { ro: false, exe: false },
    });
    expect(doc.peakRssBytes).toBeGreaterThan(0);
    const text = await runCli(['manifest', src], env);
    expect(text.stdout).toContain(`# 2502 files, digest ${doc.digest}`);
    const empty = await runCli(['manifest', tempDir(), '--json'], env);
    expect(JSON.parse(empty.stdout)).toMatchObject({ files: [], bytes: 0 });
  });

  it('manifest output: a reader that leaves early ends it quietly, a full disk is one error', async () => {
    const src = tempDir();
    const files: Record<string, string> = {};
    for (let i = 0; i < 3000; i++) files[`d${i % 9}/file-with-a-longer-name-${i}`] = `c${i}`;
    writeTree(src, files);
    const cache = { XDG_CACHE_HOME: tempDir() };
    // 3,000 lines are ~300 KB: more than a pipe holds, so the reader's leaving is noticed.
    for (const format of [['--json'], []]) {
      const early = await runCli(['manifest', src, ...format], { env: cache, closeStdoutAfter: 1 });
      expect(early.stderr).toBe('');
      expect(early.code).toBe(0);
    }
    const full = openSync('/dev/full', 'w');
    try {
      for (const cmd of [['manifest', src, '--json'], ['manifest', src], ['ls']]) {
        const r = await runCli(cmd, { env: env(), stdout: full });
        expectCleanError(r.stderr, /standard output: no space left on device/);
        expect(r.code).toBe(6);
      }
    } finally {
      closeSync(full);
    }
  });

  it('rm goes on past a snapshot it cannot remove, names it, and exits with its code', async () => {
    const e = env();
    const sample = join(ROOT, 'fixtures', 'sample');
    for (const name of ['one', 'two', 'three'])
      expect((await runCli(['push', sample, '--name', name, '-q'], { env: e })).code).toBe(0);
    const r = await runCli(['rm', 'one', 'missing', 'two'], { env: e });
    expect(r.stdout).toBe('removed one\nremoved two\n');
    expect(r.stderr).toBe(
      'snapup: snapshot missing/default not found\nsnapup: 1 of 3 snapshots not removed (see above)\n',
    );
    expect(r.code).toBe(3);
    const json = await runCli(['rm', 'three', 'missing', '--json'], { env: e });
    expect(JSON.parse(json.stdout)).toEqual({
      removed: ['three'],
      failed: [{ id: 'missing', code: 'NOT_FOUND', message: 'snapshot missing/default not found' }],
    });
    expect(json.code).toBe(3);
    const left = JSON.parse((await runCli(['ls', '--json'], { env: e })).stdout);
    expect(left).toEqual([]);
    const one = await runCli(['rm', 'missing'], { env: e });
    expect(one.stderr).toBe('snapup: snapshot missing/default not found\n');
    // With --json, tools get the document for one snapshot too.
    const oneJson = await runCli(['rm', 'missing', '--json'], { env: e });
    expect(JSON.parse(oneJson.stdout)).toEqual({
      removed: [],
      failed: [{ id: 'missing', code: 'NOT_FOUND', message: 'snapshot missing/default not found' }],
    });
    expect(oneJson.stderr).toBe('snapup: snapshot missing/default not found\n');
    expect(oneJson.code).toBe(3);
  });

  it('an empty path is refused, never taken for the working folder', async () => {
    const e = env();
    const sample = join(ROOT, 'fixtures', 'sample');
    expect((await runCli(['push', sample, '--name', 'e', '-q'], { env: e })).code).toBe(0);
    const cwd = tempDir();
    for (const [args, message] of [
      [['push', ''], 'the directory is an empty path; give a folder'],
      [['manifest', ''], 'the directory is an empty path; give a folder'],
      [['bench', sample, '--compare', ''], 'the directory is an empty path; give a folder'],
      [['pull', 'e', '', '--force'], 'the destination is an empty path; give a folder'],
      [['ls', '--store', ''], 'store: an empty path; give a folder'],
      [['user', 'add', 'bob', '--data', ''], 'data: an empty path; give a folder'],
      [['serve', '--data', '', '--port', '0'], 'data: an empty path; give a folder'],
    ] as const) {
      const r = await runCli([...args], { env: { ...e, SNAPUP_PASSWORD: 'bob-password' }, cwd });
      expect(r.stderr).toBe(`snapup: ${message}\n`);
      expect(r.code).toBe(2);
    }
    expect(readdirSync(cwd)).toEqual([]);
  });

  it('a folder holding its own store and hash cache is pushed without them, again and again', async () => {
    const root = tempDir();
    writeTree(root, { 'a.txt': 'a', 'sub/b.txt': 'b' });
    const env = { SNAPUP_STORE: join(root, '.store'), XDG_CACHE_HOME: join(root, 'cache') };
    for (let i = 0; i < 3; i++) {
      const r = await runCli(['push', root, '--name', 'self', '--json'], { env });
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ files: 2 });
    }
    const show = JSON.parse((await runCli(['show', 'self', '--files', '--json'], { env })).stdout);
    expect(show.contents.files.map((f: { path: string }) => f.path).sort()).toEqual([
      'a.txt',
      'sub/b.txt',
    ]);
    const itself = await runCli(['push', join(root, '.store')], { env });
    expect(itself.stderr).toMatch(/this folder is the store this push writes to; push another\n$/);
    expect(itself.code).toBe(2);
    // Nor is a snapshot pulled into the store, or into a folder holding it.
    const before = readTree(join(root, '.store'));
    for (const [dest, how] of [
      [join(root, '.store'), 'is inside'],
      [join(root, '.store', 'objects', 'new'), 'is inside'],
      [root, 'holds'],
    ] as const) {
      const r = await runCli(['pull', 'self', dest, '--force'], { env });
      expect(r.stderr).toBe(
        `snapup: ${dest}: ${how} the store this pull reads from (${join(root, '.store')}); pull into another folder\n`,
      );
      expect(r.code).toBe(2);
    }
    expect(readTree(join(root, '.store'))).toEqual(before);
    expect(existsSync(join(root, '.store', 'objects', 'new'))).toBe(false);
  });

  it('honours --expire and --remove-after-execute', async () => {
    const e = env();
    const src = tempDir();
    writeTree(src, { 'a.txt': 'a' });
    await runCli(['push', src, '--name', 'once', '--remove-after-execute', '--expire', '2h'], {
      env: e,
    });
    const show = JSON.parse((await runCli(['show', 'once', '--json'], { env: e })).stdout).raw;
    const ttl = Date.parse(show.expiresAt) - Date.parse(show.createdAt);
    // Counted from the request that set it, a few ms after the snapshot was created.
    expect(ttl).toBeGreaterThanOrEqual(2 * 3600 * 1000);
    expect(ttl).toBeLessThan(2 * 3600 * 1000 + 5000);
    expect(show.removeAfterExecute).toBe(true);
    expect((await runCli(['pull', 'once', join(tempDir(), 'o1')], { env: e })).code).toBe(0);
    const again = await runCli(['pull', 'once', join(tempDir(), 'o2')], { env: e });
    expect(again.code).toBe(3);
    expectCleanError(again.stderr, /once\/default was removed after execution/);
  });

  it('prints --help for every command', async () => {
    const top = await runCli(['--help']);
    expect(top.code).toBe(0);
    expect(top.stdout).toMatch(/Exit codes:/);
    for (const cmd of ['push', 'pull', 'ls', 'show', 'manifest', 'rm', 'gc']) {
      const r = await runCli([cmd, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`Usage: snapup ${cmd}`));
    }
    // What an interrupted or failed transfer leaves, where users look for it.
    expect((await runCli(['push', '--help'])).stdout).toMatch(/a push keeps what it stored/);
    expect((await runCli(['pull', '--help'])).stdout).toMatch(/pull again\s+with --force/);
  });

  describe('errors: one clear line, a documented exit code, a consistent store', () => {
    it('a missing directory', async () => {
      const r = await runCli(['push', '/no/such/dir'], { env: env() });
      expect(r.code).toBe(3);
      expectCleanError(r.stderr, /^snapup: \/no\/such\/dir: no such file or directory/);
    });

    it('a file instead of a directory', async () => {
      const f = join(tempDir(), 'file.txt');
      writeFileSync(f, 'x');
      const r = await runCli(['push', f], { env: env() });
      expect(r.code).toBe(2);
      expectCleanError(r.stderr, /file\.txt: not a directory/);
    });

    it('invalid name, tag, expiry and access values name the field', async () => {
      const src = tempDir();
      writeTree(src, { 'a.txt': 'a' });
      const cases: [string[], RegExp][] = [
        [['--name', 'bad/name'], /name: "bad\/name" is invalid/],
        [['--tag', 'sp ace'], /tag: "sp ace" is invalid/],
        [['--expire', 'soon'], /expire: "soon" is not a duration/],
        [['--grant', 'bob'], /grant: "bob" is not USER=LEVEL/],
        [['--concurrency', '0'], /concurrency: "0" must be a whole number/],
        [
          ['--concurrency', '100000'],
          /concurrency: 100000 is more than 256 at once; give 1 to 256/,
        ],
      ];
      for (const [args, pattern] of cases) {
        const r = await runCli(['push', src, ...args], { env: env() });
        expect(r.code).toBe(2);
        expectCleanError(r.stderr, pattern);
      }
      const many = await runCli(['pull', 'a', tempDir(), '--concurrency', '257'], { env: env() });
      expect(many.code).toBe(2);
      expectCleanError(many.stderr, /concurrency: 257 is more than 256/);
      const bad = await runCli(['pull', 'a/b/c', tempDir()], { env: env() });
      expect(bad.code).toBe(2);
      expectCleanError(bad.stderr, /snapshot: "a\/b\/c" is not NAME or NAME\/TAG/);
    });

    it('an unknown option or command is a usage error (exit 2)', async () => {
      expect((await runCli(['push', '--bogus'])).code).toBe(2);
      expect((await runCli(['frobnicate'])).code).toBe(2);
    });

    it('an unreadable file names the file and leaves no snapshot', async () => {
      const base = tempDir();
      chmodSync(base, 0o755);
      const src = join(base, 'src');
      writeTree(src, { 'ok.txt': 'fine', 'secret.txt': 'hidden' });
      chmodSync(join(src, 'secret.txt'), 0o000);
      const store = join(base, 'store');
      mkdirSync(store, { mode: 0o777 });
      chmodSync(store, 0o777);
      // root reads anything: run as nobody there so the permission bits apply.
      const asUser = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
      const r = await runCli(['push', src, '--name', 'u'], {
        env: { SNAPUP_STORE: store, XDG_CACHE_HOME: join(base, 'cache') },
        ...asUser,
      });
      expect(r.code).toBe(6);
      expectCleanError(r.stderr, /secret\.txt: permission denied/);
      expect(existsSync(join(store, 'snapshots', 'u'))).toBe(false);
    });

    it('a full disk names the store and leaves it consistent', async () => {
      const mnt = tempDir();
      const src = tempDir();
      writeTree(src, { 'small.txt': 'small', 'big.bin': bytes(1, 3 * 1024 * 1024) });
      // A 1 MiB tmpfs in a private mount namespace plays the full disk.
      const script = `mount -t tmpfs -o size=1m tmpfs "$0" && exec "$@"`;
      const store = join(mnt, 'store');
      const r = await runCli(['push', src, '--name', 'full', '--single-max', '0'], {
        env: { SNAPUP_STORE: store, XDG_CACHE_HOME: tempDir() },
        wrap: ['unshare', '--mount', '--map-root-user', 'sh', '-c', script, mnt],
      });
      expect(r.code).toBe(6);
      expectCleanError(r.stderr, /no space left on device/);
      expect(r.stderr).toContain(store);
    });

    it('a corrupt store object fails the pull with the object named (exit 5)', async () => {
      const e = env();
      const src = tempDir();
      writeTree(src, { 'a.txt': 'precious content' });
      await runCli(['push', src, '--name', 'c'], { env: e });
      const [obj] = storedObjects(e.SNAPUP_STORE);
      const path = join(e.SNAPUP_STORE, 'objects', (obj as string).slice(0, 2), obj as string);
      chmodSync(path, 0o644);
      writeFileSync(path, 'tampered content');
      const r = await runCli(['pull', 'c', join(tempDir(), 'out')], { env: e });
      expect(r.code).toBe(5);
      expectCleanError(r.stderr, /store object is corrupt/);
    });

    it('a non-empty pull destination needs --force', async () => {
      const e = env();
      const src = tempDir();
      writeTree(src, { 'a.txt': 'a' });
      await runCli(['push', src, '--name', 'p'], { env: e });
      const dest = tempDir();
      writeFileSync(join(dest, 'mine.txt'), 'keep me');
      const r = await runCli(['pull', 'p', dest], { env: e });
      expect(r.code).toBe(2);
      expectCleanError(r.stderr, /not empty; pull into a new folder or add --force/);
      expect((await runCli(['pull', 'p', dest, '--force'], { env: e })).code).toBe(0);
      expect(Object.keys(readTree(dest)).sort()).toEqual(['a.txt', 'mine.txt']);
    });
  });
});
