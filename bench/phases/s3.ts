/**
 * The S3 figures: the floor (list + insert, no Temporal), the scanner job until
 * every file is submitted, and the same with the executor on until every file
 * is compressed.
 */
import { createHash } from 'node:crypto';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { createS3ListerFor } from '../../src/aws';
import type { ListPage } from '../../src/s3-list';
import type { ResultSetHeader } from 'mysql2/promise';
import { parseJobConfig } from '../../src/config/job-config';
import { IngestionStore } from '../../src/store/ingestion-store';
import { TABLES } from '../../src/store/schema';
import { sleep } from '../lib/env';
import { seedRows, waitForCleanBufferPool } from '../seed-rows';

const int = (x: number) => Math.round(x).toLocaleString('en-US');
import { jobHistory, per1k, type HistoryStats } from '../lib/history';
import { BENCH_TIMESTAMP_KEY } from '../lib/objects';
import { ChildrenMemory } from '../lib/proc';
import { e2eCompression, type E2eCompression } from './clp-s';
import {
  cpuMeter,
  createBenchJob,
  startExecutor,
  startWorker,
  terminateJob,
  waitForGoals,
  withDb,
  type BenchContext,
  type JobCounters,
} from '../lib/harness';

export function sha256(key: string): Buffer {
  return createHash('sha256').update(key, 'utf8').digest();
}

export interface FloorResult {
  files: number;
  ms: number;
  rate: number;
  pages: number;
  listMs: number;
  insertMs: number;
  cpu: Record<string, number>;
}

/**
 * The floor: list the prefix page by page (1,000 keys, StartAfter as the
 * scanner does) and insert each page's rows into a migrated
 * log_ingestor_ingested_files (same indexes, same dedup hash) in one
 * transaction per page. Nothing else: no cursor, no counters, no Temporal.
 */
export async function s3Floor(
  ctx: BenchContext,
  prefix: string,
  n: number,
  /** How pages follow each other: StartAfter the last key (as the scanner lists) or the continuation token. */
  paging: 'start-after' | 'token' = 'start-after',
): Promise<FloorResult> {
  return withDb(ctx, async (db) => {
    const store = new IngestionStore(db.pool);
    const jobId = await store.createJob(
      parseJobConfig('s3_scanner', { bucket_name: ctx.bucket, key_prefix: prefix, dataset: 'bench' }),
    );
    const conn = await db.pool.getConnection();
    const cpu = cpuMeter().begin();
    let listMs = 0;
    let insertMs = 0;
    let pages = 0;
    let files = 0;
    let startAfter: string | undefined;
    let token: string | undefined;
    const t0 = performance.now();
    try {
      for (;;) {
        const a = performance.now();
        const page = await ctx.s3.send(
          new ListObjectsV2Command({
            Bucket: ctx.bucket,
            Prefix: prefix,
            MaxKeys: 1000,
            ...(paging === 'token' ? { ContinuationToken: token } : { StartAfter: startAfter }),
          }),
        );
        const b = performance.now();
        listMs += b - a;
        const objects = page.Contents ?? [];
        if (objects.length > 0) {
          const ts = Date.now();
          const rows = objects.map((o) => {
            const path = `${ctx.bucket}/${o.Key}`;
            return [path, o.Size ?? 0, 'buffered', jobId, sha256(path), ts, ts];
          });
          await conn.beginTransaction();
          const [res] = await conn.query<ResultSetHeader>(
            `INSERT IGNORE INTO ${TABLES.ingestedFiles} (path, size, status, ingestion_job_id, dedup_hash, creation_ts, last_update_ts) VALUES ?`,
            [rows],
          );
          await conn.commit();
          files += res.affectedRows;
          pages += 1;
          startAfter = objects.at(-1)!.Key;
        }
        insertMs += performance.now() - b;
        if (!page.IsTruncated) break;
        token = page.NextContinuationToken;
      }
    } finally {
      conn.release();
    }
    const ms = performance.now() - t0;
    if (files !== n) throw new Error(`floor: expected ${n} rows, inserted ${files}`);
    return { files, ms, rate: (files * 1000) / ms, pages, listMs, insertMs, cpu: cpu.end() };
  });
}

/** A page's rows as the scanner inserts them (same columns, same dedup hash). */
function pageRows(bucket: string, jobId: number, keys: { Key?: string; Size?: number }[], ts: number) {
  return keys.map((o) => {
    const path = `${bucket}/${o.Key}`;
    return [path, bucket, o.Key, o.Size ?? 0, 'buffered', jobId, sha256(path), ts, ts];
  });
}
const INSERT_SQL = `INSERT IGNORE INTO ${TABLES.ingestedFiles}
  (path, bucket, object_key, size, status, ingestion_job_id, dedup_hash, creation_ts, last_update_ts) VALUES ?`;

type Listed = { Key?: string; Size?: number }[];

/**
 * Lists the prefix by continuation token with the scanner's own lean lister
 * (src/s3-list.ts), the next page requested while `onPage` handles this one.
 */
export async function listByToken(
  ctx: BenchContext,
  prefix: string,
  onPage: (objects: Listed) => Promise<void>,
) {
  const lister = createS3ListerFor(ctx.s3, ctx.settings.aws);
  const list = (continuationToken?: string) =>
    lister({ bucket: ctx.bucket, prefix, maxKeys: 1000, continuationToken });
  let next: ReturnType<typeof list> | undefined = list();
  while (next) {
    const page: ListPage = await next;
    next = page.isTruncated ? list(page.nextContinuationToken) : undefined;
    await onPage(page.objects.map((o) => ({ Key: o.key, Size: o.size })));
  }
}

/**
 * The honest floors, each with the scanner's own columns: list only
 * (continuation tokens, no DB); insert only (the same rows, listed
 * beforehand, one multi-row INSERT and commit per page); and both pipelined,
 * the next page listed while the current one is inserted: the most a scanner
 * could do on this stack.
 */
export async function s3HonestFloors(
  ctx: BenchContext,
  prefix: string,
  n: number,
): Promise<{ listOnly: FloorResult; insertOnly: FloorResult; pipelined: FloorResult }> {
  const pages: Listed[] = [];
  const cpu = cpuMeter().begin();
  const t0 = performance.now();
  await listByToken(ctx, prefix, async (p) => void pages.push(p));
  const ms = performance.now() - t0;
  const listOnly = {
    files: n,
    ms,
    rate: (n * 1000) / ms,
    pages: pages.length,
    listMs: ms,
    insertMs: 0,
    cpu: cpu.end(),
  };

  const inserting = (source: (insert: (objects: Listed) => Promise<void>) => Promise<void>) =>
    withDb(ctx, async (db): Promise<FloorResult> => {
      const store = new IngestionStore(db.pool);
      const jobId = await store.createJob(
        parseJobConfig('s3_scanner', { bucket_name: ctx.bucket, key_prefix: prefix, dataset: 'bench' }),
      );
      const conn = await db.pool.getConnection();
      let files = 0;
      let insertMs = 0;
      try {
        const c = cpuMeter().begin();
        const start = performance.now();
        await source(async (objects) => {
          if (objects.length === 0) return;
          const a = performance.now();
          await conn.beginTransaction();
          const [res] = await conn.query<ResultSetHeader>(INSERT_SQL, [
            pageRows(ctx.bucket, jobId, objects, Date.now()),
          ]);
          await conn.commit();
          files += res.affectedRows;
          insertMs += performance.now() - a;
        });
        const took = performance.now() - start;
        if (files !== n) throw new Error(`floor: expected ${n} rows, inserted ${files}`);
        return {
          files,
          ms: took,
          rate: (files * 1000) / took,
          pages: pages.length,
          listMs: 0,
          insertMs,
          cpu: c.end(),
        };
      } finally {
        conn.release();
      }
    });
  const insertOnly = await inserting(async (insert) => {
    for (const p of pages) await insert(p);
  });
  const pipelined = await inserting((insert) => listByToken(ctx, prefix, insert));
  return { listOnly, insertOnly, pipelined };
}

export interface JobResult {
  files: number;
  /** Creation until every file has a row. */
  rowsMs: number;
  /** Creation until every file is submitted. */
  submittedMs: number;
  /** Creation until every file is submitted (scanner) or compressed (end to end). */
  ms: number;
  rate: number;
  rowsRate: number;
  compressionJobs: number;
  history: HistoryStats;
  /** Mean time per page (1,000 rows, one transaction) over the first and the last 10 % of pages. */
  pageMs?: { first10: number; last10: number; pages: number };
  per1k: { events: number; workflowTasks: number; activities: number; timers: number };
  workerPeakMiB: number;
  workerRssEndMiB: number;
  executorPeakMiB?: number;
  /** With the executor: when (after creation) the last compression job ended, and their summed run time. */
  lastCompressionEndMs?: number;
  compressionBusyMs?: number;
  /** With the executor: what the compression jobs and CLP's archive table record, and clp-s's memory. */
  compression?: E2eCompression & { clpSMemory: ReturnType<ChildrenMemory['stop']> };
  cpu: Record<string, number>;
  jestRunning?: boolean;
  /** With rescanPasses: the order-free re-list passes timed once every file was recorded. */
  rescan?: RescanResult;
}

export interface RescanPass {
  /** From the pass's start (its recorded begin time) until its completion was seen (polled every 50 ms). */
  ms: number;
  keysPerSec: number;
  cpu: Record<string, number>;
}

export interface RescanResult {
  intervalSec: number;
  passes: RescanPass[];
  /** Files the passes recorded (0: every key was recorded already, as it should be). */
  recordedDuring: number;
}

export function historyPer1k(h: HistoryStats, files: number) {
  return {
    events: per1k(h.events, files),
    workflowTasks: per1k(h.workflowTasks, files),
    activities: per1k(h.activities, files),
    timers: per1k(h.timers, files),
  };
}

/**
 * The real scanner job over `prefix` (n objects) in a fresh DB with its own
 * worker process: from creation until every file is `submitted` or, with an
 * executor, `compressed`. Flushes are driven by `flushTimeoutSec` (the size
 * threshold is out of reach) and capped by CLP_MAX_FILES_PER_COMPRESSION_JOB.
 */
export async function s3Job(
  ctx: BenchContext,
  opts: {
    name: string;
    prefix: string;
    n: number;
    flushTimeoutSec: number;
    executorConcurrency?: number;
    /** Order-free scanning on (rescan_interval_sec 1, scanning_interval_sec 1): time this many passes at the end. */
    rescanPasses?: number;
    /** The job's listing_parallelism (absent: one lister). */
    listingParallelism?: number;
    /** Worker processes on the job's task queue (default 1); the figures' worker is the first. */
    workers?: number;
    /** Earlier rows of other (finished) jobs in the file table before the job starts (bench/seed-rows.ts). */
    tableRows?: number;
  },
): Promise<JobResult> {
  return withDb(ctx, async (db) => {
    if (opts.tableRows) {
      const seeded = await seedRows(db.pool, opts.tableRows, { log: ctx.log });
      const dirty = await waitForCleanBufferPool(db.pool);
      ctx.log(
        `  seeded ${int(seeded.rows)} earlier rows in ${(seeded.ms / 1000).toFixed(1)} s (${dirty} dirty pages left)`,
      );
    }
    const { worker, taskQueue } = await startWorker(ctx, db, opts.name);
    const more = [];
    for (let i = 1; i < (opts.workers ?? 1); i++)
      more.push((await startWorker(ctx, db, `${opts.name}-${i + 1}`, taskQueue)).worker);
    const exec =
      opts.executorConcurrency !== undefined
        ? await startExecutor(ctx, db, opts.name, opts.executorConcurrency)
        : undefined;
    let jobId: number | undefined;
    let clpSMemory: ChildrenMemory | undefined;
    try {
      const store = new IngestionStore(db.pool);
      const cpu = cpuMeter(worker, exec?.executor).begin();
      clpSMemory = exec ? new ChildrenMemory(exec.executor.pid, 'clp-s') : undefined;
      const t0 = performance.now();
      const t0Wall = Date.now();
      jobId = await createBenchJob(ctx, store, taskQueue, 's3_scanner', {
        bucket_name: ctx.bucket,
        key_prefix: opts.prefix,
        scanning_interval_sec: opts.rescanPasses ? RESCAN_INTERVAL_SEC : 30,
        timestamp_key: BENCH_TIMESTAMP_KEY,
        ...(opts.rescanPasses ? { rescan_interval_sec: RESCAN_INTERVAL_SEC } : {}),
        ...(opts.listingParallelism ? { listing_parallelism: opts.listingParallelism } : {}),
        buffer_config: { flush_threshold_bytes: 2 ** 40, timeout_sec: opts.flushTimeoutSec },
      });
      const n = opts.n;
      const done = await waitForGoals({
        pool: db.pool,
        jobId,
        t0,
        goals: {
          rows: (c: JobCounters) => c.ingested >= n,
          submitted: (c: JobCounters) => c.submitted >= n,
          // Without an executor nothing is ever compressed: that goal is met at once.
          compressed: (c: JobCounters) => !exec || c.compressed + c.failed >= n,
        },
        children: exec ? [worker, exec.executor] : [worker],
        timeoutMs: 120_000 + n * (exec ? 50 : 20),
        log: ctx.log,
      });
      const cpuUsed = cpu.end();
      const clpSMemoryUsed = clpSMemory?.stop();
      const rescan = opts.rescanPasses
        ? await timeRescanPasses(ctx, store, jobId, opts.n, opts.rescanPasses, worker)
        : undefined;
      const history = await jobHistory(ctx.client, jobId);
      const counts = await store.countFilesByStatus(jobId);
      if (exec) {
        if (counts.compressed !== n)
          throw new Error(`${opts.name}: ${JSON.stringify(counts)} of ${n} compressed`);
      } else if (counts.submitted !== n) {
        throw new Error(`${opts.name}: ${JSON.stringify(counts)} of ${n} submitted`);
      }
      const [[subs]] = await db.pool.query<any[]>(
        `SELECT COUNT(*) AS n FROM ${TABLES.submissions} WHERE ingestion_job_id = ? AND compression_job_id IS NOT NULL`,
        [jobId],
      );
      const ms = exec ? done.compressed : done.submitted;
      const pageMs = await pageTimes(db.pool, jobId);
      let compression:
        Pick<JobResult, 'lastCompressionEndMs' | 'compressionBusyMs' | 'compression'> | undefined;
      if (exec) {
        const [[cj]] = await db.pool.query<any[]>(
          `SELECT MAX(UNIX_TIMESTAMP(start_time) + duration) AS last_end, SUM(duration) AS busy FROM ${TABLES.compressionJobs}`,
        );
        compression = {
          lastCompressionEndMs: Number(cj.last_end) * 1000 - t0Wall,
          compressionBusyMs: Number(cj.busy) * 1000,
          compression: { ...(await e2eCompression(db.pool, jobId, n)), clpSMemory: clpSMemoryUsed! },
        };
      }
      return {
        files: n,
        rowsMs: done.rows,
        submittedMs: done.submitted,
        ms,
        rate: (n * 1000) / ms,
        rowsRate: (n * 1000) / done.rows,
        compressionJobs: Number(subs.n),
        history,
        per1k: historyPer1k(history, n),
        pageMs,
        workerPeakMiB: worker.peakMiB(),
        workerRssEndMiB: worker.rssMiB(),
        executorPeakMiB: exec?.executor.peakMiB(),
        ...compression,
        cpu: cpuUsed,
        ...(rescan ? { rescan } : {}),
      };
    } finally {
      clpSMemory?.stop();
      if (jobId !== undefined) await terminateJob(ctx.client, jobId);
      await worker.stop();
      for (const w of more) await w.stop();
      await exec?.stop();
    }
  });
}

const RESCAN_INTERVAL_SEC = 1;

/**
 * Times `passes` whole re-list passes of a job whose every key is recorded:
 * each from the time the pass recorded as its start (rescan_pass_ts) until
 * the state shows it complete (rescan_last_ts = that start), polled every
 * 50 ms, with the CPU of the worker and the stack's servers over the pass.
 */
async function timeRescanPasses(
  ctx: BenchContext,
  store: IngestionStore,
  jobId: number,
  n: number,
  passes: number,
  worker: Parameters<typeof cpuMeter>[0],
): Promise<RescanResult> {
  const ingestedBefore = (await store.requireJob(jobId)).numFilesIngested;
  const out: RescanPass[] = [];
  const deadline = Date.now() + 120_000 + passes * n;
  const poll = () => sleep(50);
  // A pass that began before every row existed (or is under way now) is not timed: wait for the next.
  let skip = (await store.getRescanState(jobId)).passTs;
  while (out.length < passes) {
    let state = await store.getRescanState(jobId);
    while (state.passTs === null || state.passTs === skip) {
      if (Date.now() > deadline) throw new Error(`rescan: no pass began (${JSON.stringify(state)})`);
      await poll();
      state = await store.getRescanState(jobId);
    }
    const passTs = state.passTs;
    const cpu = cpuMeter(worker).begin();
    while (state.lastTs !== passTs) {
      if (Date.now() > deadline) throw new Error(`rescan: the pass begun at ${passTs} did not end`);
      await poll();
      state = await store.getRescanState(jobId);
    }
    const ms = Date.now() - passTs;
    out.push({ ms, keysPerSec: (n * 1000) / ms, cpu: cpu.end() });
    ctx.log(`  re-list pass ${out.length}: ${ms} ms over ${n} keys`);
    skip = passTs;
  }
  const recordedDuring = (await store.requireJob(jobId)).numFilesIngested - ingestedBefore;
  return { intervalSec: RESCAN_INTERVAL_SEC, passes: out, recordedDuring };
}

/**
 * Per-page times from the record itself: each page's rows share the
 * creation_ts of their transaction, so the gaps between consecutive page
 * timestamps are the time per page (no instrumentation in the worker).
 */
async function pageTimes(
  pool: import('../../src/store/db').Db,
  jobId: number,
): Promise<{ first10: number; last10: number; pages: number } | undefined> {
  const [rows] = await pool.query<any[]>(
    `SELECT creation_ts AS ts FROM ${TABLES.ingestedFiles} WHERE ingestion_job_id = ? GROUP BY creation_ts ORDER BY creation_ts`,
    [jobId],
  );
  const ts = rows.map((r) => Number(r.ts));
  const gaps = ts.slice(1).map((t, i) => t - ts[i]);
  if (gaps.length < 10) return undefined;
  const k = Math.max(1, Math.floor(gaps.length / 10));
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  return { first10: mean(gaps.slice(0, k)), last10: mean(gaps.slice(-k)), pages: ts.length };
}
