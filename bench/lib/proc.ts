/**
 * Child processes (the worker and the executor run as `node dist-bench/src/...`,
 * exactly as deployed) and what /proc says about them: resident memory and
 * CPU time, sampled without touching the process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { sleep } from './env';

const CLK_TCK = 100; // getconf CLK_TCK on Linux

/** VmRSS and VmHWM (peak resident set) in MiB, or null once the process is gone. */
export function memoryMiB(pid: number): { rss: number; hwm: number } | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
  } catch {
    return null;
  }
}

/** User + system CPU seconds the process has used so far, or null once it is gone. */
export function cpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return null;
  }
}

/** CPU seconds used by each named process between start() and stop(). */
export class CpuMeter {
  private readonly start = new Map<string, number>();
  constructor(private readonly pids: () => Record<string, number>) {}

  begin(): this {
    for (const [name, pid] of Object.entries(this.pids())) {
      const s = cpuSeconds(pid);
      if (s !== null) this.start.set(name, s);
    }
    return this;
  }

  end(): Record<string, number> {
    const used: Record<string, number> = {};
    for (const [name, pid] of Object.entries(this.pids())) {
      const s = cpuSeconds(pid);
      const s0 = this.start.get(name);
      if (s !== null && s0 !== undefined) used[name] = Math.round((s - s0) * 100) / 100;
    }
    return used;
  }
}

export interface ChildOptions {
  name: string;
  script: string;
  args?: string[];
  env: Record<string, string>;
  logFile: string;
}

const live = new Set<Child>();

/** SIGKILLs every child still running (the bench itself is being interrupted). */
export function killChildren(): void {
  for (const child of live) child.proc.kill('SIGKILL');
}

/** A node child process whose output goes straight to a log file, with its memory sampled. */
export class Child {
  readonly proc: ChildProcess;
  readonly exited: Promise<number | null>;
  private sampler: NodeJS.Timeout;
  private exitCode: number | null | undefined;
  /** Highest VmRSS seen by sampling (MiB); VmHWM is the kernel's exact peak. */
  maxRssMiB = 0;
  lastHwmMiB = 0;

  constructor(readonly opts: ChildOptions) {
    const fd = openSync(opts.logFile, 'a');
    this.proc = spawn(process.execPath, [opts.script, ...(opts.args ?? [])], {
      env: { ...process.env, ...opts.env },
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

  /** Waits until the log file contains `marker` (e.g. "worker started"); fails if the child exits first. */
  async waitForLog(marker: string, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (readFileSync(this.opts.logFile, 'utf8').includes(marker)) return;
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
