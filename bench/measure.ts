/** Runs commands and measures them: wall time in ms, repeated, with median/min/max. */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';

/** What a stopped bench must end before it removes its folder (see stopEverything). */
const running = new Set<ChildProcess>();
const stoppers = new Set<() => void>();

/**
 * Keeps `child`, started in a process group of its own (`detached`), to be killed with
 * its whole group if the bench is stopped: a `bash -c` would otherwise leave the tool it
 * started writing into the removed folder.
 */
export function track(child: ChildProcess): void {
  running.add(child);
  child.once('exit', () => running.delete(child));
}

/** Registers a way to stop something not started as a child (a daemon); returns its removal. */
export function atStop(stop: () => void): () => void {
  stoppers.add(stop);
  return () => stoppers.delete(stop);
}

/** Kills every tracked child's process group and runs the registered stoppers. */
export function stopEverything(): void {
  for (const child of running) {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  for (const stop of stoppers) stop();
}

export interface RunResult {
  ms: number;
  stdout: string;
}

/** Runs a shell command asynchronously (the event loop stays free, e.g. for the delay proxy). */
export function run(
  cmd: string,
  env: Record<string, string> = {},
  cwd?: string,
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn('bash', ['-c', cmd], {
      env: { ...process.env, ...env },
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    track(child);
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => {
      if (err.length < 4000) err += d;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = performance.now() - t0;
      if (code !== 0) reject(new Error(`command failed (${code}): ${cmd}\n${err}`));
      else resolve({ ms, stdout: Buffer.concat(out).toString('utf8') });
    });
  });
}

/**
 * Writes dirty pages out and empties the page cache, dentries and inodes, so that the next
 * command reads the tree from disk. Needs root on a machine whose /proc/sys is writable;
 * rejects otherwise.
 */
export function dropCaches(): Promise<RunResult> {
  return run('sync && echo 3 > /proc/sys/vm/drop_caches');
}

/** Whether dropCaches works here (tried once: it empties the cache as a side effect). */
export async function canDropCaches(): Promise<boolean> {
  return dropCaches().then(
    () => true,
    () => false,
  );
}

/** A running process's peak RSS in bytes (VmHWM, Linux); undefined where /proc has none. */
export function peakRssOf(pid: number): number | undefined {
  try {
    const kb = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb === undefined ? undefined : Number(kb) * 1024;
  } catch {
    return undefined;
  }
}

/** Starts a process's peak RSS again from its current RSS (Linux; a no-op elsewhere). */
export function resetPeakRss(pid: number): void {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
  } catch {
    // Not Linux, or not allowed: the peak then spans the process's whole life.
  }
}

export function has(tool: string): boolean {
  return spawnSync('bash', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).status === 0;
}

export interface Stats {
  median: number;
  min: number;
  max: number;
  runs: number;
}

export function stats(values: readonly number[]): Stats {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median =
    sorted.length % 2
      ? (sorted[mid] as number)
      : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
  return { median, min: sorted[0] ?? 0, max: sorted[sorted.length - 1] ?? 0, runs: sorted.length };
}

/** Runs `once` (which gets the run index) `runs` times, plus one untimed warm-up when asked. */
export async function repeat<T extends { ms: number }>(
  runs: number,
  once: (i: number) => Promise<T>,
  warmup = false,
): Promise<T[]> {
  if (warmup) await once(-1);
  const out: T[] = [];
  for (let i = 0; i < runs; i++) out.push(await once(i));
  return out;
}

/**
 * Runs each task `runs` times in rounds (a, b, c, a, b, c, …) rather than one after the
 * other: this VM's speed drifts by up to 2× within minutes, and a tool measured in a slow
 * minute against a baseline measured in a fast one gave ratios off by half. Per task, its
 * results in order; `warmup` runs every task once first, unrecorded.
 */
export async function interleave<T extends { ms: number }>(
  runs: number,
  tasks: readonly ((i: number) => Promise<T>)[],
  warmup = false,
): Promise<T[][]> {
  if (warmup) for (const task of tasks) await task(-1);
  const out = tasks.map(() => [] as T[]);
  for (let i = 0; i < runs; i++)
    for (const [k, task] of tasks.entries()) (out[k] as T[]).push(await task(i));
  return out;
}
