/**
 * One `clp-s c` run, as CLP's compression worker makes it for a task: the
 * flags from the job's config, the inputs from a list file, and the stats of
 * every archive it writes read from its stdout (--print-archive-stats).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';

/** What clp-s prints for each archive it wrote. */
export interface ArchiveStats {
  id: string;
  begin_timestamp: number;
  end_timestamp: number;
  size: number;
  uncompressed_size: number;
}

export interface ClpSCompressOptions {
  bin: string;
  /** Where clp-s writes its archives (a fresh directory: every entry is one archive). */
  outputDir: string;
  /** A file with one input per line (URLs or paths); or inputDir for a directory of converted records. */
  filesFrom?: string;
  inputDir?: string;
  targetEncodedSize: number;
  compressionLevel: number;
  singleFileArchive: boolean;
  timestampKey?: string | null;
  /** For S3 inputs: `--auth s3`, with these credentials in clp-s's environment only. */
  s3Credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  signal?: AbortSignal;
  /** Called once clp-s is running. */
  onStarted?: () => void;
}

/** clp-s exited non-zero (or printed what is not archive stats); stderr's last lines say why. */
export class ClpSError extends Error {
  override name = 'ClpSError';
}

/** clp-s could not be started at all: this worker's fault, not the job's. */
export class ClpSUnavailableError extends Error {
  override name = 'ClpSUnavailableError';
}

/** The command line CLP's worker uses (job_orchestration compression_task, clp-s flavour). */
export function clpSCompressArgs(o: ClpSCompressOptions): string[] {
  const args = [
    'c',
    o.outputDir,
    '--print-archive-stats',
    '--target-encoded-size',
    String(o.targetEncodedSize),
    '--compression-level',
    String(o.compressionLevel),
  ];
  if (o.s3Credentials) args.push('--auth', 's3');
  if (o.singleFileArchive) args.push('--single-file-archive');
  if (o.timestampKey) args.push('--timestamp-key', o.timestampKey);
  if (o.filesFrom) args.push('--files-from', o.filesFrom);
  if (o.inputDir) args.push(o.inputDir);
  return args;
}

/** The environment clp-s runs with: the executor's, minus AWS keys unless the job's are given. */
function childEnv(o: ClpSCompressOptions): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.AWS_ACCESS_KEY_ID;
  delete env.AWS_SECRET_ACCESS_KEY;
  delete env.AWS_SESSION_TOKEN;
  if (o.s3Credentials) {
    env.AWS_ACCESS_KEY_ID = o.s3Credentials.accessKeyId;
    env.AWS_SECRET_ACCESS_KEY = o.s3Credentials.secretAccessKey;
    if (o.s3Credentials.sessionToken) env.AWS_SESSION_TOKEN = o.s3Credentials.sessionToken;
  }
  return env;
}

function parseStats(line: string): ArchiveStats {
  const s = JSON.parse(line) as Partial<ArchiveStats>;
  for (const k of ['begin_timestamp', 'end_timestamp', 'size', 'uncompressed_size'] as const) {
    if (typeof s[k] !== 'number')
      throw new Error(`archive stats without a numeric ${k}: ${line.slice(0, 200)}`);
  }
  if (typeof s.id !== 'string' || !/^[A-Za-z0-9-]{1,64}$/.test(s.id))
    throw new Error(`archive stats without a valid id: ${line.slice(0, 200)}`);
  return s as ArchiveStats;
}

const STDERR_TAIL = 4096;

/**
 * util-linux's setpriv, which sets the parent-death signal and then execs:
 * clp-s is SIGKILLed when the executor dies, even by SIGKILL, instead of
 * running on as an orphan with the job's credentials into a dead claim's
 * staging directory. Without setpriv (not Linux), clp-s runs as it is.
 */
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));

function diesWithUs(bin: string, args: string[]): [string, string[]] {
  return SETPRIV ? [SETPRIV, ['--pdeathsig', 'KILL', '--', bin, ...args]] : [bin, args];
}

/** Runs clp-s to the end; resolves with every archive's stats, or rejects with ClpSError. */
export function runClpSCompress(o: ClpSCompressOptions): Promise<ArchiveStats[]> {
  return new Promise((resolve, reject) => {
    // Checked here too: through setpriv, a missing binary would look like a clp-s failure (the job's fault).
    if (!existsSync(o.bin))
      return reject(new ClpSUnavailableError(`clp-s could not be run: ${o.bin} does not exist`));
    const [command, args] = diesWithUs(o.bin, clpSCompressArgs(o));
    const child = spawn(command, args, {
      env: childEnv(o),
      stdio: ['ignore', 'pipe', 'pipe'],
      signal: o.signal,
      killSignal: 'SIGKILL',
    });
    child.once('spawn', () => o.onStarted?.());
    const archives: ArchiveStats[] = [];
    let bad: Error | undefined;
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      stderr = (stderr + d).slice(-STDERR_TAIL);
    });
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      if (!line.trim()) return;
      try {
        archives.push(parseStats(line));
      } catch (err) {
        bad ??= err as Error;
      }
    });
    child.on('error', (err) => {
      if (err.name === 'AbortError') reject(o.signal?.reason ?? err);
      else reject(new ClpSUnavailableError(`clp-s could not be run (${o.bin}): ${err.message}`));
    });
    child.on('close', (code, signal) => {
      if (o.signal?.aborted) return reject(o.signal.reason);
      const why = lastLines(stderr);
      if (code !== 0)
        return reject(new ClpSError(`clp-s failed (${signal ?? `exit ${code}`})${why ? `: ${why}` : ''}`));
      if (bad) return reject(new ClpSError(`clp-s printed unreadable archive stats: ${bad.message}`));
      resolve(archives);
    });
  });
}

/** The last few lines of clp-s's stderr, one line, for a status_msg. */
function lastLines(stderr: string): string {
  return stderr
    .trim()
    .split('\n')
    .slice(-3)
    .map((l) => l.trim())
    .join(' | ');
}
