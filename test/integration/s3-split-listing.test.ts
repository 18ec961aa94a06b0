/**
 * Split listing (`listing_parallelism` > 1): one S3-scanner job's keys after
 * its cursor listed in key ranges at once, against the real worker, Temporal,
 * MariaDB and MinIO.
 */
import { ApplicationFailure } from '@temporalio/activity';
import { workflowIdFor } from '../../src/workflows/messages';
import { createTestBucket, putObjects, rolePool } from '../support/stack';
import { IngestionStore } from '../../src/store/ingestion-store';
import { startHarness, stopAndFinish, type Harness } from '../support/worker';
import { eventually } from '../support/wait';
import { s3ScannerConfig, timeoutOnlyBuffer } from '../support/configs';
import { parseJobConfig } from '../../src/config/job-config';

let h: Harness;
let bucket: string;
/** Activity name -> throw once right after the real call commits. */
const crashAfterCommit = new Set<string>();

beforeAll(async () => {
  h = await startHarness({
    wrapActivities: (acts) => {
      const real = acts.scanS3Range;
      return {
        ...acts,
        scanS3Range: async (...args: Parameters<typeof real>) => {
          const result = await real(...args);
          if (result.recorded > 0 && crashAfterCommit.delete('scanS3Range'))
            throw ApplicationFailure.retryable('injected crash after scanS3Range committed');
          return result;
        },
      };
    },
  });
  bucket = await createTestBucket(h.s3);
});

afterAll(async () => {
  await h?.close();
});

const config = (prefix: string, extra: Record<string, unknown> = {}) =>
  s3ScannerConfig(bucket, prefix, {
    settle_delay_sec: 0,
    buffer_config: timeoutOnlyBuffer(),
    listing_parallelism: 2,
    ...extra,
  });

async function paths(jobId: number): Promise<string[]> {
  const [r] = await h.pool.query<any[]>(
    'SELECT path FROM log_ingestor_ingested_files WHERE ingestion_job_id = ? ORDER BY path',
    [jobId],
  );
  return r.map((x) => x.path);
}

async function scannerState(jobId: number): Promise<{ cursor: string | null; ranges: number }> {
  const [[r]] = await h.pool.query<any[]>(
    'SELECT last_ingested_key, split_ranges FROM log_ingestor_s3_scanner_state WHERE id = ?',
    [jobId],
  );
  return { cursor: r.last_ingested_key, ranges: Number(r.split_ranges) };
}

/** Activities the job's workflow scheduled, by type. */
async function scheduled(jobId: number): Promise<Map<string, number>> {
  const history = await h.client.workflow.getHandle(workflowIdFor(jobId)).fetchHistory();
  const n = new Map<string, number>();
  for (const e of history.events ?? []) {
    const type = e.activityTaskScheduledEventAttributes?.activityType?.name;
    if (type) n.set(type, (n.get(type) ?? 0) + 1);
  }
  return n;
}

const keysOf = (prefix: string, n: number, from = 0) =>
  Array.from({ length: n }, (_, i) => `${prefix}${String(from + i).padStart(6, '0')}.log`);

test('a split listing records every key once, then the cursor passes them all and new keys follow', async () => {
  const keys = keysOf('flat/', 3000);
  await putObjects(h.s3, bucket, keys, { concurrency: 16 });
  crashAfterCommit.add('scanS3Range'); // one range call dies after its commit: retried, nothing twice
  const jobId = await h.create('s3_scanner', config('flat/'));
  await eventually(
    async () => (await scannerState(jobId)).cursor === keys.at(-1),
    60_000,
    'cursor at the end',
  );
  expect(crashAfterCommit.size).toBe(0);
  expect(await paths(jobId)).toEqual(keys.map((k) => `${bucket}/${k}`));
  expect((await h.store.requireJob(jobId)).numFilesIngested).toBe(keys.length);
  expect((await scannerState(jobId)).ranges).toBe(0);
  const acts = await scheduled(jobId);
  expect(acts.get('planS3Split')).toBe(1);
  // Split at flat/001000.log and flat/002000.log: three ranges, each listed by its own call.
  expect(acts.get('scanS3Range')).toBeGreaterThanOrEqual(3);
  expect(acts.get('endS3Split')).toBeGreaterThanOrEqual(1);

  // Keys landing after the split: the page-by-page listing takes them from the cursor.
  const more = keysOf('flat/', 20, 3000);
  // One at a time, in key order: with settle_delay_sec 0 a listing that saw a later key before an
  // earlier one had landed would move the cursor past the earlier (CI saw 19 of 20 recorded so).
  await putObjects(h.s3, bucket, more, { concurrency: 1 });
  await eventually(
    async () => (await h.store.requireJob(jobId)).numFilesIngested === keys.length + more.length,
    30_000,
    'the new keys',
  );
  expect(await paths(jobId)).toEqual([...keys, ...more].map((k) => `${bucket}/${k}`));
  await stopAndFinish(h, jobId);
});

test('a range page recorded again (a retry or a zombie call) is refused, and the split ends only when every bounded range is done', async () => {
  // As the worker's activities see the DB: its least-privilege user.
  const workerPool = rolePool(h.settings, 'worker');
  const store = new IngestionStore(workerPool);
  try {
    await rangeCas(store);
  } finally {
    await workerPool.end();
  }
});

async function rangeCas(store: IngestionStore): Promise<void> {
  const jobId = await store.createJob(parseJobConfig('s3_scanner', config('cas/')));
  const file = (k: string) => ({ s3: { bucket, key: k }, size: 10 });
  const ranges = await store.startSplit(jobId, null, [
    { startAfter: null, endKey: 'cas/b' },
    { startAfter: 'cas/b', endKey: null },
  ]);
  expect(ranges).toHaveLength(2);
  // A second planner that saw the same cursor finds a split running: refused.
  expect(await store.startSplit(jobId, null, [{ startAfter: null, endKey: null }])).toBeNull();

  expect(
    await store.recordRangePage(jobId, 0, [file('cas/a')], null, { position: 'cas/a', done: false }),
  ).toBe(1);
  // The same page again from the same position: nothing written.
  expect(
    await store.recordRangePage(jobId, 0, [file('cas/a')], null, { position: 'cas/a', done: false }),
  ).toBeNull();
  expect(
    await store.recordRangePage(jobId, 1, [file('cas/c'), file('cas/d')], 'cas/b', {
      position: 'cas/d',
      done: false,
    }),
  ).toBe(2);
  // Range 0 not done yet: the split goes on, the cursor stays.
  expect(await store.endSplitIfListed(jobId)).toEqual({ ended: false, cursor: null });
  expect(
    await store.recordRangePage(jobId, 0, [file('cas/b')], 'cas/a', { position: 'cas/b', done: true }),
  ).toBe(1);
  // Done ranges take no more pages.
  expect(await store.recordRangePage(jobId, 0, [], 'cas/b', { position: 'cas/b', done: true })).toBeNull();
  expect(await store.endSplitIfListed(jobId)).toEqual({ ended: true, cursor: 'cas/d' });
  expect(await store.getSplit(jobId)).toEqual([]);
  // A zombie range call of the ended split records nothing.
  expect(
    await store.recordRangePage(jobId, 1, [file('cas/e')], 'cas/d', { position: 'cas/e', done: false }),
  ).toBeNull();
  expect(await paths(jobId)).toEqual(['cas/a', 'cas/b', 'cas/c', 'cas/d'].map((k) => `${bucket}/${k}`));
  expect((await store.requireJob(jobId)).numFilesIngested).toBe(4);
}
