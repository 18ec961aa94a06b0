/**
 * KILLED compression jobs (CLP's scheduler restarted: the cluster failed, not
 * the data) are resubmitted with the same files, up to the attempt limit,
 * and every attempt's id is kept. FAILED stays final. On the real MariaDB.
 */
import type { RowDataPacket } from 'mysql2/promise';
import { decodeClpConfig, encodeClpConfig } from '../../src/clp/clp-config';
import { buildClpConfig } from '../../src/activities/compression';
import { parseJobConfig } from '../../src/config/job-config';
import { IngestionStore, type FileToCompress } from '../../src/store/ingestion-store';
import { CompressionJobStatus } from '../../src/store/schema';
import { countersAndRows, createTestDb, type TestDb } from '../support/stack';

let db: TestDb;
let store: IngestionStore;
beforeAll(async () => {
  db = await createTestDb();
  store = new IngestionStore(db.pool);
});
afterAll(() => db.drop());

let buckets = 0;
const job = parseJobConfig('s3_scanner', { bucket_name: 'logs', key_prefix: 'app/' });

async function jobWithSubmittedFiles(n: number): Promise<{ jobId: number; compressionJobId: number }> {
  // A bucket per job: jobs on one bucket and prefix would conflict.
  const bucket = `logs-${++buckets}`;
  const jobId = await store.createJob(
    parseJobConfig('s3_scanner', { bucket_name: bucket, key_prefix: 'app/' }),
  );
  const files = Array.from({ length: n }, (_, i) => ({
    path: `${bucket}/app/${i}.log`,
    s3: { bucket, key: `app/${i}.log` },
    size: i + 1,
  }));
  await store.recordS3Page(jobId, files, null, files.at(-1)!.s3.key);
  const sub = await store.submitBuffered(jobId, 1, 1000, build(jobId));
  return { jobId, compressionJobId: sub.compressionJobId! };
}

const build = (jobId: number) => (files: FileToCompress[]) =>
  encodeClpConfig(buildClpConfig(jobId, job, files, db.settings), 'zstd');

const setStatus = (id: number, status: number) =>
  db.pool.query('UPDATE compression_jobs SET status = ? WHERE id = ?', [status, id]);

async function idsOf(compressionJobId: number): Promise<number[]> {
  const [[row]] = await db.pool.query<RowDataPacket[]>(
    'SELECT clp_config FROM compression_jobs WHERE id = ?',
    [compressionJobId],
  );
  return ((await decodeClpConfig(row.clp_config)) as any).input.s3_object_metadata_ids;
}

test('a KILLED job’s files go into a new compression job with the same files; the trail keeps both ids', async () => {
  const { jobId, compressionJobId: first } = await jobWithSubmittedFiles(3);
  await setStatus(first, CompressionJobStatus.KILLED);
  const retry = { maxAttempts: 3, buildClpConfig: build(jobId) };
  const r = await store.finalizeCompressionJobs(jobId, await store.outstandingCompressionJobs(jobId), retry);
  expect(r.finalized).toEqual([]);
  expect(r.resubmitted).toEqual([
    { killedCompressionJobId: first, compressionJobId: expect.any(Number), attempt: 2, numFiles: 3 },
  ]);
  const second = r.resubmitted[0].compressionJobId;
  expect(await idsOf(second)).toEqual(await idsOf(first));
  expect(await store.outstandingCompressionJobs(jobId)).toEqual([second]);

  // A stale repeat (a zombie that still holds the killed id) changes nothing.
  const again = await store.finalizeCompressionJobs(jobId, [first], retry);
  expect(again).toEqual({ finalized: [], resubmitted: [] });
  const [[count]] = await db.pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM compression_jobs');
  expect(Number(count.n)).toBe(2);

  await setStatus(second, CompressionJobStatus.SUCCEEDED);
  const done = await store.finalizeCompressionJobs(jobId, [second], retry);
  expect(done.finalized).toEqual([{ compressionJobId: second, status: 'compressed', numFiles: 3 }]);
  const files = await store.listFiles(jobId);
  expect(files.map((f) => [f.status, f.compressionJobId, f.compressionJobIds])).toEqual(
    Array(3).fill(['compressed', second, [first, second]]),
  );
  const row = await store.requireJob(jobId);
  expect([row.numFilesCompressed, row.numFilesFailed]).toEqual([3, 0]);
  const { counters, rows } = await countersAndRows(db.pool, jobId);
  expect(counters).toEqual(rows);
});

test('after the last attempt is KILLED the files fail, with every attempt’s id', async () => {
  const { jobId, compressionJobId: first } = await jobWithSubmittedFiles(2);
  const retry = { maxAttempts: 3, buildClpConfig: build(jobId) };
  const trail = [first];
  for (let attempt = 1; attempt <= 3; attempt++) {
    await setStatus(trail.at(-1)!, CompressionJobStatus.KILLED);
    const r = await store.finalizeCompressionJobs(
      jobId,
      await store.outstandingCompressionJobs(jobId),
      retry,
    );
    if (attempt < 3) trail.push(r.resubmitted[0].compressionJobId);
    else expect(r.finalized).toEqual([{ compressionJobId: trail[2], status: 'failed', numFiles: 2 }]);
  }
  expect(await store.outstandingCompressionJobs(jobId)).toEqual([]);
  const files = await store.listFiles(jobId);
  expect(files.map((f) => [f.status, f.compressionJobIds])).toEqual(Array(2).fill(['failed', trail]));
  expect((await store.requireJob(jobId)).numFilesFailed).toBe(2);
  const { counters, rows } = await countersAndRows(db.pool, jobId);
  expect(counters).toEqual(rows);
});

test('FAILED is final: no resubmission', async () => {
  const { jobId, compressionJobId } = await jobWithSubmittedFiles(2);
  await setStatus(compressionJobId, CompressionJobStatus.FAILED);
  const r = await store.finalizeCompressionJobs(jobId, [compressionJobId], {
    maxAttempts: 3,
    buildClpConfig: build(jobId),
  });
  expect(r.resubmitted).toEqual([]);
  expect(r.finalized).toEqual([{ compressionJobId, status: 'failed', numFiles: 2 }]);
});

test('two finalizers racing on one KILLED job resubmit it once', async () => {
  const { jobId, compressionJobId } = await jobWithSubmittedFiles(4);
  await setStatus(compressionJobId, CompressionJobStatus.KILLED);
  const retry = { maxAttempts: 3, buildClpConfig: build(jobId) };
  const results = await Promise.all(
    Array.from({ length: 4 }, () => store.finalizeCompressionJobs(jobId, [compressionJobId], retry)),
  );
  expect(results.flatMap((r) => r.resubmitted)).toHaveLength(1);
  const [[n]] = await db.pool.query<RowDataPacket[]>(
    `SELECT COUNT(DISTINCT compression_job_id) AS n FROM log_ingestor_ingested_files WHERE ingestion_job_id = ?`,
    [jobId],
  );
  expect(Number(n.n)).toBe(1);
});
