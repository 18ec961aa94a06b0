/**
 * The S3 figures: the floor (list + insert, no Temporal), the scanner job until
 * every file is submitted, and the same with the executor on until every file
 * is compressed.
 */
import { createHash } from 'node:crypto';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { ResultSetHeader } from 'mysql2/promise';
import { createJob } from '../../src/client/jobs';
import { parseJobConfig } from '../../src/config/job-config';
import { IngestionStore } from '../../src/store/ingestion-store';
import { TABLES } from '../../src/store/schema';
import { jobHistory, per1k, type HistoryStats } from '../lib/history';
import {
  cpuMeter,
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
  per1k: { events: number; workflowTasks: number; activities: number; timers: number };
  workerPeakMiB: number;
  workerRssEndMiB: number;
  executorPeakMiB?: number;
  /** With the executor: when (after creation) the last compression job ended, and their summed run time. */
  lastCompressionEndMs?: number;
  compressionBusyMs?: number;
  cpu: Record<string, number>;
  jestRunning?: boolean;
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
  opts: { name: string; prefix: string; n: number; flushTimeoutSec: number; executorConcurrency?: number },
): Promise<JobResult> {
  return withDb(ctx, async (db) => {
    const { worker, taskQueue } = await startWorker(ctx, db, opts.name);
    const exec =
      opts.executorConcurrency !== undefined
        ? await startExecutor(ctx, db, opts.name, opts.executorConcurrency)
        : undefined;
    let jobId: number | undefined;
    try {
      const store = new IngestionStore(db.pool);
      const cpu = cpuMeter(worker, exec?.executor).begin();
      const t0 = performance.now();
      const t0Wall = Date.now();
      jobId = await createJob(
        store,
        ctx.client,
        's3_scanner',
        {
          bucket_name: ctx.bucket,
          key_prefix: opts.prefix,
          dataset: 'bench',
          scanning_interval_sec: 30,
          buffer_config: { flush_threshold_bytes: 2 ** 40, timeout_sec: opts.flushTimeoutSec },
        },
        { taskQueue },
      );
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
      let compression: { lastCompressionEndMs: number; compressionBusyMs: number } | undefined;
      if (exec) {
        const [[cj]] = await db.pool.query<any[]>(
          `SELECT MAX(UNIX_TIMESTAMP(start_time) + duration) AS last_end, SUM(duration) AS busy FROM compression_jobs`,
        );
        compression = {
          lastCompressionEndMs: Number(cj.last_end) * 1000 - t0Wall,
          compressionBusyMs: Number(cj.busy) * 1000,
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
        workerPeakMiB: worker.peakMiB(),
        workerRssEndMiB: worker.rssMiB(),
        executorPeakMiB: exec?.executor.peakMiB(),
        ...compression,
        cpu: cpuUsed,
      };
    } finally {
      if (jobId !== undefined) await terminateJob(ctx.client, jobId);
      await worker.stop();
      await exec?.stop();
    }
  });
}
