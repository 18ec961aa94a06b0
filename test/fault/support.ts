/**
 * The fault rig: the worker and the executor as real child processes (from
 * dist/) against a throwaway database, so tests can SIGKILL them, plus the
 * end-state assertions every crash test shares and a recovery-time report.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { S3Client } from '@aws-sdk/client-s3';
import { controlJob } from '../../src/job-control';
import type { Db } from '../../src/store/db';
import { CompressionJobStatus } from '../../src/store/schema';
import { storageWasAway } from '../../src/store/compression-records';
import { eventually } from '../support/wait';
import { connectJobHost, type JobHost } from '../support/worker';
import { countersAndRows, createTestDb, jsonEvents, putObjects, uniqueName } from '../support/stack';
import { datasetEvents } from '../support/executor';

const run = promisify(execFile);
export const ROOT = path.join(__dirname, '..', '..');
/** The stack's data directory, as scripts/stack.sh takes it (CLP_INGESTOR_STACK_DIR, default .stack). */
const STACK_DIR = process.env.CLP_INGESTOR_STACK_DIR ?? path.join(ROOT, '.stack');
const LOGS = path.join(STACK_DIR, 'logs', 'fault');
const REPORTS = path.join(STACK_DIR, 'fault-reports');

/** The PID of a server scripts/stack.sh started (its run/<name>.pid). */
export function serverPid(name: 'mariadb' | 'temporal' | 'minio'): number {
  return Number(readFileSync(path.join(STACK_DIR, 'run', `${name}.pid`), 'utf8'));
}

export const CYCLES = Number(process.env.FAULT_CYCLES ?? 15);

export async function ensureBuilt(): Promise<void> {
  if (!existsSync(path.join(ROOT, 'dist', 'worker.js'))) {
    await run('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT });
  }
}

/** A supervised child process: start, SIGKILL, restart; output appended to a log file. */
export class Proc {
  private child?: ChildProcess;
  exits = 0;
  constructor(
    readonly name: string,
    private readonly args: string[],
    private env: NodeJS.ProcessEnv,
  ) {
    this.env = { ...env };
  }

  start(): void {
    mkdirSync(LOGS, { recursive: true });
    const log = createWriteStream(path.join(LOGS, `${this.name}.log`), { flags: 'a' });
    // The Node that runs the tests runs the ingestor too (test/unit/runtime.test.ts checks that one).
    const child = spawn(process.execPath, this.args, {
      cwd: ROOT,
      env: this.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.pipe(log);
    child.stderr!.pipe(log);
    child.on('exit', () => (this.exits += 1));
    this.child = child;
  }

  /** The running process's PID (undefined before the first start). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  get alive(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child;
    if (!child || !this.alive) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    await exited;
  }

  /** SIGSTOP: the process keeps its connections and its tasks but does nothing (a frozen VM, a GC pause). */
  freeze(): void {
    if (this.alive) this.child!.kill('SIGSTOP');
  }

  /** SIGCONT: a frozen process wakes and finishes what it held, perhaps long stale (a zombie). */
  thaw(): void {
    if (this.alive) this.child!.kill('SIGCONT');
  }

  /** Starts the process again if it died (a supervisor's job, e.g. systemd's). */
  ensureRunning(): void {
    if (!this.alive) this.start();
  }

  /** Another process of the same program, with these changes to its environment (not started). */
  derive(name: string, changes: NodeJS.ProcessEnv): Proc {
    return new Proc(name, this.args, { ...this.env, ...changes });
  }

  /** Changes the environment of the next start (e.g. to end an injected fault). */
  setEnv(changes: NodeJS.ProcessEnv): void {
    Object.assign(this.env, changes);
  }
}

/** The worker and executor as child processes on the rig's task queue and throwaway database. */
export interface Rig extends JobHost {
  worker: Proc;
  executor: Proc;
  /** Where the executor publishes archives. */
  archivesDir: string;
  /** Another worker on the same task queue and database (stopped by close()). */
  addWorker(name: string): Proc;
  close(): Promise<void>;
}

/** The production worker and executor (dist/), wrapped by the harness that injects faults from the environment. */
const WORKER_HARNESS = 'test/support/fault-harness/worker.js';
const EXECUTOR_HARNESS = 'test/support/fault-harness/executor.js';

export async function startRig(extraWorkerEnv: NodeJS.ProcessEnv = {}): Promise<Rig> {
  await ensureBuilt();
  const db = await createTestDb();
  const taskQueue = uniqueName('fault-tq');
  const archives = mkdtempSync(path.join(os.tmpdir(), 'clp-fault-archives-'));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    CLP_DB_NAME: db.settings.db.database,
    CLP_INGESTOR_TASK_QUEUE: taskQueue,
    CLP_INGESTOR_LOG_LEVEL: 'WARN',
    CLP_ARCHIVE_DIR: archives,
    CLP_EXECUTOR_LEASE_MS: '3000',
    CLP_EXECUTOR_POLL_INTERVAL_MS: '200',
  };
  const workerEnv = {
    ...env,
    // Every executor death KILLs the job it held (as CLP does) and the worker resubmits its
    // files: these tests kill executors many times, so attempts must never run out (100 is
    // the setting's maximum). A test about running out passes its own.
    CLP_COMPRESSION_MAX_ATTEMPTS: '100',
    ...extraWorkerEnv,
  };
  const worker = new Proc(`${taskQueue}-worker`, [WORKER_HARNESS], workerEnv);
  const extraWorkers: Proc[] = [];
  const executor = new Proc(`${taskQueue}-executor`, [EXECUTOR_HARNESS, 'run'], env);
  worker.start();
  executor.start();
  const { host, disconnect } = await connectJobHost(db, taskQueue, 'fault test finished');
  return {
    ...host,
    worker,
    executor,
    archivesDir: archives,
    addWorker: (name) => {
      const w = new Proc(`${taskQueue}-${name}`, [WORKER_HARNESS], workerEnv);
      w.start();
      extraWorkers.push(w);
      return w;
    },
    close: async () => {
      for (const w of [worker, ...extraWorkers]) w.thaw();
      executor.thaw();
      await disconnect();
      await worker.kill('SIGTERM');
      for (const w of extraWorkers) await w.kill('SIGTERM');
      await executor.kill('SIGTERM');
      await db.drop();
    },
  };
}

/** Log events in each uploaded object: the end state finds each of them exactly once by search. */
export const EVENTS_PER_OBJECT = 8;

/** Uploads keys 16 at a time; each object is EVENTS_PER_OBJECT JSON log events naming its key. */
export function upload(s3: S3Client, bucket: string, keys: string[]): Promise<void> {
  return putObjects(s3, bucket, keys, { body: (key) => jsonEvents(key, EVENTS_PER_OBJECT), concurrency: 16 });
}

/**
 * Every uploaded object's events found in the dataset's CLP archives (by
 * clp-s's search) exactly once: none missing, none extra, none twice.
 */
export async function assertEventsOnce(
  rig: Rig,
  dataset: string,
  keys: string[],
  perKey = EVENTS_PER_OBJECT,
) {
  const events = await datasetEvents(rig.pool, rig.settings, dataset);
  const seen = new Map<string, number>();
  for (const e of events) {
    const id = `${String(e.key)}#${String(e.i)}`;
    seen.set(id, (seen.get(id) ?? 0) + 1);
  }
  const expected = keys.flatMap((k) => Array.from({ length: perKey }, (_, i) => `${k}#${i}`)).sort();
  expect([...seen.keys()].sort()).toEqual(expected); // none missing, none extra
  expect([...seen.entries()].filter(([, n]) => n !== 1)).toEqual([]); // none twice
  expect(events.length).toBe(expected.length);
}

export const randomBetween = (lo: number, hi: number) => lo + Math.random() * (hi - lo);

/** A number that grows whenever the ingestor does anything for the job. */
export async function progressMark(pool: Db, jobId: number): Promise<number> {
  const [[r]] = await pool.query<any[]>(
    `SELECT num_files_ingested + num_files_compressed + num_files_failed AS n,
       (SELECT COUNT(*) FROM log_ingestor_compression_submissions WHERE ingestion_job_id = ?) AS flushes
     FROM log_ingestor_ingestion_jobs WHERE id = ?`,
    [jobId, jobId],
  );
  return Number(r.n) + Number(r.flushes);
}

export interface RecoveryReport {
  name: string;
  cycles: number;
  recoveryMs: number[];
  maxMs: number;
  medianMs: number;
  files: number;
  lost: number;
  duplicated: number;
}

export function report(name: string, recoveryMs: number[], files: number): RecoveryReport {
  const sorted = [...recoveryMs].sort((a, b) => a - b);
  const r: RecoveryReport = {
    name,
    cycles: recoveryMs.length,
    recoveryMs,
    maxMs: sorted.at(-1) ?? 0,
    medianMs: sorted.length ? sorted[Math.floor(sorted.length / 2)] : 0,
    files,
    lost: 0,
    duplicated: 0,
  };
  mkdirSync(REPORTS, { recursive: true });
  writeFileSync(path.join(REPORTS, `${name}.json`), JSON.stringify(r, null, 2));
  console.log(
    `${name}: ${r.cycles} cycles, recovery max ${(r.maxMs / 1000).toFixed(1)} s, median ${(r.medianMs / 1000).toFixed(1)} s, ${files} files, none lost or duplicated`,
  );
  return r;
}

/**
 * The end state every crash test must reach: each expected path exactly once
 * in log_ingestor_ingested_files, every file compressed, counters equal to
 * row counts, and compression jobs' key lists disjoint with the expected set
 * as their union.
 */
export async function assertExactlyOnce(rig: Rig, jobId: number, bucket: string, expectedKeys: string[]) {
  const expected = [...expectedKeys].sort();
  const [rows] = await rig.pool.query<any[]>(
    'SELECT path, status FROM log_ingestor_ingested_files WHERE ingestion_job_id = ? ORDER BY path',
    [jobId],
  );
  const paths = rows.map((r) => r.path as string);
  expect(new Set(paths).size).toBe(paths.length); // no duplicates
  expect(paths).toEqual(expected.map((k) => `${bucket}/${k}`).sort()); // nothing lost, nothing extra
  expect(rows.filter((r) => r.status !== 'compressed')).toEqual([]);

  const { counters, rows: fromRows } = await countersAndRows(rig.pool, jobId);
  expect(counters).toEqual(fromRows);
  const job = await rig.store.requireJob(jobId);
  expect(job.numFilesIngested).toBe(rows.length);
  expect(job.numFilesCompressed).toBe(rows.length);
  expect(job.numFilesFailed).toBe(0);

  // Counted in log events, as a CLP user finds them: each uploaded event exactly once.
  await assertEventsOnce(rig, (await rig.store.requireJob(jobId)).dataset, expectedKeys);
  // Every compression job is one flush's attempt (none a duplicate flush), and
  // a flush moved to a new attempt only because CLP killed the one before, or
  // failed it because clp-s lost the object store (storageWasAway: the soak's MinIO kills).
  const [[orphans]] = await rig.pool.query<any[]>(
    `SELECT COUNT(*) AS n FROM compression_jobs c
     WHERE NOT EXISTS (SELECT 1 FROM log_ingestor_compression_attempts a WHERE a.compression_job_id = c.id)`,
  );
  expect(Number(orphans.n)).toBe(0);
  const [superseded] = await rig.pool.query<any[]>(
    `SELECT c.status, c.status_msg FROM log_ingestor_compression_attempts a
     JOIN log_ingestor_compression_attempts later ON later.ingestion_job_id = a.ingestion_job_id
       AND later.flush_seq = a.flush_seq AND later.attempt = a.attempt + 1
     JOIN compression_jobs c ON c.id = a.compression_job_id WHERE a.ingestion_job_id = ?`,
    [jobId],
  );
  const retried = (r: { status: number; status_msg: unknown }) =>
    r.status === CompressionJobStatus.KILLED ||
    (r.status === CompressionJobStatus.FAILED && storageWasAway(r.status_msg));
  expect(superseded.filter((r) => !retried(r))).toEqual([]);
}

/** The end of a crash test: every file compressed, the exactly-once end state asserted, the job stopped. */
export async function expectExactlyOnceThenStop(rig: Rig, jobId: number, bucket: string, keys: string[]) {
  await waitAllCompressed(rig, jobId, keys.length);
  await assertExactlyOnce(rig, jobId, bucket, keys);
  await stopJob(rig, jobId);
}

export async function stopJob(rig: Rig, jobId: number): Promise<void> {
  await controlJob(rig.store, rig.client, jobId, 'stop');
  await eventually(
    async () => (await rig.store.requireJob(jobId)).status === 'finished',
    120_000,
    'job finished',
  );
}

/** Waits for the job to have compressed exactly `n` files (all the work there is). */
export async function waitAllCompressed(
  rig: Rig,
  jobId: number,
  n: number,
  timeoutMs = 240_000,
): Promise<void> {
  await eventually(
    async () => {
      rig.worker.ensureRunning();
      rig.executor.ensureRunning();
      const job = await rig.store.requireJob(jobId);
      if (job.status === 'failed') throw new Error(`job failed: ${job.errorMsg}`);
      return job.numFilesCompressed === n;
    },
    timeoutMs,
    `${n} files compressed`,
  );
}
