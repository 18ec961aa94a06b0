/**
 * KILLED compression jobs (CLP's scheduler restarted: the cluster failed, not
 * the data) are resubmitted with the same files, less those of the job's
 * SUCCEEDED tasks (their archives exist), up to the attempt limit, and every
 * attempt's id is kept. FAILED stays final. On the real MariaDB, as the
 * worker's least-privilege DB user.
 */
import type { RowDataPacket } from 'mysql2/promise';
import { decodeClpConfig, encodeClpConfig, type ClpConfigCodec } from '../../src/clp/clp-config';
import { encodeTaskPaths } from '../../src/clp/task-paths';
import { buildClpConfig, clpTaskPath } from '../../src/activities/compression';
import { parseJobConfig, type JobConfig } from '../../src/config/job-config';
import type { Db } from '../../src/store/db';
import { KilledJobTasksError } from '../../src/store/compression-jobs';
import { IngestionStore, type CompressionRetry, type FileToCompress } from '../../src/store/ingestion-store';
import { CompressionJobStatus, CompressionTaskStatus } from '../../src/store/schema';
import { countersAndRows, createTestDb, rolePool, type TestDb } from '../support/stack';

let db: TestDb;
let workerPool: Db;
let store: IngestionStore;
beforeAll(async () => {
  db = await createTestDb();
  workerPool = rolePool(db.settings, 'worker');
  store = new IngestionStore(workerPool);
});
afterAll(async () => {
  await workerPool?.end();
  await db.drop();
});

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

const MOUNT_ROOT = '/mnt/logs';
const build =
  (jobId: number, config: JobConfig = job) =>
  (files: FileToCompress[]) =>
    encodeClpConfig(
      buildClpConfig(jobId, config, files, {
        ...db.settings,
        clp: { ...db.settings.clp, fsMountRoot: MOUNT_ROOT },
      }),
      'zstd',
    );

/** What awaitCompressionJobs passes: the files as CLP's tasks name them. */
const retryOf = (jobId: number, config: JobConfig = job, maxAttempts = 3): CompressionRetry => ({
  maxAttempts,
  buildClpConfig: build(jobId, config),
  taskPathOf: (f) => clpTaskPath(f, MOUNT_ROOT),
});

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
  const retry = retryOf(jobId);
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
  const retry = retryOf(jobId);
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

test('FAILED because clp-s could not reach the object store (a curl error): resubmitted as a KILLED job is', async () => {
  const { jobId, compressionJobId } = await jobWithSubmittedFiles(2);
  await db.pool.query('UPDATE compression_jobs SET status = ?, status_msg = ? WHERE id = ?', [
    CompressionJobStatus.FAILED,
    'task 7: clp-s failed (exit 1): [error] curl error while reading s3 object (code 7: Could not connect to server)',
    compressionJobId,
  ]);
  const r = await store.finalizeCompressionJobs(jobId, [compressionJobId], retryOf(jobId));
  expect(r.finalized).toEqual([]);
  expect(r.resubmitted).toHaveLength(1);
  expect(await idsOf(r.resubmitted[0].compressionJobId)).toEqual(await idsOf(compressionJobId));
  // A repeat finds it resubmitted already: nothing moves twice.
  expect(await store.finalizeCompressionJobs(jobId, [compressionJobId], retryOf(jobId))).toEqual({
    finalized: [],
    resubmitted: [],
  });
});

test('FAILED is final: no resubmission', async () => {
  const { jobId, compressionJobId } = await jobWithSubmittedFiles(2);
  await setStatus(compressionJobId, CompressionJobStatus.FAILED);
  const r = await store.finalizeCompressionJobs(jobId, [compressionJobId], retryOf(jobId));
  expect(r.resubmitted).toEqual([]);
  expect(r.finalized).toEqual([{ compressionJobId, status: 'failed', numFiles: 2 }]);
});

test('two finalizers racing on one KILLED job resubmit it once', async () => {
  const { jobId, compressionJobId } = await jobWithSubmittedFiles(4);
  await setStatus(compressionJobId, CompressionJobStatus.KILLED);
  const retry = retryOf(jobId);
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

/** A task of compression job `compressionJobId` as CLP's scheduler writes it. */
async function addTask(
  compressionJobId: number,
  status: number,
  filePaths: string[],
  codec: ClpConfigCodec = 'zstd',
): Promise<void> {
  const blob = await encodeTaskPaths(
    { file_paths: filePaths, group_ids: filePaths.map(() => 0), st_sizes: filePaths.map(() => 1) },
    codec,
  );
  await db.pool.query(
    'INSERT INTO compression_tasks (job_id, status, clp_paths_to_compress, partition_original_size) VALUES (?, ?, ?, ?)',
    [compressionJobId, status, blob, filePaths.length],
  );
}

/** Everything finalizing may change for a job: its files, counters, trail, submissions, and compression_jobs. */
async function stateOf(jobId: number): Promise<unknown> {
  const q = async (sql: string, args: unknown[] = [jobId]) =>
    (await db.pool.query<RowDataPacket[]>(sql, args))[0];
  return {
    files: await q(
      'SELECT id, status, compression_job_id, last_update_ts FROM log_ingestor_ingested_files WHERE ingestion_job_id = ? ORDER BY id',
    ),
    job: await q(
      'SELECT num_files_compressed, num_files_failed, outstanding_compression_jobs, last_update_ts FROM log_ingestor_ingestion_jobs WHERE id = ?',
    ),
    attempts: await q(
      'SELECT flush_seq, attempt, compression_job_id FROM log_ingestor_compression_attempts WHERE ingestion_job_id = ? ORDER BY attempt',
    ),
    submissions: await q(
      'SELECT flush_seq, compression_job_id, finalized FROM log_ingestor_compression_submissions WHERE ingestion_job_id = ?',
    ),
    compressionJobs: await q('SELECT COUNT(*) AS n FROM compression_jobs', []),
  };
}

/** The job's S3 files, in id order, with their keys. */
async function s3Files(jobId: number): Promise<{ id: number; key: string }[]> {
  const [rows] = await db.pool.query<RowDataPacket[]>(
    'SELECT id, object_key FROM log_ingestor_ingested_files WHERE ingestion_job_id = ? ORDER BY id',
    [jobId],
  );
  return rows.map((r) => ({ id: Number(r.id), key: r.object_key }));
}

test('a KILLED job with a SUCCEEDED task: its files are compressed, only the others are resubmitted, and a repeat changes nothing', async () => {
  const { jobId, compressionJobId: killed } = await jobWithSubmittedFiles(6);
  const files = await s3Files(jobId);
  // Task 1 (SUCCEEDED) had files 0 and 1, task 2 (FAILED) files 2 and 3; files 4 and 5 were never scheduled.
  await addTask(killed, CompressionTaskStatus.SUCCEEDED, [files[0].key, files[1].key]);
  await addTask(killed, CompressionTaskStatus.FAILED, [files[2].key, files[3].key]);
  await setStatus(killed, CompressionJobStatus.KILLED);

  const retry = retryOf(jobId);
  const r = await store.finalizeCompressionJobs(jobId, [killed], retry);
  expect(r.resubmitted).toEqual([
    { killedCompressionJobId: killed, compressionJobId: expect.any(Number), attempt: 2, numFiles: 4 },
  ]);
  expect(r.finalized).toEqual([
    { compressionJobId: killed, status: 'compressed', numFiles: 2, partial: true },
  ]);
  const second = r.resubmitted[0].compressionJobId;
  // Exactly the other files are in the resubmitted job.
  expect(await idsOf(second)).toEqual(files.slice(2).map((f) => f.id));
  expect(await store.outstandingCompressionJobs(jobId)).toEqual([second]);
  const listed = await store.listFiles(jobId);
  expect(listed.map((f) => [f.status, f.compressionJobId, f.compressionJobIds])).toEqual([
    ['compressed', killed, [killed]],
    ['compressed', killed, [killed]],
    ...Array(4).fill(['submitted', second, [killed, second]]),
  ]);
  expect((await store.requireJob(jobId)).numFilesCompressed).toBe(2);
  let { counters, rows } = await countersAndRows(db.pool, jobId);
  expect(counters).toEqual(rows);

  // A retried or zombie call (the killed id, or both ids while the new job is PENDING) changes nothing.
  const before = await stateOf(jobId);
  expect(await store.finalizeCompressionJobs(jobId, [killed], retry)).toEqual({
    finalized: [],
    resubmitted: [],
  });
  expect(await store.finalizeCompressionJobs(jobId, [killed, second], retry)).toEqual({
    finalized: [],
    resubmitted: [],
  });
  expect(await stateOf(jobId)).toEqual(before);

  // The resubmitted job succeeds: all six compressed, each once.
  await setStatus(second, CompressionJobStatus.SUCCEEDED);
  const done = await store.finalizeCompressionJobs(jobId, [second], retry);
  expect(done.finalized).toEqual([{ compressionJobId: second, status: 'compressed', numFiles: 4 }]);
  const row = await store.requireJob(jobId);
  expect([row.numFilesCompressed, row.numFilesFailed]).toEqual([6, 0]);
  ({ counters, rows } = await countersAndRows(db.pool, jobId));
  expect(counters).toEqual(rows);
});

test('every file in SUCCEEDED tasks (brotli, as CLP v0.9-v0.13 writes them): the flush ends compressed, with no new job', async () => {
  const { jobId, compressionJobId: killed } = await jobWithSubmittedFiles(3);
  const files = await s3Files(jobId);
  await addTask(killed, CompressionTaskStatus.SUCCEEDED, [files[0].key], 'brotli');
  await addTask(killed, CompressionTaskStatus.SUCCEEDED, [files[1].key, files[2].key], 'brotli');
  await setStatus(killed, CompressionJobStatus.KILLED);
  const [[jobs]] = await db.pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM compression_jobs');

  const retry = retryOf(jobId);
  const r = await store.finalizeCompressionJobs(jobId, [killed], retry);
  expect(r).toEqual({
    finalized: [{ compressionJobId: killed, status: 'compressed', numFiles: 3 }],
    resubmitted: [],
  });
  const [[after]] = await db.pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM compression_jobs');
  expect(Number(after.n)).toBe(Number(jobs.n));
  expect(await store.outstandingCompressionJobs(jobId)).toEqual([]);
  expect((await store.listFiles(jobId)).map((f) => f.status)).toEqual(Array(3).fill('compressed'));
  const { counters, rows } = await countersAndRows(db.pool, jobId);
  expect(counters).toEqual(rows);

  const before = await stateOf(jobId);
  expect(await store.finalizeCompressionJobs(jobId, [killed], retry)).toEqual({
    finalized: [],
    resubmitted: [],
  });
  expect(await stateOf(jobId)).toEqual(before);
});

test('fs job: tasks name paths under CLP’s mount root, as pathlib writes them', async () => {
  const fsJob = parseJobConfig('fs', { directory: '/var/log/killed' });
  const jobId = await store.createJob(fsJob);
  const paths = ['/var/log/killed/a.log', '/var/log/killed/b.log', '/var/log/killed/c.log'];
  await store.recordFiles(
    jobId,
    paths.map((path) => ({ path, size: 1 })),
  );
  const { compressionJobId: killed } = await store.submitBuffered(jobId, 1, 1000, build(jobId, fsJob));
  // CLP's workers see /mnt/logs + the host path; pathlib collapses a doubled slash.
  await addTask(killed!, CompressionTaskStatus.SUCCEEDED, [
    `${MOUNT_ROOT}/var/log/killed/a.log`,
    `${MOUNT_ROOT}/var/log//killed/b.log`,
  ]);
  await setStatus(killed!, CompressionJobStatus.KILLED);

  const r = await store.finalizeCompressionJobs(jobId, [killed!], retryOf(jobId, fsJob));
  expect(r.resubmitted).toMatchObject([{ killedCompressionJobId: killed, numFiles: 1 }]);
  const second = r.resubmitted[0].compressionJobId;
  const [[cj]] = await db.pool.query<RowDataPacket[]>(
    'SELECT clp_config FROM compression_jobs WHERE id = ?',
    [second],
  );
  expect(((await decodeClpConfig(cj.clp_config)) as any).input.paths_to_compress).toEqual([
    `${MOUNT_ROOT}/var/log/killed/c.log`,
  ]);
  expect((await store.listFiles(jobId)).map((f) => [f.path, f.status])).toEqual([
    [paths[0], 'compressed'],
    [paths[1], 'compressed'],
    [paths[2], 'submitted'],
  ]);
  const { counters, rows } = await countersAndRows(db.pool, jobId);
  expect(counters).toEqual(rows);
});

test('the last attempt KILLED: its SUCCEEDED task’s files are compressed, the others fail', async () => {
  const { jobId, compressionJobId: killed } = await jobWithSubmittedFiles(3);
  const files = await s3Files(jobId);
  await addTask(killed, CompressionTaskStatus.SUCCEEDED, [files[1].key]);
  await setStatus(killed, CompressionJobStatus.KILLED);
  const r = await store.finalizeCompressionJobs(jobId, [killed], retryOf(jobId, job, 1));
  expect(r.resubmitted).toEqual([]);
  expect(r.finalized).toEqual([
    { compressionJobId: killed, status: 'compressed', numFiles: 1, partial: true },
    { compressionJobId: killed, status: 'failed', numFiles: 2 },
  ]);
  expect((await store.listFiles(jobId)).map((f) => f.status)).toEqual(['failed', 'compressed', 'failed']);
  expect(await store.outstandingCompressionJobs(jobId)).toEqual([]);
  const { counters, rows } = await countersAndRows(db.pool, jobId);
  expect(counters).toEqual(rows);
});

test('a FAILED job with a SUCCEEDED task (a later task failed): that task’s files are compressed, the others fail; a repeat changes nothing', async () => {
  const { jobId, compressionJobId: cj } = await jobWithSubmittedFiles(4);
  const files = await s3Files(jobId);
  await addTask(cj, CompressionTaskStatus.SUCCEEDED, [files[0].key, files[1].key]);
  await addTask(cj, CompressionTaskStatus.FAILED, [files[2].key, files[3].key]);
  await setStatus(cj, CompressionJobStatus.FAILED);
  const retry = retryOf(jobId);
  const r = await store.finalizeCompressionJobs(jobId, [cj], retry);
  expect(r.resubmitted).toEqual([]);
  expect(r.finalized).toEqual([
    { compressionJobId: cj, status: 'compressed', numFiles: 2, partial: true },
    { compressionJobId: cj, status: 'failed', numFiles: 2 },
  ]);
  expect((await store.listFiles(jobId)).map((f) => f.status)).toEqual([
    'compressed',
    'compressed',
    'failed',
    'failed',
  ]);
  const before = await stateOf(jobId);
  // A repeat moves nothing (as for any ended job, it reports 0 files).
  expect(await store.finalizeCompressionJobs(jobId, [cj], retry)).toEqual({
    finalized: [{ compressionJobId: cj, status: 'failed', numFiles: 0 }],
    resubmitted: [],
  });
  expect(await stateOf(jobId)).toEqual(before);
  const { counters, rows } = await countersAndRows(db.pool, jobId);
  expect(counters).toEqual(rows);
});

test('a SUCCEEDED task that cannot be read (undecodable, or naming a file the job does not have) stops finalizing, changing nothing', async () => {
  for (const spoil of [
    (killed: number) =>
      db.pool.query(
        'INSERT INTO compression_tasks (job_id, status, clp_paths_to_compress, partition_original_size) VALUES (?, ?, ?, 1)',
        [killed, CompressionTaskStatus.SUCCEEDED, Buffer.from('not a task blob')],
      ),
    (killed: number) => addTask(killed, CompressionTaskStatus.SUCCEEDED, ['app/none.log']),
  ]) {
    const { jobId, compressionJobId: killed } = await jobWithSubmittedFiles(2);
    await spoil(killed);
    await setStatus(killed, CompressionJobStatus.KILLED);
    const before = await stateOf(jobId);
    await expect(store.finalizeCompressionJobs(jobId, [killed], retryOf(jobId))).rejects.toThrow(
      KilledJobTasksError,
    );
    expect(await stateOf(jobId)).toEqual(before);
    expect(await store.outstandingCompressionJobs(jobId)).toEqual([killed]);
  }
});
