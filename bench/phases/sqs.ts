/**
 * The SQS figures: n S3 notifications pre-loaded into a fresh goaws queue,
 * drained by a floor (receive 10 at a time, insert, delete; no Temporal) and
 * by the real SQS-listener job, with the same number of concurrent receivers.
 */
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  DeleteQueueCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
} from '@aws-sdk/client-sqs';
import type { ResultSetHeader } from 'mysql2/promise';
import { parseS3EventMessage } from '../../src/sources/sqs_listener/s3-events';
import { dedupKey, fileColumns } from '../../src/store/store-core';
import { parseJobConfig } from '../../src/config/job-config';
import type { NewFile } from '../../src/store/ingestion-store';
import { IngestionStore } from '../../src/store/ingestion-store';
import { TABLES } from '../../src/store/schema';
import { uniqueName } from '../../support/stack';
import { jobHistory } from '../lib/history';
import {
  cpuMeter,
  createBenchJob,
  startWorker,
  terminateJob,
  waitForGoals,
  withDb,
  type BenchContext,
} from '../lib/harness';
import { fmtDuration } from '../lib/env';
import { forEachConcurrent, keyFor, WARMUP_DATASET } from '../lib/objects';
import type { Child } from '../lib/proc';
import type { Db } from '../../src/store/db';
import { historyPer1k, sha256, type JobResult } from './s3';

export function notification(bucket: string, key: string, i: number): string {
  return JSON.stringify({
    Records: [
      {
        eventVersion: '2.1',
        eventSource: 'aws:s3',
        eventName: 'ObjectCreated:Put',
        eventTime: new Date(Date.UTC(2026, 0, 1) + i).toISOString(),
        s3: {
          bucket: { name: bucket },
          object: { key, size: 230, sequencer: (0x10000000 + i).toString(16).toUpperCase() },
        },
      },
    ],
  });
}

export interface LoadedQueue {
  queueUrl: string;
  prefix: string;
  loadMs: number;
  delete: () => Promise<void>;
}

/** A fresh queue holding n notifications for keys under a fresh prefix. */
export async function loadQueue(ctx: BenchContext, n: number, name: string): Promise<LoadedQueue> {
  const { QueueUrl } = await ctx.sqs.send(new CreateQueueCommand({ QueueName: uniqueName(`bench-${name}`) }));
  const queueUrl = QueueUrl!;
  const prefix = `${uniqueName('sqs')}/`;
  const batches: number[] = [];
  for (let i = 0; i < n; i += 10) batches.push(i);
  const t0 = performance.now();
  await forEachConcurrent(batches, 16, async (start) => {
    const entries = [];
    for (let i = start; i < Math.min(start + 10, n); i++) {
      entries.push({ Id: String(i - start), MessageBody: notification(ctx.bucket, keyFor(prefix, i), i) });
    }
    const r = await ctx.sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: entries }));
    if (r.Failed?.length) throw new Error(`SendMessageBatch: ${r.Failed.length} failed`);
  });
  return {
    queueUrl,
    prefix,
    loadMs: performance.now() - t0,
    delete: async () => {
      await ctx.sqs.send(new DeleteQueueCommand({ QueueUrl: queueUrl })).catch(() => undefined);
    },
  };
}

export interface SqsFloorResult {
  files: number;
  ms: number;
  rate: number;
  receives: number;
  loadMs: number;
  cpu: Record<string, number>;
}

/** `listeners` loops of: receive up to 10, insert their rows in one transaction, delete them. */
export async function sqsFloor(ctx: BenchContext, n: number, listeners: number): Promise<SqsFloorResult> {
  const q = await loadQueue(ctx, n, 'floor');
  try {
    return await withDb(ctx, async (db) => {
      const store = new IngestionStore(db.pool);
      const jobId = await store.createJob(
        parseJobConfig('sqs_listener', {
          queue_url: q.queueUrl,
          bucket_name: ctx.bucket,
          key_prefix: q.prefix,
          dataset: 'bench',
        }),
      );
      const filter = { bucket: ctx.bucket, prefix: q.prefix };
      let files = 0;
      let receives = 0;
      let doneAt: number | undefined;
      const cpu = cpuMeter().begin();
      const t0 = performance.now();
      const deadline = Date.now() + 120_000 + n * 20;
      await Promise.all(
        Array.from({ length: listeners }, async () => {
          const conn = await db.pool.getConnection();
          try {
            while (files < n) {
              if (Date.now() > deadline) throw new Error(`sqs floor: timed out at ${files}/${n}`);
              const r = await ctx.sqs.send(
                new ReceiveMessageCommand({
                  QueueUrl: q.queueUrl,
                  MaxNumberOfMessages: 10,
                  WaitTimeSeconds: 1,
                  VisibilityTimeout: 60,
                }),
              );
              receives += 1;
              const messages = r.Messages ?? [];
              if (messages.length === 0) continue;
              const parsed: NewFile[] = [];
              for (const m of messages) {
                const p = parseS3EventMessage(m.Body ?? '', filter);
                if (p.kind === 'files') parsed.push(...p.files);
              }
              const ts = Date.now();
              await conn.beginTransaction();
              const [res] = await conn.query<ResultSetHeader>(
                `INSERT IGNORE INTO ${TABLES.ingestedFiles} (path, size, status, ingestion_job_id, dedup_hash, creation_ts, last_update_ts) VALUES ?`,
                [
                  parsed.map((f) => [
                    fileColumns(f)[0],
                    f.size,
                    'buffered',
                    jobId,
                    sha256(dedupKey(f)),
                    ts,
                    ts,
                  ]),
                ],
              );
              await conn.commit();
              await ctx.sqs.send(
                new DeleteMessageBatchCommand({
                  QueueUrl: q.queueUrl,
                  Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
                }),
              );
              files += res.affectedRows;
              if (files >= n && doneAt === undefined) doneAt = performance.now();
            }
          } finally {
            conn.release();
          }
        }),
      );
      const ms = (doneAt ?? performance.now()) - t0;
      return { files, ms, rate: (files * 1000) / ms, receives, loadMs: q.loadMs, cpu: cpu.end() };
    });
  } finally {
    await q.delete();
  }
}

export interface SqsJobResult extends JobResult {
  loadMs: number;
  /** Creation until the first row exists (polled every 20 ms, as the goal). */
  firstRowMs: number;
  /** Its worker ran a job of its own before the clock (warmUp). */
  warmup: boolean;
}

/** The warm-up job's notifications (see sqsJob). */
const WARMUP_NOTIFICATIONS = 100;

/**
 * A job of its own on the phase's worker, over a queue of
 * WARMUP_NOTIFICATIONS, run to its last row and closed, in WARMUP_DATASET.
 */
async function warmUp(ctx: BenchContext, store: IngestionStore, pool: Db, taskQueue: string, worker: Child) {
  const q = await loadQueue(ctx, WARMUP_NOTIFICATIONS, 'warmup');
  try {
    const t0 = performance.now();
    const jobId = await createBenchJob(ctx, store, taskQueue, 'sqs_listener', {
      dataset: WARMUP_DATASET,
      queue_url: q.queueUrl,
      bucket_name: ctx.bucket,
      key_prefix: q.prefix,
    });
    try {
      await waitForGoals({
        pool,
        jobId,
        t0,
        goals: { rows: (c) => c.ingested >= WARMUP_NOTIFICATIONS },
        children: [worker],
        timeoutMs: 60_000,
        log: ctx.log,
        everyMs: 20,
      });
    } finally {
      await terminateJob(ctx.client, jobId);
    }
    ctx.log(`  warm-up job: ${WARMUP_NOTIFICATIONS} rows in ${fmtDuration(performance.now() - t0)}`);
  } finally {
    await q.delete();
  }
}

/**
 * The SQS-listener job with `listeners` listener tasks, from creation until
 * every notification is a row. Warm by default, as the peer phase: the
 * worker first runs a small job of its own (warmUp), as a deployed worker has
 * run jobs before this one. On a just-started worker the first row came after
 * 250-280 ms, warm after 75-140 ms (measured 2026-12-07): the first run of
 * the workflow and activity code in a new process, paid once per process.
 */
export async function sqsJob(
  ctx: BenchContext,
  n: number,
  listeners: number,
  flushTimeoutSec: number,
  warmup = true,
): Promise<SqsJobResult> {
  const q = await loadQueue(ctx, n, 'job');
  try {
    return await withDb(ctx, async (db) => {
      const { worker, taskQueue } = await startWorker(ctx, db, 'sqs');
      let jobId: number | undefined;
      try {
        const store = new IngestionStore(db.pool);
        if (warmup) await warmUp(ctx, store, db.pool, taskQueue, worker);
        const cpu = cpuMeter(worker).begin();
        const t0 = performance.now();
        jobId = await createBenchJob(ctx, store, taskQueue, 'sqs_listener', {
          queue_url: q.queueUrl,
          bucket_name: ctx.bucket,
          key_prefix: q.prefix,
          num_concurrent_listener_tasks: listeners,
          buffer_config: { flush_threshold_bytes: 2 ** 40, timeout_sec: flushTimeoutSec },
        });
        const done = await waitForGoals({
          pool: db.pool,
          jobId,
          t0,
          goals: { first: (c) => c.ingested > 0, rows: (c) => c.ingested >= n },
          children: [worker],
          timeoutMs: 120_000 + n * 20,
          log: ctx.log,
          everyMs: 20,
        });
        const cpuUsed = cpu.end();
        const history = await jobHistory(ctx.client, jobId);
        return {
          files: n,
          rowsMs: done.rows,
          submittedMs: NaN,
          ms: done.rows,
          rate: (n * 1000) / done.rows,
          rowsRate: (n * 1000) / done.rows,
          firstRowMs: done.first,
          warmup,
          compressionJobs: 0,
          history,
          per1k: historyPer1k(history, n),
          workerPeakMiB: worker.peakMiB(),
          workerRssEndMiB: worker.rssMiB(),
          cpu: cpuUsed,
          loadMs: q.loadMs,
        };
      } finally {
        if (jobId !== undefined) await terminateJob(ctx.client, jobId);
        await worker.stop();
      }
    });
  } finally {
    await q.delete();
  }
}
