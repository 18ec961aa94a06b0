/**
 * An s3_object_list job's input: the objects its config names, looked up
 * (HEAD) in batches and recorded batch by batch. An object that exists is
 * recorded `buffered` with its size; one that does not is recorded `failed`
 * with the reason, so it is reported by name and counted, never dropped.
 *
 * The durable cursor (the S3 scanner's state row) holds how many URLs are
 * done; each batch commits with a compare-and-set on it, so a retried or
 * zombie call never records a batch twice and a restarted one goes on from
 * the last committed batch.
 */
import { HeadBucketCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { Context } from '@temporalio/activity';
import { startLongCall } from '../../activities/long-call';
import { parseObjectUrls, type ObjectUrls } from '../../config/object-urls';
import type {
  BufferSnapshot,
  FailedFile,
  FileRecords,
  JobRecords,
  NewS3File,
  ScannerState,
} from '../../store/ingestion-store';
import { callStartFor, returnForFlushAt } from '../../activities/buffer';
import type { DepsWith } from '../../activities/deps';
import { classifyAwsError, nonRecoverable } from '../../activities/errors';

export interface ObjectListResult {
  /** Objects newly recorded as buffered by this call. */
  recorded: number;
  /** Objects newly recorded as failed (they do not exist). */
  failed: number;
  /** True when every URL of the list is recorded. */
  exhausted: boolean;
  snapshot: BufferSnapshot;
}

/** URLs per committed batch, and HEAD requests in flight at once. */
const BATCH = 200;
const CONCURRENCY = 16;

const isNotFound = (err: unknown) => {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NotFound' || e?.name === 'NoSuchKey' || e?.$metadata?.httpStatusCode === 404;
};

async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      for (let i = next++; i < items.length; i = next++) out[i] = await fn(items[i]);
    }),
  );
  return out;
}

export function s3ObjectListActivities({
  store,
  s3,
}: DepsWith<JobRecords & ScannerState & FileRecords, 's3'>) {
  return {
    /**
     * Looks up and records the job's listed objects from the durable cursor
     * on, until all are recorded, a flush is due, `maxDurationMs` passes or
     * the call is cancelled. Reads the list from the job's row, so the list
     * does not travel through workflow history per call.
     */
    async recordS3ObjectList(jobId: number, maxDurationMs: number): Promise<ObjectListResult> {
      const ctx = Context.current();
      const deadline = Date.now() + maxDurationMs;
      const row = await store.requireJob(jobId);
      if (row.config.kind !== 's3_object_list')
        throw nonRecoverable(`job ${jobId} is a ${row.config.kind} job, not s3_object_list`);
      const config = row.config.config;
      const list = parseObjectUrls(config.urls);
      if ('error' in list) throw nonRecoverable(`urls: ${list.error}`); // validated on creation
      const { bucket, keys }: ObjectUrls = list;
      const client = s3({ region: config.region, endpointUrl: config.endpoint_url });
      let recorded = 0;
      let failed = 0;
      // One signal for the call's requests (up to CONCURRENCY at once).
      const { stop, finish } = startLongCall(ctx, () => ({ recorded, failed }), CONCURRENCY + 4);
      try {
        let cursor = await store.getScannerCursor(jobId);
        let done = cursor === null ? 0 : Number(cursor);
        if (done < keys.length) {
          // A missing bucket would make every object "not found": fail the job instead.
          await client
            .send(new HeadBucketCommand({ Bucket: bucket }), { abortSignal: stop.signal })
            .catch((err) => {
              if (stop.signal.aborted) return; // cancelled (pause, stop): nothing to do
              if (isNotFound(err)) throw nonRecoverable(`bucket ${bucket}: NoSuchBucket`);
              classifyAwsError(err, `bucket ${bucket}`);
            });
        }
        const atStart = await store.bufferSnapshot(jobId);
        const callStart = callStartFor(ctx.info, atStart);
        let flushAt = returnForFlushAt(config.buffer_config, atStart, callStart);
        while (done < keys.length) {
          const end = Math.min(done + BATCH, keys.length);
          const looked = await mapLimit(keys.slice(done, end), CONCURRENCY, async (key) => {
            const file = { s3: { bucket, key } };
            try {
              const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }), {
                abortSignal: stop.signal,
              });
              return { ...file, size: Number(head.ContentLength ?? 0) } as NewS3File;
            } catch (err) {
              if (stop.signal.aborted) return null; // cancelled: this batch is not recorded
              if (isNotFound(err))
                return { ...file, size: 0, reason: `s3://${bucket}/${key}: no such object` } as FailedFile;
              return classifyAwsError(err, `s3://${bucket}/${key}`);
            }
          });
          // Cancelled (pause, stop) mid-batch: return what is committed, as a scan does.
          if (stop.signal.aborted || looked.includes(null)) break;
          const batch = looked as (NewS3File | FailedFile)[];
          const found = batch.filter((f): f is NewS3File => !('reason' in f));
          const missing = batch.filter((f): f is FailedFile => 'reason' in f);
          const next = String(end);
          const n = await store.recordS3Page(jobId, found, cursor, next, missing);
          if (n === null) break; // another call moved the cursor: it owns the list now
          recorded += n;
          failed += missing.length;
          cursor = next;
          done = end;
          if (n > 0)
            flushAt = returnForFlushAt(config.buffer_config, await store.bufferSnapshot(jobId), callStart);
          if (stop.signal.aborted || Date.now() >= Math.min(deadline, flushAt)) break;
        }
        return {
          recorded,
          failed,
          exhausted: done >= keys.length,
          snapshot: await store.bufferSnapshot(jobId),
        };
      } finally {
        finish();
      }
    },
  };
}
