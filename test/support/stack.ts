/** Test helpers for the real local stack: throwaway databases, buckets and queues, and CLP's tables read back. */
import { CreateBucketCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { decodeClpConfig } from '../../src/clp/clp-config';
import type { Db } from '../../src/store/db';
import { TABLES } from '../../src/store/schema';
import { uniqueName } from '../../support/stack';

export {
  createEmptyTestDb,
  createTestDb,
  newRunTag,
  rolePool,
  terminateOpenJobs,
  terminateTaskQueueWorkflows,
  terminateWorkflow,
  testRunTag,
  uniqueName,
  type TestDb,
} from '../../support/stack';

export async function createTestBucket(s3: S3Client): Promise<string> {
  const bucket = uniqueName('test').toLowerCase();
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  return bucket;
}

/**
 * Uploads objects, one at a time in the order given unless `concurrency`
 * says otherwise (a scanner resumes after the last key it recorded, so a
 * running job must see keys arrive in order); the body is made from the key.
 */
export async function putObjects(
  s3: S3Client,
  bucket: string,
  keys: string[],
  { body = (key: string) => jsonEvents(key, 1), concurrency = 1 } = {},
): Promise<void> {
  const queue = [...keys];
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let key = queue.shift(); key !== undefined; key = queue.shift()) {
        await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body(key) }));
      }
    }),
  );
}

/** `n` JSON log events naming `key` (fields ts, level, key, i, msg): what clp-s compresses and search finds. */
export function jsonEvents(key: string, n: number): string {
  let out = '';
  for (let i = 0; i < n; i++) {
    out +=
      JSON.stringify({ ts: Date.UTC(2026, 10, 21) + i, level: 'INFO', key, i, msg: `request ${i} ok` }) +
      '\n';
  }
  return out;
}

/** The keys a compression job names: its key list, or (s3_object_metadata) its ids resolved as CLP does. */
export async function keysOfCompressionJob(pool: Db, clpConfig: Buffer): Promise<string[]> {
  const { input } = (await decodeClpConfig(clpConfig)) as { input: any };
  if (input.type !== 's3_object_metadata') return input.keys;
  const [rows] = await pool.query<any[]>(
    'SELECT id, `key`, size FROM ingested_s3_object_metadata WHERE id IN (?) AND ingestion_job_id = ?',
    [input.s3_object_metadata_ids, input.ingestion_job_id],
  );
  if (rows.length !== input.s3_object_metadata_ids.length) {
    throw new Error(
      `compression job names ids that CLP's query does not return: ${input.s3_object_metadata_ids}`,
    );
  }
  return rows.map((r) => r.key as string);
}

/** The compression jobs holding the job's files (id, status, status_msg, clp_config), by id. */
export async function compressionJobsOf(pool: Db, jobId: number): Promise<any[]> {
  const [rows] = await pool.query<any[]>(
    `SELECT id, status, status_msg, clp_config FROM compression_jobs WHERE id IN
       (SELECT compression_job_id FROM ${TABLES.ingestedFiles} WHERE ingestion_job_id = ?) ORDER BY id`,
    [jobId],
  );
  return rows;
}

/** The keys each of the job's compression jobs names, by compression job id. */
export async function compressionJobKeys(pool: Db, jobId: number): Promise<Map<number, string[]>> {
  const out = new Map<number, string[]>();
  for (const cj of await compressionJobsOf(pool, jobId)) {
    out.set(cj.id, await keysOfCompressionJob(pool, cj.clp_config));
  }
  return out;
}

/** The job row's counters (kept by each writing transaction) against the rows they summarise. */
export async function countersAndRows(
  pool: Db,
  jobId: number,
): Promise<{ counters: unknown; rows: unknown }> {
  const [[c]] = await pool.query<any[]>(
    `SELECT num_files_ingested, num_files_compressed, num_files_failed, buffered_files, buffered_bytes,
       buffered_oldest_ts, outstanding_compression_jobs FROM ${TABLES.ingestionJobs} WHERE id = ?`,
    [jobId],
  );
  const [[r]] = await pool.query<any[]>(
    `SELECT COUNT(*) AS num_files_ingested,
       SUM(status = 'compressed') AS num_files_compressed, SUM(status = 'failed') AS num_files_failed,
       SUM(status = 'buffered') AS buffered_files, SUM(IF(status = 'buffered', size, 0)) AS buffered_bytes,
       MIN(IF(status = 'buffered', creation_ts, NULL)) AS buffered_oldest_ts,
       (SELECT COUNT(*) FROM ${TABLES.submissions} WHERE ingestion_job_id = ? AND finalized = 0)
         AS outstanding_compression_jobs
     FROM ${TABLES.ingestedFiles} WHERE ingestion_job_id = ?`,
    [jobId, jobId],
  );
  const norm = (o: Record<string, unknown>) =>
    Object.fromEntries(Object.entries(o).map(([k, v]) => [k, v === null ? null : Number(v ?? 0)]));
  return { counters: norm(c), rows: norm(r) };
}
