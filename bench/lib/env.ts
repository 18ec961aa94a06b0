/** Paths, settings and small helpers shared by the benchmark's phases. */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadEnvFile, loadSettings, type Settings } from '../../src/config/settings';

/** The repository root: bench/lib/env.ts compiles to dist-bench/bench/lib/env.js. */
export const ROOT = findRoot(__dirname);
/** The compiled worker, executor and workflow bundle (npm run bench builds them into dist-bench/src). */
export const DIST_SRC = path.join(ROOT, 'dist-bench', 'src');
export const RESULTS_DIR = path.join(ROOT, 'bench', 'results');

function findRoot(dir: string): string {
  for (let d = dir; ; d = path.dirname(d)) {
    if (existsSync(path.join(d, 'package.json')) && existsSync(path.join(d, 'bench'))) return d;
    if (path.dirname(d) === d) throw new Error(`no repository root above ${dir}`);
  }
}

/** The stack's settings (config/local.env unless CLP_INGESTOR_ENV_FILE says otherwise). */
export function benchSettings(): Settings {
  process.env.CLP_INGESTOR_ENV_FILE ??= path.join(ROOT, 'config', 'local.env');
  loadEnvFile();
  return loadSettings();
}

export { sleep } from '../../support/wait';

export function git(): { commit: string; dirty: boolean } {
  try {
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const status = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    return { commit, dirty: status.trim().length > 0 };
  } catch {
    return { commit: 'unknown', dirty: false };
  }
}

export function machine() {
  return {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memGiB: Math.round(os.totalmem() / 1024 ** 3),
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    loadavg: os.loadavg().map((l) => Math.round(l * 100) / 100),
  };
}

/** Other engineers' jest runs on this machine (they would distort the figures). */
/** A `flock <lock> ... jest` still waiting for the lock runs no jest yet (it starts its command once it holds it). */
function waitingOnLock(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'flock';
  } catch {
    return true; // gone already
  }
}

function jestPids(out: string): number[] {
  return out
    .split('\n')
    .map((l) => Number(l.trim()))
    .filter((pid) => pid > 0 && pid !== process.pid && !waitingOnLock(pid));
}

export function jestProcesses(): number[] {
  try {
    return jestPids(execFileSync('pgrep', ['-f', 'jest'], { encoding: 'utf8' }));
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}

/**
 * jestProcesses without blocking the event loop and without a child process
 * (polled while phases are timed, where a child's CPU and memory would count
 * as the bench's children's, i.e. the clp-s floor's): /proc read in-process.
 */
export async function jestProcessesAsync(): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc').catch(() => [] as string[])) {
    const pid = Number(entry);
    if (!(pid > 0) || pid === process.pid) continue;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes('jest') && !waitingOnLock(pid)) pids.push(pid);
  }
  return pids;
}

/** The stack's server PIDs (scripts/stack.sh writes them under .stack/run), for CPU accounting. */
export function stackPids(): Record<string, number> {
  const dir = path.join(process.env.CLP_INGESTOR_STACK_DIR ?? path.join(ROOT, '.stack'), 'run');
  const pids: Record<string, number> = {};
  for (const name of ['temporal', 'mariadb', 'minio', 'goaws']) {
    try {
      const pid = Number(readFileSync(path.join(dir, `${name}.pid`), 'utf8').trim());
      if (pid > 0) pids[name] = pid;
    } catch {
      // not started by stack.sh: no CPU figures for it
    }
  }
  return pids;
}

export function fmtDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}
