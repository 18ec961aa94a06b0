/**
 * What every phase needs: clients for the stack, a throwaway database, and the
 * worker / executor as child processes on a task queue of their own.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { Client } from '@temporalio/client';
import { createJob } from '../../src/job-control';
import type { JobKind } from '../../src/config/job-config';
import type { Settings } from '../../src/config/settings';
import type { Db } from '../../src/store/db';
import type { IngestionStore } from '../../src/store/ingestion-store';
import { TABLES } from '../../src/store/schema';
import { workflowIdFor } from '../../src/workflows/messages';
import { WORKER_NODE_FLAGS } from '../../src/runtime';
import { createTestDb, terminateWorkflow, uniqueName } from '../../support/stack';
import { DIST_SRC, sleep, stackPids } from './env';
import { BENCH_DATASET } from './objects';
import { Child, CpuMeter } from './proc';

export interface BenchContext {
  settings: Settings;
  s3: S3Client;
  sqs: SQSClient;
  client: Client;
  bucket: string;
  logDir: string;
  log: (msg: string) => void;
}

export interface PhaseDb {
  settings: Settings;
  pool: Db;
  drop: () => Promise<void>;
}

/** Clean-ups of the phases in progress, for an interrupted run. */
const pending = new Set<() => Promise<void>>();

/** Terminates the workflows and drops the databases of the phases in progress. */
export async function cleanUpInterrupted(): Promise<void> {
  await Promise.allSettled([...pending].map((f) => f()));
}

/**
 * Runs fn against a fresh migrated database; afterwards (whatever happens, and
 * on SIGINT/SIGTERM) its jobs' workflows are terminated and it is dropped.
 */
export async function withDb<T>(ctx: BenchContext, fn: (db: PhaseDb) => Promise<T>): Promise<T> {
  const db = await createTestDb();
  const cleanUp = async () => {
    const [jobs] = await db.pool.query<any[]>(`SELECT id FROM ${TABLES.ingestionJobs}`);
    for (const job of jobs) await terminateJob(ctx.client, Number(job.id));
    await db.drop();
  };
  pending.add(cleanUp);
  try {
    return await fn(db);
  } finally {
    pending.delete(cleanUp);
    await cleanUp();
  }
}

/** Resolves once the child logs `line`; a child that never does is stopped. */
async function started(child: Child, line: string): Promise<void> {
  try {
    await child.waitForLog(line);
  } catch (err) {
    await child.stop();
    throw err;
  }
}

/** `node dist-bench/src/worker.js` on `taskQueue` (default: a new one) against `db`; resolves once it polls. */
export async function startWorker(
  ctx: BenchContext,
  db: PhaseDb,
  name: string,
  taskQueue = uniqueName(`bench-${name}`),
) {
  const worker = new Child({
    name: `worker (${name})`,
    script: path.join(DIST_SRC, 'worker.js'),
    // As scripts/stack.sh and the systemd unit start it: the heap bound (src/runtime.ts).
    nodeFlags: WORKER_NODE_FLAGS,
    env: {
      CLP_DB_NAME: db.settings.db.database,
      CLP_INGESTOR_TASK_QUEUE: taskQueue,
      // Each phase's task queue is new: an unversioned worker, as the test suite's (a versioned one
      // polls for its version only, and nothing made it current).
      CLP_INGESTOR_WORKER_VERSIONING: 'false',
      CLP_INGESTOR_ENV_FILE: process.env.CLP_INGESTOR_ENV_FILE!,
    },
    logFile: path.join(ctx.logDir, `${name}-worker.log`),
  });
  await started(worker, '"worker started"');
  return { worker, taskQueue };
}

/** `node dist-bench/src/executor/main.js run` against `db`, archiving into a temporary directory. */
export async function startExecutor(ctx: BenchContext, db: PhaseDb, name: string, concurrency: number) {
  const archiveDir = mkdtempSync(path.join(os.tmpdir(), 'clp-bench-archives-'));
  const executor = new Child({
    name: `executor (${name})`,
    script: path.join(DIST_SRC, 'executor', 'main.js'),
    args: ['run', '--concurrency', String(concurrency), '--poll-interval-ms', '200'],
    env: {
      CLP_DB_NAME: db.settings.db.database,
      CLP_ARCHIVE_DIR: archiveDir,
      CLP_INGESTOR_ENV_FILE: process.env.CLP_INGESTOR_ENV_FILE!,
    },
    logFile: path.join(ctx.logDir, `${name}-executor.log`),
  });
  await started(executor, '"executor started"');
  return {
    executor,
    stop: async () => {
      await executor.stop();
      rmSync(archiveDir, { recursive: true, force: true });
    },
  };
}

/** Creates a job in dataset BENCH_DATASET (`bench`) whose workflow runs on the phase worker's task queue. */
export function createBenchJob(
  ctx: BenchContext,
  store: IngestionStore,
  taskQueue: string,
  kind: JobKind,
  config: Record<string, unknown>,
): Promise<number> {
  return createJob(store, ctx.client, kind, { dataset: BENCH_DATASET, ...config }, { taskQueue });
}

/** Closes the job's workflow (the jobs here never finish by themselves). */
export async function terminateJob(client: Client, jobId: number): Promise<void> {
  await terminateWorkflow(client, workflowIdFor(jobId), 'benchmark phase over');
}

/**
 * CPU of the stack's servers, the bench, and the worker and executor if
 * given; with an executor, `clp-s` is the CPU of the clp-s runs it reaped
 * (its children); with `clpSOfBench`, that of the bench's own (the clp-s floor).
 */
export function cpuMeter(worker?: Child, executor?: Child, opts: { clpSOfBench?: boolean } = {}): CpuMeter {
  return new CpuMeter(() => ({
    ...stackPids(),
    ...(worker ? { worker: worker.pid } : {}),
    ...(executor ? { executor: executor.pid, 'clp-s': { pid: executor.pid, children: true as const } } : {}),
    ...(opts.clpSOfBench ? { 'clp-s': { pid: process.pid, children: true as const } } : {}),
    bench: process.pid,
  }));
}

export interface JobCounters {
  ingested: number;
  compressed: number;
  failed: number;
  submitted: number;
  status: string;
}

/** The job's counters: cheap primary-key reads, so polling them does not load the DB. */
export async function jobCounters(pool: Db, jobId: number): Promise<JobCounters> {
  const [[job]] = await pool.query<any[]>(
    `SELECT status, num_files_ingested, num_files_compressed, num_files_failed FROM ${TABLES.ingestionJobs} WHERE id = ?`,
    [jobId],
  );
  const [[sub]] = await pool.query<any[]>(
    `SELECT COALESCE(SUM(num_files), 0) AS n FROM ${TABLES.submissions} WHERE ingestion_job_id = ?`,
    [jobId],
  );
  return {
    status: job.status,
    ingested: Number(job.num_files_ingested),
    compressed: Number(job.num_files_compressed),
    failed: Number(job.num_files_failed),
    submitted: Number(sub.n),
  };
}

/**
 * Polls the job's counters every `everyMs` until each named goal is met,
 * recording when (ms after `t0`) each one first was. Fails if the job fails,
 * a child dies or `timeoutMs` passes; logs progress every 15 s.
 */
export async function waitForGoals<G extends string>(opts: {
  pool: Db;
  jobId: number;
  t0: number;
  goals: Record<G, (c: JobCounters) => boolean>;
  children: Child[];
  timeoutMs: number;
  log: (msg: string) => void;
  everyMs?: number;
}): Promise<Record<G, number>> {
  const reached: Partial<Record<G, number>> = {};
  const names = Object.keys(opts.goals) as G[];
  let lastLog = performance.now();
  for (;;) {
    const c = await jobCounters(opts.pool, opts.jobId);
    const now = performance.now();
    for (const g of names) if (reached[g] === undefined && opts.goals[g](c)) reached[g] = now - opts.t0;
    if (names.every((g) => reached[g] !== undefined)) return reached as Record<G, number>;
    if (c.status === 'failed') throw new Error(`job ${opts.jobId} failed`);
    for (const child of opts.children) child.assertAlive();
    if (now - opts.t0 > opts.timeoutMs) throw new Error(`job ${opts.jobId}: timed out: ${JSON.stringify(c)}`);
    if (now - lastLog > 15_000) {
      lastLog = now;
      opts.log(
        `  ${((now - opts.t0) / 1000).toFixed(0)} s: ingested ${c.ingested}, submitted ${c.submitted}, compressed ${c.compressed}`,
      );
    }
    await sleep(opts.everyMs ?? 100);
  }
}
