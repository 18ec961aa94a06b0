/** S3-scanner ingestion jobs end to end: real worker, Temporal, MariaDB and MinIO. */
import { ApplicationFailure } from '@temporalio/activity';
import { controlJob, IllegalRequestError, queryProgress } from '../../src/job-control';
import { CompressionJobStatus } from '../../src/store/schema';
import { workflowIdFor } from '../../src/workflows/messages';
import { compressionJobKeys, createTestBucket, putObjects } from '../support/stack';
import {
  completeCompressionJobs,
  startHarness,
  waitForStatus,
  type Harness,
  stopAndFinish,
} from '../support/worker';
import { eventually, sleep } from '../support/wait';
import { s3ScannerConfig, timeoutOnlyBuffer } from '../support/configs';

let h: Harness;
let bucket: string;

/** Faults injected by tests: activity name -> throw once right after the real call commits. */
const crashAfterCommit = new Set<string>();

beforeAll(async () => {
  h = await startHarness({
    wrapActivities: (acts) => {
      const wrapped = { ...acts };
      for (const name of ['scanS3', 'flushBuffer'] as const) {
        const real = acts[name] as (...args: unknown[]) => Promise<unknown>;
        (wrapped as Record<string, unknown>)[name] = async (...args: unknown[]) => {
          const result = await real(...args);
          if (crashAfterCommit.delete(name))
            throw ApplicationFailure.retryable(`injected crash after ${name} committed`);
          return result;
        };
      }
      return wrapped;
    },
  });
  bucket = await createTestBucket(h.s3);
});

afterAll(async () => {
  await h?.close();
});

const put = (keys: string[], body?: (key: string) => string) =>
  putObjects(h.s3, bucket, keys, { body, concurrency: 16 });

const config = (prefix: string, extra: Record<string, unknown> = {}) =>
  s3ScannerConfig(bucket, prefix, { settle_delay_sec: 0, buffer_config: timeoutOnlyBuffer(), ...extra });

async function rows(jobId: number): Promise<any[]> {
  const [r] = await h.pool.query<any[]>(
    'SELECT path, status, compression_job_id FROM log_ingestor_ingested_files WHERE ingestion_job_id = ? ORDER BY path',
    [jobId],
  );
  return r;
}

const decodedJobs = (jobId: number) => compressionJobKeys(h.pool, jobId);

test('a multi-page listing is ingested exactly once and every file ends compressed', async () => {
  const keys = Array.from({ length: 2345 }, (_, i) => `multi/app-${String(i).padStart(5, '0')}.log`);
  await put([...keys, 'multi/dir-marker/']);
  const jobId = await h.create('s3_scanner', config('multi/'));
  await eventually(
    async () => (await h.store.requireJob(jobId)).numFilesIngested === keys.length,
    60_000,
    'ingest',
  );
  await eventually(async () => (await h.store.countFilesByStatus(jobId)).buffered === 0, 30_000, 'flush');
  await completeCompressionJobs(h.pool);
  await eventually(
    async () => (await h.store.requireJob(jobId)).numFilesCompressed === keys.length,
    60_000,
    'done',
  );

  const r = await rows(jobId);
  expect(r.map((x) => x.path)).toEqual(keys.map((k) => `${bucket}/${k}`));
  expect(r.every((x) => x.status === 'compressed' && x.compression_job_id !== null)).toBe(true);
  // Every key is in exactly one compression job's clp_config.
  const all = [...(await decodedJobs(jobId)).values()].flat().sort();
  expect(all).toEqual(keys);

  const progress = await queryProgress(h.client, workflowIdFor(jobId));
  expect(progress?.status).toBe('running');
  expect(progress?.filesCompressed).toBe(keys.length);
  await stopAndFinish(h, jobId);
});

test('pause stops ingestion of new objects; resume picks them up from the cursor', async () => {
  await put(['pause/a-1.log', 'pause/a-2.log']);
  const jobId = await h.create('s3_scanner', config('pause/'));
  await eventually(
    async () => (await h.store.requireJob(jobId)).numFilesIngested === 2,
    30_000,
    'first files',
  );

  await controlJob(h.store, h.client, jobId, 'pause');
  await waitForStatus(h, jobId, 'paused');
  await expect(controlJob(h.store, h.client, jobId, 'pause')).rejects.toThrow(IllegalRequestError);
  await put(['pause/b-1.log', 'pause/b-2.log', 'pause/b-3.log']);
  // Several scanning intervals pass, long enough for a running job on the same
  // prefix to record the new objects: nothing new may be recorded while paused.
  const putAt = Date.now();
  // (Another dataset: two active jobs may not share a bucket, prefix and dataset.)
  const control = await h.create('s3_scanner', config('pause/', { dataset: 'pause_control' }));
  await eventually(
    async () => (await h.store.requireJob(control)).numFilesIngested === 5 && Date.now() - putAt >= 4_000,
    30_000,
    'a running job to record the new objects',
  );
  expect((await h.store.requireJob(jobId)).numFilesIngested).toBe(2);
  await stopAndFinish(h, control);

  await controlJob(h.store, h.client, jobId, 'resume');
  await waitForStatus(h, jobId, 'running');
  await eventually(
    async () => (await h.store.requireJob(jobId)).numFilesIngested === 5,
    30_000,
    'resumed files',
  );
  expect((await rows(jobId)).map((x) => x.path)).toEqual(
    ['a-1', 'a-2', 'b-1', 'b-2', 'b-3'].map((k) => `${bucket}/pause/${k}.log`),
  );
  await stopAndFinish(h, jobId);
  await expect(controlJob(h.store, h.client, jobId, 'resume')).rejects.toThrow(/finished/);
});

test('stop flushes the buffer, awaits the compression job, then finishes', async () => {
  await put(['stop/x.log', 'stop/y.log']);
  // A long timeout and a huge threshold: only the stop can flush this buffer.
  const jobId = await h.create('s3_scanner', config('stop/', { buffer_config: { timeout_sec: 3600 } }));
  await eventually(async () => (await h.store.countFilesByStatus(jobId)).buffered === 2, 30_000, 'buffered');
  await controlJob(h.store, h.client, jobId, 'stop');
  await eventually(
    async () => (await h.store.countFilesByStatus(jobId)).submitted === 2,
    30_000,
    'submitted',
  );
  // The workflow has taken the stop, flushed, and awaits only its compression
  // job (all it would need to finish), for at least as long as before: not finished yet.
  const submittedAt = Date.now();
  await eventually(
    async () => {
      const p = await queryProgress(h.client, workflowIdFor(jobId));
      return (
        p?.stopRequested &&
        p.buffer.files === 0 &&
        p.outstandingCompressionJobs === 1 &&
        Date.now() - submittedAt >= 1_500
      );
    },
    30_000,
    'the stopped workflow awaiting its compression job',
  );
  expect((await h.store.requireJob(jobId)).status).toBe('running');
  await completeCompressionJobs(h.pool);
  const job = await waitForStatus(h, jobId, 'finished');
  expect(job.numFilesCompressed).toBe(2);
  const handle = h.client.workflow.getHandle(workflowIdFor(jobId));
  expect((await handle.result()).status).toBe('finished');
});

test('the size threshold and the hard timeout each trigger a flush', async () => {
  // Size: 1,000 bytes buffered against a 250-byte threshold flush at once, an hour before the timeout.
  const sizeKeys = Array.from({ length: 10 }, (_, i) => `size/f${i}.log`);
  await put(sizeKeys, () => 'x'.repeat(100));
  const bySize = await h.create(
    's3_scanner',
    config('size/', { buffer_config: { flush_threshold_bytes: 250, timeout_sec: 3600 } }),
  );
  await eventually(
    async () => (await h.store.countFilesByStatus(bySize)).submitted === 10,
    30_000,
    'size flush',
  );
  expect([...(await decodedJobs(bySize)).values()].flat().sort()).toEqual(sizeKeys);

  // Timeout: a tiny buffer under a huge threshold is flushed about timeout_sec after it filled.
  await put(['timeout/only.log']);
  const byTime = await h.create(
    's3_scanner',
    config('timeout/', { buffer_config: { flush_threshold_bytes: 1 << 30, timeout_sec: 3 } }),
  );
  await eventually(async () => (await h.store.countFilesByStatus(byTime)).buffered === 1, 30_000, 'buffered');
  const bufferedAt = Date.now();
  await eventually(
    async () => (await h.store.countFilesByStatus(byTime)).submitted === 1,
    30_000,
    'timeout flush',
  );
  expect(Date.now() - bufferedAt).toBeGreaterThan(1_000);
  await stopAndFinish(h, bySize);
  await stopAndFinish(h, byTime);
});

test('a missing bucket fails the job with its error message', async () => {
  const jobId = await h.create('s3_scanner', { ...config('x/'), bucket_name: 'no-such-bucket-clp-test' });
  const job = await waitForStatus(h, jobId, 'failed');
  expect(job.errorMsg).toMatch(/NoSuchBucket/);
  expect(job.errorMsg).toMatch(/no-such-bucket-clp-test/);
});

test('keys with +, &, =, unicode and over 1,000 bytes are recorded and submitted verbatim; one with a space is recorded failed', async () => {
  const long = `odd/${Array.from({ length: 5 }, (_, i) => `${String(i).repeat(3)}-${'seg'.repeat(66)}`).join('/')}.log`;
  expect(Buffer.byteLength(long)).toBeGreaterThan(1000);
  const keys = ['odd/plus+sign.log', 'odd/a&b=c.log', 'odd/ünïcödé-日本.log', long];
  // CLP's worker cannot read a key with a space (it puts keys into URLs unencoded).
  const unreadable = 'odd/with space.log';
  await put([...keys, unreadable]);
  const jobId = await h.create('s3_scanner', config('odd/'));
  await eventually(
    async () => (await h.store.countFilesByStatus(jobId)).submitted === keys.length,
    30_000,
    'odd',
  );
  const recorded = await rows(jobId);
  expect(recorded.map((x) => x.path).sort()).toEqual(
    [...keys, unreadable].map((k) => `${bucket}/${k}`).sort(),
  );
  expect(recorded.find((x) => x.path === `${bucket}/${unreadable}`)).toMatchObject({
    status: 'failed',
    compression_job_id: null,
  });
  expect([...(await decodedJobs(jobId)).values()].flat().sort()).toEqual([...keys].sort());
  await stopAndFinish(h, jobId);
});

test('continue-as-new under a low history threshold keeps ingesting without loss', async () => {
  const keys = Array.from({ length: 30 }, (_, i) => `can/f${String(i).padStart(2, '0')}.log`);
  const jobId = await h.create(
    's3_scanner',
    config('can/', { buffer_config: { timeout_sec: 0.5 }, settle_delay_sec: 2 }),
    {
      maxHistoryEvents: 40,
    },
  );
  for (let i = 0; i < keys.length; i += 5) {
    await put(keys.slice(i, i + 5));
    await sleep(700);
    await completeCompressionJobs(h.pool);
  }
  await eventually(
    async () => {
      await completeCompressionJobs(h.pool);
      return (await h.store.requireJob(jobId)).numFilesCompressed === keys.length;
    },
    60_000,
    'all compressed',
  );
  const progress = await queryProgress(h.client, workflowIdFor(jobId));
  expect(progress!.runs).toBeGreaterThan(1);
  expect((await rows(jobId)).map((x) => x.path)).toEqual(keys.map((k) => `${bucket}/${k}`));
  await stopAndFinish(h, jobId);
});

test('activities that crash after their commit and are retried create no duplicate row or compression job', async () => {
  const keys = Array.from({ length: 1500 }, (_, i) => `retry/f${String(i).padStart(4, '0')}.log`);
  await put(keys);
  crashAfterCommit.add('scanS3');
  crashAfterCommit.add('flushBuffer');
  const jobId = await h.create('s3_scanner', config('retry/'));
  await eventually(
    async () => (await h.store.countFilesByStatus(jobId)).submitted === keys.length,
    60_000,
    'submit',
  );
  // Both injected crashes happened (a zombie attempt may still be finishing its call).
  await eventually(async () => crashAfterCommit.size === 0, 30_000, 'both crashes injected');
  const r = await rows(jobId);
  expect(r).toHaveLength(keys.length);
  const jobs = await decodedJobs(jobId);
  const submitted = [...jobs.values()].flat();
  expect(submitted).toHaveLength(keys.length);
  expect(new Set(submitted).size).toBe(keys.length);
  const [orphans] = await h.pool.query<any[]>(
    `SELECT COUNT(*) AS n FROM compression_jobs c WHERE c.status = ? AND NOT EXISTS
       (SELECT 1 FROM log_ingestor_ingested_files f WHERE f.compression_job_id = c.id)`,
    [CompressionJobStatus.PENDING],
  );
  expect(orphans[0].n).toBe(0);
  await stopAndFinish(h, jobId);
});

test('an object uploaded late under a key that sorts before newer ones is not skipped within the settle delay', async () => {
  await put(['race/b.log']);
  const jobId = await h.create(
    's3_scanner',
    config('race/', { settle_delay_sec: 4, scanning_interval_sec: 0.5 }),
  );
  await eventually(
    async () => (await h.store.requireJob(jobId)).numFilesIngested === 1,
    30_000,
    'b recorded',
  );
  // "a" was being uploaded concurrently and lands after "b" was listed.
  await put(['race/a.log']);
  await eventually(
    async () => (await h.store.requireJob(jobId)).numFilesIngested === 2,
    30_000,
    'a recorded',
  );
  expect((await rows(jobId)).map((x) => x.path)).toEqual([`${bucket}/race/a.log`, `${bucket}/race/b.log`]);
  // Once settled, the cursor moves past both; nothing is recorded twice.
  await eventually(
    async () => (await h.store.getScannerCursor(jobId)) === 'race/b.log',
    30_000,
    'cursor advanced',
  );
  expect((await h.store.requireJob(jobId)).numFilesIngested).toBe(2);
  await stopAndFinish(h, jobId);
});
