/**
 * `npm run bench`: snapup against sha1sum, openssl, git, restic and rsync on generated
 * trees. Prints one table and writes the same rows as JSON under bench/results/.
 *
 *   npm run bench                       # small, mixed, large; 3 runs each
 *   npm run bench -- --quick            # tiny trees, 1 run: a smoke test (CI)
 *   npm run bench -- --trees small --runs 5 --scenarios hash,push,noop
 *
 * Page cache: warm (each tree is read once before timing), and for the hash and first-push
 * scenarios also cold (the cache emptied before each timed run) where the machine lets the
 * bench drop caches (root, writable /proc/sys); the JSON says which were run.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs as parseCli } from 'node:util';
import { startDelayProxy } from './delay-proxy.js';
import {
  atStop,
  canDropCaches,
  dropCaches,
  has,
  interleave,
  peakRssOf,
  repeat,
  resetPeakRss,
  run,
  type Stats,
  stats,
  stopEverything,
  track,
} from './measure.js';
import {
  editTree,
  scaled,
  TREES,
  type TreeName,
  type TreeSpec,
  type WrittenTree,
  writeTree,
} from './trees.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = `"${process.execPath}" "${join(ROOT, 'bin', 'snapup.js')}"`;
const ALL_SCENARIOS = ['hash', 'push', 'edit', 'noop', 'http', 'rtt'] as const;
type Scenario = (typeof ALL_SCENARIOS)[number];
const PAGE_CACHES = ['warm', 'cold'] as const;
type PageCache = (typeof PAGE_CACHES)[number];

interface Options {
  quick: boolean;
  runs: number;
  trees: TreeName[];
  scenarios: Scenario[];
  /** Cold runs are made only where caches can be dropped (see main). */
  caches: PageCache[];
  out: string;
}

interface Row {
  scenario: string;
  tree: string;
  tool: string;
  time: Stats;
  bytes: number;
  files: number;
  /** Against the scenario's baseline (named in `baseline`), same run. */
  ratio?: number;
  baseline?: string;
  peakRssMiB?: number;
  /** snapup serve's own peak over the scenario's runs (HTTP scenarios, where /proc tells). */
  serverRssMiB?: number;
  /** Bytes snapup sent divided by bytes of genuinely new content (1.00 is perfect). */
  dedupEfficiency?: number;
  note?: string;
}

const HELP = `usage: npm run bench -- [options]

Measures snapup against sha1sum, openssl, git, restic and rsync on trees it generates under
the temp dir, prints one table (median, min, max, MB/s, files/s, ratio to the baseline,
peak RSS, bytes sent per new byte) and writes the same as JSON to the results folder.

  --quick           trees of a few MB and one run: a smoke test of seconds, no timings to read
  --runs N          runs of each tool in each scenario (default 3)
  --trees LIST      of small, mixed, large (default all three)
  --scenarios LIST  of ${ALL_SCENARIOS.join(', ')} (default all)
  --cache LIST      page cache: warm, cold (default both; cold runs need the right to
                    drop caches and are skipped with a note without it)
  --out DIR         results folder (default bench/results)

Baseline tools come from Debian packages (bench/setup.sh installs them); one that is missing
is skipped with a note.
`;

/** A mistake on the bench's command line: said in one line with the usage, exit 2. */
class UsageError extends Error {}

/** The values of a comma-separated option, each one of `allowed`. */
function listOf<T extends string>(text: string, option: string, allowed: readonly T[]): T[] {
  const values = text.split(',').filter((v) => v !== '');
  const wrong = values.find((v) => !allowed.includes(v as T));
  if (values.length === 0 || wrong !== undefined)
    throw new UsageError(`--${option}: "${wrong ?? text}" is not one of ${allowed.join(', ')}`);
  return values as T[];
}

function parseArgs(argv: string[]): Options {
  let parsed: ReturnType<typeof parseCli>;
  try {
    parsed = parseCli({
      args: argv,
      strict: true,
      options: {
        quick: { type: 'boolean' },
        runs: { type: 'string' },
        trees: { type: 'string' },
        scenarios: { type: 'string' },
        cache: { type: 'string' },
        out: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const v = parsed.values as Record<string, string | boolean | undefined>;
  if (v.help) {
    process.stdout.write(HELP);
    process.exit(0);
  }
  const runs = v.runs === undefined ? 3 : Number(v.runs);
  if (!Number.isSafeInteger(runs) || runs < 1)
    throw new UsageError(`--runs: "${String(v.runs)}" must be a whole number of at least 1`);
  const o: Options = {
    quick: v.quick === true,
    runs: v.quick === true ? 1 : runs,
    trees:
      v.trees === undefined
        ? ['small', 'mixed', 'large']
        : listOf(String(v.trees), 'trees', Object.keys(TREES) as TreeName[]),
    scenarios:
      v.scenarios === undefined
        ? [...ALL_SCENARIOS]
        : listOf(String(v.scenarios), 'scenarios', ALL_SCENARIOS),
    caches:
      v.cache === undefined ? [...PAGE_CACHES] : listOf(String(v.cache), 'cache', PAGE_CACHES),
    out: typeof v.out === 'string' ? v.out : join(ROOT, 'bench', 'results'),
  };
  return o;
}

/** --quick trees: the same shapes, a few MB in all. */
const QUICK: Record<TreeName, TreeSpec> = {
  small: scaled(TREES.small, 0.01),
  mixed: { ...TREES.mixed, files: 60, folders: 6, maxSize: 256 * 1024 },
  large: { ...TREES.large, minSize: 2 << 20, maxSize: 2 << 20 },
};

class Bench {
  readonly rows: Row[] = [];
  private seq = 0;
  readonly notes: string[] = [];

  constructor(
    readonly options: Options,
    readonly work: string,
  ) {}

  private made: string[] = [];

  /** A new, empty folder for each run: creating files right after deleting many is slow. */
  fresh(label: string): string {
    const dir = join(this.work, `${label}-${++this.seq}`);
    mkdirSync(dir, { recursive: true });
    this.made.push(dir);
    return dir;
  }

  /** Removes the stores, repositories and copies of finished scenarios (the disk is finite). */
  sweep(keep: string): void {
    for (const dir of this.made) if (dir !== keep) rmSync(dir, { recursive: true, force: true });
    this.made = this.made.filter((d) => d === keep);
  }

  add(row: Row): void {
    this.rows.push(row);
    const t = row.time;
    process.stderr.write(
      `  ${row.scenario.padEnd(17)} ${row.tree.padEnd(6)} ${row.tool.padEnd(22)} ${(t.median / 1000).toFixed(3)} s${row.ratio !== undefined ? `  ×${row.ratio.toFixed(2)} ${row.baseline}` : ''}\n`,
    );
  }
}

async function snapupJson(
  cmd: string,
  env: Record<string, string>,
): Promise<{ ms: number; json: Record<string, unknown> }> {
  const r = await run(`${CLI} ${cmd} --json`, env);
  return { ms: r.ms, json: JSON.parse(r.stdout) as Record<string, unknown> };
}

const mib = (bytes: number) => bytes / 2 ** 20;

/** `task`, timed from a cold page cache when `cache` says so (the drop itself untimed). */
function withPageCache<T>(cache: PageCache, task: () => Promise<T>): () => Promise<T> {
  return cache === 'cold' ? () => dropCaches().then(task) : task;
}

/** A scenario's label in the table: cold runs are told apart from warm ones. */
const labelled = (scenario: string, cache: PageCache) =>
  cache === 'cold' ? `${scenario} (cold)` : scenario;

async function scenarioHash(
  b: Bench,
  name: string,
  tree: WrittenTree,
  cache: PageCache,
): Promise<void> {
  const runs = b.options.runs;
  const scenario = labelled('hash', cache);
  const hashCache = b.fresh('cache');
  let rss = 0;
  const snapup = async () => {
    const r = await snapupJson(`manifest "${tree.root}" --no-cache`, { XDG_CACHE_HOME: hashCache });
    rss = Math.max(rss, Number(r.json.peakRssBytes));
    return r;
  };
  const baselines: { tool: string; cmd: string }[] = [
    {
      tool: 'xargs -P2 sha1sum',
      cmd: `find . -type f -print0 | xargs -0 -P2 -n 500 sha1sum > /dev/null`,
    },
  ];
  if (has('openssl'))
    baselines.push({
      tool: 'xargs -P2 openssl sha1',
      cmd: `find . -type f -print0 | xargs -0 -P2 -n 500 openssl sha1 > /dev/null`,
    });
  if (has('git'))
    baselines.push({
      tool: 'git hash-object',
      cmd: `find . -type f | git hash-object --stdin-paths > /dev/null`,
    });
  // Warm: the warm-up round reads the tree into the page cache for all of them.
  const [snap = [], ...baseTimes] = await interleave<{ ms: number }>(
    runs,
    [snapup, ...baselines.map((base) => () => run(base.cmd, {}, tree.root))].map(
      (task: () => Promise<{ ms: number }>) => withPageCache(cache, task),
    ),
    cache === 'warm',
  );
  const measured = baselines.map((base, k) => ({
    tool: base.tool,
    time: stats((baseTimes[k] ?? []).map((t) => t.ms)),
  }));
  const fastest = measured.reduce((a, c) => (c.time.median < a.time.median ? c : a));
  const time = stats(snap.map((r) => r.ms));
  for (const m of measured)
    b.add({
      scenario,
      tree: name,
      tool: m.tool,
      time: m.time,
      bytes: tree.bytes,
      files: tree.files.length,
    });
  b.add({
    scenario,
    tree: name,
    tool: 'snapup manifest',
    time,
    bytes: tree.bytes,
    files: tree.files.length,
    ratio: time.median / fastest.time.median,
    baseline: fastest.tool,
    peakRssMiB: mib(rss),
  });
}

interface PushOutcome {
  ms: number;
  sent: number;
  rss: number;
  /** The server's peak RSS during the push, for a push over HTTP. */
  serverRss?: number;
}

/** The largest of the defined values, in MiB. */
function maxMiB(values: readonly (number | undefined)[]): number | undefined {
  const known = values.filter((v): v is number => v !== undefined);
  return known.length > 0 ? mib(Math.max(...known)) : undefined;
}

async function snapupPush(
  dir: string,
  env: Record<string, string>,
  extra = '',
): Promise<PushOutcome> {
  const r = await snapupJson(`push "${dir}" --name bench ${extra}`, env);
  return { ms: r.ms, sent: Number(r.json.uploadedBytes), rss: Number(r.json.peakRssBytes) };
}

function pushRow(
  b: Bench,
  scenario: string,
  name: string,
  tree: WrittenTree,
  tool: string,
  out: PushOutcome[],
  newBytes: number,
  baseline?: { tool: string; time: Stats },
): Row {
  const time = stats(out.map((o) => o.ms));
  const sent = out.reduce((s, o) => s + o.sent, 0) / out.length;
  const row: Row = {
    scenario,
    tree: name,
    tool,
    time,
    bytes: tree.bytes,
    files: tree.files.length,
    peakRssMiB: mib(Math.max(...out.map((o) => o.rss))),
    serverRssMiB: maxMiB(out.map((o) => o.serverRss)),
    dedupEfficiency: newBytes === 0 ? (sent === 0 ? 1 : Number.POSITIVE_INFINITY) : sent / newBytes,
  };
  if (baseline) {
    row.ratio = time.median / baseline.time.median;
    row.baseline = baseline.tool;
  }
  b.add(row);
  return row;
}

/** First push into a fresh local store vs git add -A and restic backup into fresh repositories. */
async function scenarioFirstPush(
  b: Bench,
  name: string,
  tree: WrittenTree,
  cache: PageCache,
): Promise<void> {
  const runs = b.options.runs;
  const scenario = labelled('first push', cache);
  // Between preparing a fresh repository or store and the timed command.
  const settle = withPageCache(cache, async () => {});
  const tools: { tool: string; once: () => Promise<{ ms: number }> }[] = [];
  if (has('git')) {
    tools.push({
      tool: 'git add -A',
      once: async () => {
        const repo = b.fresh('git');
        await run(`git init -q "${repo}"`);
        await settle();
        return run(`git --git-dir="${repo}/.git" --work-tree=. add -A`, {}, tree.root);
      },
    });
  } else b.notes.push('git missing: skipped');
  if (has('restic')) {
    tools.push({
      tool: 'restic backup',
      once: async () => {
        const repo = b.fresh('restic');
        const env = { RESTIC_PASSWORD: 'bench', RESTIC_CACHE_DIR: b.fresh('restic-cache') };
        await run(`restic -r "${repo}" init -q`, env);
        await settle();
        return run(`restic -r "${repo}" backup -q .`, env, tree.root);
      },
    });
  } else b.notes.push('restic missing: run bench/setup.sh (skipped)');
  const snapupOnce = async () => {
    const env = { SNAPUP_STORE: b.fresh('store'), XDG_CACHE_HOME: b.fresh('cache') };
    await settle();
    return snapupPush(tree.root, env);
  };
  const timed = await interleave<{ ms: number }>(runs, [...tools.map((t) => t.once), snapupOnce]);
  const baselines = tools.map((t, k) => ({
    tool: t.tool,
    time: stats((timed[k] ?? []).map((r) => r.ms)),
  }));
  const out = (timed[tools.length] ?? []) as PushOutcome[];
  for (const base of baselines)
    b.add({
      scenario,
      tree: name,
      tool: base.tool,
      time: base.time,
      bytes: tree.bytes,
      files: tree.files.length,
    });
  pushRow(
    b,
    scenario,
    name,
    tree,
    'snapup push (local)',
    out,
    tree.uniqueBytes,
    baselines.find((x) => x.tool === 'restic backup') ?? baselines[0],
  );
}

/** No-op push and 1%-edit push into a store that has the tree, vs git status, git add, restic, rsync. */
async function scenarioIncremental(
  b: Bench,
  name: string,
  tree: WrittenTree,
  which: 'noop' | 'edit',
): Promise<void> {
  const runs = b.options.runs;
  const env = { SNAPUP_STORE: b.fresh('store'), XDG_CACHE_HOME: b.fresh('cache') };
  await snapupPush(tree.root, env);
  // The others, prepared the same way.
  const repo = b.fresh('git');
  const gitDir = `--git-dir="${repo}/.git" --work-tree=.`;
  if (has('git')) {
    await run(`git init -q "${repo}" && git ${gitDir} add -A`, {}, tree.root);
  }
  const resticRepo = b.fresh('restic');
  const resticEnv = { RESTIC_PASSWORD: 'bench', RESTIC_CACHE_DIR: b.fresh('restic-cache') };
  if (has('restic'))
    await run(
      `restic -r "${resticRepo}" init -q && restic -r "${resticRepo}" backup -q .`,
      resticEnv,
      tree.root,
    );
  const rsyncDest = b.fresh('rsync');
  if (has('rsync')) await run(`rsync -a ./ "${rsyncDest}/"`, {}, tree.root);

  let seed = 1000;
  const baselines: { tool: string; time: Stats }[] = [];
  let newBytes = 0;
  const step = async () => {
    if (which === 'edit') newBytes = editTree(tree, 0.01, seed++).bytes;
  };
  const measure = async (tool: string, cmd: string, cmdEnv: Record<string, string> = {}) => {
    const times = await repeat(runs, async () => {
      await step();
      return run(cmd, cmdEnv, tree.root);
    });
    baselines.push({ tool, time: stats(times.map((t) => t.ms)) });
  };
  if (has('git')) {
    await measure('git status', `git ${gitDir} status --porcelain > /dev/null`);
    await measure(
      which === 'edit' ? 'git add -A (after edit)' : 'git add -A (again)',
      `git ${gitDir} add -A`,
    );
  }
  if (has('restic'))
    await measure('restic backup (again)', `restic -r "${resticRepo}" backup -q .`, resticEnv);
  if (has('rsync')) await measure('rsync -a (local)', `rsync -a ./ "${rsyncDest}/"`);
  for (const base of baselines)
    b.add({
      scenario: which,
      tree: name,
      tool: base.tool,
      time: base.time,
      bytes: tree.bytes,
      files: tree.files.length,
    });
  const out = await repeat(runs, async () => {
    await step();
    return snapupPush(tree.root, env);
  });
  pushRow(
    b,
    which,
    name,
    tree,
    'snapup push (local)',
    out,
    newBytes,
    baselines.find((x) => x.tool === 'git status'),
  );
}

interface Server {
  url: string;
  port: number;
  stop: () => void;
  /** Its peak RSS since it started or since the last reset. */
  peakRss: () => number | undefined;
  resetPeakRss: () => void;
}

async function startServe(b: Bench): Promise<Server> {
  const data = b.fresh('serve');
  await run(`SNAPUP_PASSWORD=bench-password ${CLI} user add bench --data "${data}"`);
  const child = spawn(
    process.execPath,
    [join(ROOT, 'bin', 'snapup.js'), 'serve', '--data', data, '--port', '0', '--json'],
    {
      stdio: ['ignore', 'pipe', 'ignore'],
      detached: true,
    },
  );
  track(child);
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = /"url": "([^"]+)"/.exec(out);
      if (m?.[1]) resolve(m[1]);
    });
    child.on('exit', () => reject(new Error('snapup serve exited')));
  });
  const pid = child.pid as number;
  return {
    url,
    port: Number(new URL(url).port),
    stop: () => child.kill('SIGTERM'),
    peakRss: () => peakRssOf(pid),
    resetPeakRss: () => resetPeakRss(pid),
  };
}

const SERVER_ENV = { SNAPUP_USER: 'bench', SNAPUP_PASSWORD: 'bench-password' };

/** A first push of the tree to a new server (kept in `servers` to stop later). */
async function firstPushOverHttp(
  b: Bench,
  tree: WrittenTree,
  servers: { stop: () => void }[],
): Promise<PushOutcome> {
  const s = await startServe(b);
  servers.push(s);
  return overHttp(s, () =>
    snapupPush(tree.root, { ...SERVER_ENV, XDG_CACHE_HOME: b.fresh('cache') }, `--server ${s.url}`),
  );
}

/** `task` against server `s`, with the server's own peak RSS during it. */
async function overHttp<T extends { ms: number }>(
  s: Server,
  task: () => Promise<T>,
): Promise<T & { serverRss?: number }> {
  s.resetPeakRss();
  const out = await task();
  const serverRss = s.peakRss();
  return serverRss === undefined ? out : { ...out, serverRss };
}

/** Push (first, 1% edit, no-op) and pull over HTTP to snapup serve on 127.0.0.1. */
async function scenarioHttp(b: Bench, name: string, tree: WrittenTree): Promise<void> {
  const runs = b.options.runs;
  const local = await repeat(runs, () =>
    snapupPush(tree.root, { SNAPUP_STORE: b.fresh('store'), XDG_CACHE_HOME: b.fresh('cache') }),
  );
  const localTime = stats(local.map((o) => o.ms));
  const servers: { stop: () => void }[] = [];
  try {
    const first = await repeat(runs, () => firstPushOverHttp(b, tree, servers));
    pushRow(b, 'http push', name, tree, 'snapup push (HTTP)', first, tree.uniqueBytes, {
      tool: 'local push',
      time: localTime,
    });
    const s = await startServe(b);
    servers.push(s);
    const env = { ...SERVER_ENV, XDG_CACHE_HOME: b.fresh('cache') };
    // bench/default: the tree as it is now. The edit pushes below get generated tags (a
    // frozen snapshot is never changed), so this is the snapshot the pulls write back.
    const pulled = String(
      (await snapupJson(`push "${tree.root}" --name bench --server ${s.url}`, env)).json
        .manifestDigest,
    );
    const noop = await repeat(runs, () =>
      overHttp(s, () => snapupPush(tree.root, env, `--server ${s.url}`)),
    );
    pushRow(b, 'http noop', name, tree, 'snapup push (HTTP)', noop, 0);
    let seed = 5000;
    let newBytes = 0;
    const edit = await repeat(runs, async () => {
      newBytes = editTree(tree, 0.01, seed++).bytes;
      return overHttp(s, () => snapupPush(tree.root, env, `--server ${s.url}`));
    });
    pushRow(b, 'http edit', name, tree, 'snapup push (HTTP)', edit, newBytes);
    // Each pull is checked to have written that snapshot's paths, bytes and permissions:
    // a pull that wrote something else would time something else.
    const pulls = await repeat(runs, async () => {
      const out = join(b.fresh('pull'), 'out');
      const r = await overHttp(s, () => snapupJson(`pull bench "${out}" --server ${s.url}`, env));
      const manifest = await snapupJson(`manifest "${out}"`, { XDG_CACHE_HOME: b.fresh('cache') });
      if (manifest.json.digest !== pulled)
        throw new Error(
          `pull into ${out} differs from the snapshot (manifest ${String(manifest.json.digest)}, not ${pulled})`,
        );
      return { ms: r.ms, rss: Number(r.json.peakRssBytes), serverRss: r.serverRss };
    });
    b.add({
      scenario: 'http pull',
      tree: name,
      tool: 'snapup pull (HTTP)',
      time: stats(pulls.map((p) => p.ms)),
      bytes: tree.bytes,
      files: tree.files.length,
      peakRssMiB: mib(Math.max(...pulls.map((p) => p.rss))),
      serverRssMiB: maxMiB(pulls.map((p) => p.serverRss)),
    });
    if (has('rsync')) {
      const module = b.fresh('rsyncd');
      const conf = join(b.fresh('rsyncd-conf'), 'rsyncd.conf');
      const port = 20000 + (process.pid % 20000);
      // The daemon writes as the user running the bench (by default it would switch to nobody).
      const ids = `uid = ${process.getuid?.() ?? 0}\ngid = ${process.getgid?.() ?? 0}\n`;
      writeFileSync(
        conf,
        `pid file = ${conf}.pid\nuse chroot = false\n${ids}[bench]\n  path = ${module}\n  read only = false\n`,
      );
      await run(`rsync --daemon --config="${conf}" --port=${port} --address=127.0.0.1`);
      // It detaches itself: it is ended through its pid file, also by a stopped bench.
      const stopDaemon = () => {
        try {
          process.kill(Number(readFileSync(`${conf}.pid`, 'utf8')));
        } catch {
          // Not started, or gone.
        }
      };
      const forget = atStop(stopDaemon);
      try {
        const times = await repeat(runs, async (i) => {
          const dest = `rsync://127.0.0.1:${port}/bench/run${i}/`;
          return run(`rsync -a ./ "${dest}"`, {}, tree.root);
        });
        b.add({
          scenario: 'http push',
          tree: name,
          tool: 'rsync to rsyncd (first)',
          time: stats(times.map((t) => t.ms)),
          bytes: tree.bytes,
          files: tree.files.length,
        });
        // The same copy again, unchanged and after each 1% edit, like snapup's runs above.
        const again = `rsync -a ./ "rsync://127.0.0.1:${port}/bench/run0/"`;
        for (const [scenario, tool, step] of [
          ['http noop', 'rsync to rsyncd (again)', () => {}],
          ['http edit', 'rsync to rsyncd (after edit)', () => editTree(tree, 0.01, seed++)],
        ] as const) {
          const runsOf = await repeat(runs, async () => {
            step();
            return run(again, {}, tree.root);
          });
          b.add({
            scenario,
            tree: name,
            tool,
            time: stats(runsOf.map((t) => t.ms)),
            bytes: tree.bytes,
            files: tree.files.length,
          });
        }
      } catch (err) {
        // A baseline that fails is reported, not fatal: snapup's own rows still count.
        b.notes.push(`rsync daemon run failed: ${(err as Error).message.split('\n')[0]}`);
      } finally {
        forget();
        stopDaemon();
      }
    }
  } finally {
    for (const s of servers) s.stop();
  }
}

/** The small tree over a 20 ms round trip, against the same push at 0 ms. */
async function scenarioRtt(b: Bench, name: string, tree: WrittenTree): Promise<void> {
  const runs = b.options.runs;
  const servers: { stop: () => void }[] = [];
  try {
    const direct = await repeat(runs, () => firstPushOverHttp(b, tree, servers));
    const directRow = pushRow(
      b,
      'rtt 0ms',
      name,
      tree,
      'snapup push (HTTP)',
      direct,
      tree.uniqueBytes,
    );
    const delayed = await repeat(runs, async () => {
      const s = await startServe(b);
      servers.push(s);
      const proxy = await startDelayProxy(s.port, 20);
      try {
        return await overHttp(s, () =>
          snapupPush(
            tree.root,
            { ...SERVER_ENV, XDG_CACHE_HOME: b.fresh('cache') },
            `--server http://127.0.0.1:${proxy.port}`,
          ),
        );
      } finally {
        await proxy.close();
      }
    });
    pushRow(b, 'rtt 20ms', name, tree, 'snapup push (HTTP)', delayed, tree.uniqueBytes, {
      tool: 'same at 0 ms',
      time: directRow.time,
    });
  } finally {
    for (const s of servers) s.stop();
  }
}

function table(rows: readonly Row[]): string {
  const head = [
    'scenario',
    'tree',
    'tool',
    'median s',
    'min s',
    'max s',
    'MB/s',
    'files/s',
    'ratio',
    'vs',
    'RSS MiB',
    'server MiB',
    'sent/new',
  ];
  const body = rows.map((r) => [
    r.scenario,
    r.tree,
    r.tool,
    (r.time.median / 1000).toFixed(3),
    (r.time.min / 1000).toFixed(3),
    (r.time.max / 1000).toFixed(3),
    (r.bytes / 1e6 / (r.time.median / 1000)).toFixed(0),
    (r.files / (r.time.median / 1000)).toFixed(0),
    r.ratio === undefined ? '' : r.ratio.toFixed(2),
    r.baseline ?? '',
    r.peakRssMiB === undefined ? '' : r.peakRssMiB.toFixed(0),
    r.serverRssMiB === undefined ? '' : r.serverRssMiB.toFixed(0),
    r.dedupEfficiency === undefined ? '' : r.dedupEfficiency.toFixed(2),
  ]);
  const widths = head.map((h, i) =>
    Math.max(h.length, ...body.map((row) => (row[i] ?? '').length)),
  );
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const work = join(tmpdir(), `snapup-bench-${process.pid}`);
  mkdirSync(work, { recursive: true });
  // A stopped run removes its trees, stores and repositories too (gigabytes in the temp
  // dir); what it measured so far is already saved.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      process.stderr.write(`bench stopped (${signal}): removing ${work}\n`);
      stopEverything();
      // The killed tools are gone a moment later; only then is the folder theirs no more.
      setTimeout(() => {
        rmSync(work, { recursive: true, force: true });
        process.exit(130);
      }, 200);
    });
  }
  const bench = new Bench(options, work);
  if (options.caches.includes('cold') && !(await canDropCaches())) {
    options.caches = options.caches.filter((c) => c !== 'cold');
    bench.notes.push(
      'cold page cache: skipped, caches cannot be dropped here (needs root and a writable /proc/sys/vm/drop_caches)',
    );
  }
  const warm = (tree: WrittenTree) =>
    run(`cat $(find . -type f | head -100000) > /dev/null`, {}, tree.root);
  try {
    for (const name of options.trees) {
      const spec = options.quick ? QUICK[name] : TREES[name];
      process.stderr.write(`tree ${name}: writing ${spec.files} files…\n`);
      const tree = writeTree(bench.fresh(`tree-${name}`), spec);
      await warm(tree);
      const want = (s: Scenario) => options.scenarios.includes(s);
      const warmRuns = options.caches.includes('warm');
      const coldRuns = options.caches.includes('cold');
      const steps: [boolean, () => Promise<void>][] = [
        [want('hash') && warmRuns, () => scenarioHash(bench, name, tree, 'warm')],
        [want('push') && warmRuns, () => scenarioFirstPush(bench, name, tree, 'warm')],
        // Cold after warm, then the cache is warmed again for the scenarios after them.
        [want('hash') && coldRuns, () => scenarioHash(bench, name, tree, 'cold')],
        [want('push') && coldRuns, () => scenarioFirstPush(bench, name, tree, 'cold')],
        [coldRuns && (want('hash') || want('push')), () => warm(tree).then(() => {})],
        [want('noop'), () => scenarioIncremental(bench, name, tree, 'noop')],
        [want('edit'), () => scenarioIncremental(bench, name, tree, 'edit')],
        [want('http') && name !== 'large', () => scenarioHttp(bench, name, tree)],
        [want('rtt') && name === 'small', () => scenarioRtt(bench, name, tree)],
      ];
      for (const [enabled, step] of steps) {
        if (!enabled) continue;
        await step();
        bench.sweep(tree.root);
        save(options, bench);
      }
      rmSync(tree.root, { recursive: true, force: true });
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const file = save(options, bench);
  process.stdout.write(`${table(bench.rows)}\n`);
  for (const n of bench.notes) process.stdout.write(`note: ${n}\n`);
  process.stdout.write(`results: ${file}\n`);
}

const startedAt = new Date().toISOString();

/** Writes what was measured so far: a long run that fails late still leaves its rows. */
function save(options: Options, bench: Bench): string {
  const result = {
    date: startedAt,
    machine: {
      cpus: cpus().length,
      cpu: cpus()[0]?.model,
      memoryGiB: Math.round(totalmem() / 2 ** 30),
      node: process.version,
    },
    pageCaches: options.caches,
    quick: options.quick,
    runs: options.runs,
    notes: bench.notes,
    rows: bench.rows,
  };
  mkdirSync(options.out, { recursive: true });
  const file = join(options.out, `bench-${startedAt.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  return file;
}

main().catch((err: unknown) => {
  if (err instanceof UsageError) {
    process.stderr.write(`bench: ${err.message} (npm run bench -- --help for usage)\n`);
    process.exit(2);
  }
  process.stderr.write(`bench failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
