/**
 * Latency: with a scanner job running (scanning every `intervalSec`), upload
 * objects one at a time and time each from the upload's acknowledgement to
 * its row (`buffered`). A random pause before each upload samples every
 * phase of the scan cycle instead of locking onto one.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { IngestionStore } from '../../src/store/ingestion-store';
import { TABLES } from '../../src/store/schema';
import { uniqueName } from '../../support/stack';
import { sleep } from '../lib/env';
import {
  cpuMeter,
  createBenchJob,
  startWorker,
  terminateJob,
  withDb,
  type BenchContext,
} from '../lib/harness';
import { deletePrefix, keyFor, objectBody } from '../lib/objects';
import { sha256 } from './s3';

export interface LatencyResult {
  samples: number;
  intervalSec: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
  workerPeakMiB: number;
  cpu: Record<string, number>;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

export async function latency(
  ctx: BenchContext,
  samples: number,
  intervalSec: number,
): Promise<LatencyResult> {
  const prefix = `${uniqueName('latency')}/`;
  try {
    return await withDb(ctx, async (db) => {
      const { worker, taskQueue } = await startWorker(ctx, db, 'latency');
      let jobId: number | undefined;
      try {
        const store = new IngestionStore(db.pool);
        jobId = await createBenchJob(ctx, store, taskQueue, 's3_scanner', {
          bucket_name: ctx.bucket,
          key_prefix: prefix,
          scanning_interval_sec: intervalSec,
          buffer_config: { flush_threshold_bytes: 2 ** 40, timeout_sec: 3600 },
        });
        // Let the job start and finish its first (empty) scan.
        await sleep(2_000 + intervalSec * 1000);
        const conn = await db.pool.getConnection();
        const cpu = cpuMeter(worker).begin();
        const times: number[] = [];
        try {
          for (let i = 0; i < samples; i++) {
            await sleep(Math.random() * intervalSec * 1000);
            const key = keyFor(prefix, i);
            const hash = sha256(`${ctx.bucket}/${key}`);
            await ctx.s3.send(new PutObjectCommand({ Bucket: ctx.bucket, Key: key, Body: objectBody(i) }));
            const t0 = performance.now();
            const deadline = t0 + 60_000 + intervalSec * 2000;
            for (;;) {
              const [rows] = await conn.query<any[]>(
                `SELECT 1 FROM ${TABLES.ingestedFiles} WHERE ingestion_job_id = ? AND dedup_hash = ?`,
                [jobId, hash],
              );
              if (rows.length > 0) break;
              if (performance.now() > deadline) throw new Error(`latency: ${key} never got a row`);
              worker.assertAlive();
              await sleep(5);
            }
            times.push(performance.now() - t0);
          }
        } finally {
          conn.release();
        }
        const sorted = [...times].sort((a, b) => a - b);
        return {
          samples,
          intervalSec,
          p50Ms: percentile(sorted, 50),
          p90Ms: percentile(sorted, 90),
          p99Ms: percentile(sorted, 99),
          maxMs: sorted.at(-1) ?? NaN,
          meanMs: times.reduce((a, b) => a + b, 0) / times.length,
          workerPeakMiB: worker.peakMiB(),
          cpu: cpu.end(),
        };
      } finally {
        if (jobId !== undefined) await terminateJob(ctx.client, jobId);
        await worker.stop();
      }
    });
  } finally {
    await deletePrefix(ctx.s3, ctx.bucket, prefix).catch(() => undefined);
  }
}
