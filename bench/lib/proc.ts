/**
 * Child processes (the worker and the executor run as `node dist-bench/src/...`,
 * exactly as deployed) and what /proc says about them: resident memory and
 * CPU time, sampled without touching the process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { sleep } from './env';

const CLK_TCK = 100; // getconf CLK_TCK on Linux

/** VmRSS and VmHWM (peak resident set) in MiB, or null once the process is gone (or a zombie: it has neither). */
export function memoryMiB(pid: number): { rss: number; hwm: number } | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    const m = { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
    return Number.isFinite(m.rss) && Number.isFinite(m.hwm) ? m : null;
  } catch {
    return null;
  }
}

/**
 * User + system CPU seconds the process has used so far or, with `children`,
 * what its children that have ended (and been waited for) used: how a
 * clp-s run's CPU is counted, since its parent reaps it. Null once it is gone.
 */
export function cpuSeconds(pid: number, children = false): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name: utime, stime, cutime and cstime are fields 14 to 17.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const [a, b] = children ? [13, 14] : [11, 12];
    return (Number(fields[a]) + Number(fields[b])) / CLK_TCK;
  } catch {
    return null;
  }
}

/** A process to meter: its own CPU, or (children) that of the children it has reaped. */
export type Metered = number | { pid: number; children: true };

/** CPU seconds used by each named process between start() and stop(). */
export class CpuMeter {
  private readonly start = new Map<string, number>();
  constructor(private readonly pids: () => Record<string, Metered>) {}

  private static read(m: Metered): number | null {
    return typeof m === 'number' ? cpuSeconds(m) : cpuSeconds(m.pid, true);
  }

  begin(): this {
    for (const [name, m] of Object.entries(this.pids())) {
      const s = CpuMeter.read(m);
      if (s !== null) this.start.set(name, s);
    }
    return this;
  }

  end(): Record<string, number> {
    const used: Record<string, number> = {};
    for (const [name, m] of Object.entries(this.pids())) {
      const s = CpuMeter.read(m);
      const s0 = this.start.get(name);
      if (s !== null && s0 !== undefined) used[name] = Math.round((s - s0) * 100) / 100;
    }
    return used;
  }
}

/** A process's command name (at most 15 characters), or null once it is gone. */
function comm(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return null;
  }
}

/** The PIDs of `pid`'s children spawned by its main thread (node spawns from its event loop's). */
function childPids(pid: number): number[] {
  try {
    const list = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
    return list ? list.split(' ').map(Number) : [];
  } catch {
    return []; // the process ended
  }
}

/**
 * The memory of a process's children (the clp-s runs of the executor or of
 * the clp-s floor), sampled every `everyMs`: the highest VmHWM any one child
 * reached by its last sample, and the highest sum of the children's VmRSS at
 * one sample (what runs at once costs together). A child that ends between
 * samples is seen up to its last sample only.
 */
export class ChildrenMemory {
  peakOneMiB = 0;
  peakTogetherMiB = 0;
  maxAtOnce = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly pid: number,
    /** Only children running this command (`/proc/<pid>/comm`), e.g. clp-s. */
    private readonly command?: string,
    everyMs = 20,
  ) {
    this.timer = setInterval(() => this.sample(), everyMs);
  }

  private sample(): void {
    const kids = childPids(this.pid);
    let together = 0;
    let live = 0;
    for (const c of kids) {
      if (this.command && comm(c) !== this.command) continue;
      const m = memoryMiB(c);
      if (!m) continue;
      live++;
      together += m.rss;
      this.peakOneMiB = Math.max(this.peakOneMiB, m.hwm);
    }
    this.peakTogetherMiB = Math.max(this.peakTogetherMiB, together);
    this.maxAtOnce = Math.max(this.maxAtOnce, live);
  }

  stop(): { peakOneMiB: number; peakTogetherMiB: number; maxAtOnce: number } {
    clearInterval(this.timer);
    const r = (x: number) => Math.round(x * 10) / 10;
    return {
      peakOneMiB: r(this.peakOneMiB),
      peakTogetherMiB: r(this.peakTogetherMiB),
      maxAtOnce: this.maxAtOnce,
    };
  }
}

export interface ChildOptions {
  name: string;
  /** A node script, or with `command` an argument of it (none if empty). */
  script: string;
  /** A program other than node (e.g. CLP's log-ingestor binary); default node itself. */
  command?: string;
  cwd?: string;
  args?: string[];
  /** Node's own flags, before the script (with node only). */
  nodeFlags?: readonly string[];
  env: Record<string, string>;
  logFile: string;
}

const live = new Set<Child>();

/** SIGKILLs every child still running (the bench itself is being interrupted). */
export function killChildren(): void {
  for (const child of live) child.proc.kill('SIGKILL');
}

/** A child process (node unless told otherwise) whose output goes straight to a log file, with its memory sampled. */
export class Child {
  readonly proc: ChildProcess;
  readonly exited: Promise<number | null>;
  private sampler: NodeJS.Timeout;
  private exitCode: number | null | undefined;
  /** Highest VmRSS seen by sampling (MiB); VmHWM is the kernel's exact peak. */
  maxRssMiB = 0;
  lastHwmMiB = 0;

  /** Where this child's output begins in its log file (a file phases of one run append to). */
  private readonly logStart: number;

  constructor(readonly opts: ChildOptions) {
    const fd = openSync(opts.logFile, 'a');
    this.logStart = fstatSync(fd).size;
    const args = [...(opts.nodeFlags ?? []), ...(opts.script ? [opts.script] : []), ...(opts.args ?? [])];
    this.proc = spawn(opts.command ?? process.execPath, args, {
      env: { ...process.env, ...opts.env },
      cwd: opts.cwd,
      stdio: ['ignore', fd, fd],
    });
    closeSync(fd);
    live.add(this);
    this.exited = new Promise((resolve) =>
      this.proc.on('exit', (code) => {
        this.exitCode = code;
        live.delete(this);
        resolve(code);
      }),
    );
    this.sampler = setInterval(() => this.sample(), 250);
  }

  get pid(): number {
    return this.proc.pid!;
  }

  sample(): void {
    const m = memoryMiB(this.pid);
    if (!m) return;
    this.maxRssMiB = Math.max(this.maxRssMiB, m.rss);
    this.lastHwmMiB = m.hwm;
  }

  /** Peak resident memory so far (the kernel's VmHWM), in MiB. */
  peakMiB(): number {
    this.sample();
    return Math.round(this.lastHwmMiB * 10) / 10;
  }

  rssMiB(): number {
    return Math.round((memoryMiB(this.pid)?.rss ?? 0) * 10) / 10;
  }

  /** This child's output so far (not what earlier children wrote to the same log file). */
  output(): string {
    return readFileSync(this.opts.logFile).subarray(this.logStart).toString('utf8');
  }

  /** Waits until this child has written `marker` (e.g. "worker started"); fails if it exits first. */
  async waitForLog(marker: string, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.output().includes(marker)) return;
      if (this.exitCode !== undefined)
        throw new Error(
          `${this.opts.name} exited (${this.exitCode}) before "${marker}"; see ${this.opts.logFile}`,
        );
      if (Date.now() > deadline) throw new Error(`${this.opts.name}: no "${marker}" in ${timeoutMs} ms`);
      await sleep(100);
    }
  }

  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
  async stop(graceMs = 15_000): Promise<void> {
    clearInterval(this.sampler);
    if (this.exitCode !== undefined) return;
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  /** Throws if the child has died (a crashed worker would otherwise look like a slow one). */
  assertAlive(): void {
    if (this.exitCode !== undefined)
      throw new Error(`${this.opts.name} exited (${this.exitCode}); see ${this.opts.logFile}`);
  }
}
