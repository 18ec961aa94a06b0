/**
 * Order-free S3 scanning (rescan_interval_sec) on the real stack: worker,
 * Temporal, MariaDB and MinIO. An object uploaded under a key that sorts
 * before the cursor, after the cursor has passed it, is never listed by the
 * cursor pass; the periodic re-list records it, once.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { ApplicationFailure } from '@temporalio/activity';
import type { ScanResult } from '../../src/sources/s3_scanner/activities';
import { InvalidConfigError } from '../../src/config/job-config';
import { createTestBucket, jsonEvents } from '../support/stack';
import { startHarness, stopAndFinish, type Harness } from '../support/worker';
import { eventually } from '../support/wait';
import { s3ScannerConfig } from '../support/configs';

let h: Harness;
let bucket: string;
/** Injected: the next scan call that re-listed something fails right after its commits (a crash before replying). */
let crashAfterRelist = false;
let crashes = 0;

beforeAll(async () => {
  h = await startHarness({
    wrapActivities: (acts) => ({
      ...acts,
      scanS3: async (...args: Parameters<typeof acts.scanS3>): Promise<ScanResult> => {
        const r = await acts.scanS3(...args);
        if (crashAfterRelist && (r.relisted ?? 0) > 0) {
          crashAfterRelist = false;
          crashes += 1;
          throw ApplicationFailure.retryable('injected crash after a re-list committed');
        }
        return r;
      },
    }),
  });
  bucket = await createTestBucket(h.s3);
});

afterAll(async () => {
  await h?.close();
});

async function put(key: string): Promise<void> {
  await h.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: jsonEvents(key, 1) }));
}

/** Waits until each job's cursor (the last key it recorded) is its prefix followed by `key`. */
async function cursorsAt(jobs: [number, string][], key: string): Promise<void> {
  for (const [jobId, prefix] of jobs) {
    await eventually(
      async () => (await h.store.getScannerCursor(jobId)) === `${prefix}${key}`,
      30_000,
      `cursor at ${key}`,
    );
  }
}

const config = (prefix: string, extra: Record<string, unknown> = {}) =>
  s3ScannerConfig(bucket, prefix, { settle_delay_sec: 0, ...extra });

/** When each of the job's files was recorded (ms), by key; a key recorded twice would show twice. */
async function recorded(jobId: number): Promise<{ key: string; ts: number }[]> {
  const [r] = await h.pool.query<any[]>(
    'SELECT object_key, creation_ts FROM log_ingestor_ingested_files WHERE ingestion_job_id = ? ORDER BY object_key, id',
    [jobId],
  );
  return r.map((x) => ({ key: x.object_key, ts: Number(x.creation_ts) }));
}

async function rescanState(jobId: number): Promise<{ lastTs: number | null; passTs: number | null }> {
  const s = await h.store.getRescanState(jobId);
  return { lastTs: s.lastTs, passTs: s.passTs };
}

const RESCAN_SEC = 4;

test('a key that sorts before the cursor, uploaded after the cursor passed it, is ingested within one rescan period, exactly once; without rescans it never is', async () => {
  const withRescan = 'on/';
  const without = 'off/';
  for (const p of [withRescan, without]) for (const k of ['b.log', 'c.log']) await put(`${p}${k}`);
  const on = await h.create('s3_scanner', config(withRescan, { rescan_interval_sec: RESCAN_SEC }));
  const off = await h.create('s3_scanner', config(without));
  await cursorsAt(
    [
      [on, withRescan],
      [off, without],
    ],
    'c.log',
  );

  // a sorts before the cursor (c); d after it. Both jobs get the same uploads.
  const uploadedAt = Date.now();
  for (const p of [withRescan, without]) await put(`${p}a.log`);
  for (const p of [withRescan, without]) await put(`${p}d.log`);

  // Both cursor passes listed after a existed (they recorded d, uploaded after a) ...
  await cursorsAt(
    [
      [on, withRescan],
      [off, without],
    ],
    'd.log',
  );
  // ... and the re-list records a within one period (plus a scanning interval and the pass itself).
  const a = await eventually(
    async () => (await recorded(on)).find((r) => r.key === `${withRescan}a.log`),
    (RESCAN_SEC + 10) * 1000,
    'a re-listed',
  );
  const latencyMs = a.ts - uploadedAt;
  expect(latencyMs).toBeLessThanOrEqual((RESCAN_SEC + 1 + 2) * 1000);

  // Exactly once: another whole pass begins and completes after a was recorded, and records nothing new.
  await eventually(
    async () => ((await rescanState(on)).lastTs ?? 0) > a.ts,
    (RESCAN_SEC + 10) * 1000,
    'next pass',
  );
  expect((await recorded(on)).map((r) => r.key)).toEqual(
    ['a.log', 'b.log', 'c.log', 'd.log'].map((k) => withRescan + k),
  );
  expect((await h.store.requireJob(on)).numFilesIngested).toBe(4);
  // The re-list never moves the cursor back.
  expect(await h.store.getScannerCursor(on)).toBe(`${withRescan}d.log`);

  // Without rescan_interval_sec the same upload is never ingested, though the job had every chance:
  // its cursor pass listed after a existed, and the other job's re-list found its twin meanwhile.
  expect((await recorded(off)).map((r) => r.key)).toEqual(
    ['b.log', 'c.log', 'd.log'].map((k) => without + k),
  );
  expect(await rescanState(off)).toEqual({ lastTs: null, passTs: null });

  await stopAndFinish(h, on);
  await stopAndFinish(h, off);
}, 120_000);

test('a re-list pass spans many pages and records only the missing keys, page-batched, once even when its call crashes after committing', async () => {
  const p = 'many/';
  // 2,500 keys: three listing pages. Every other one is uploaded before the job, the rest after its cursor passed.
  const keys = Array.from({ length: 2500 }, (_, i) => `${p}k-${String(i).padStart(5, '0')}.log`);
  const early = keys.filter((_, i) => i % 2 === 0);
  const late = keys.filter((_, i) => i % 2 === 1 && i < keys.length - 1);
  const last = keys[keys.length - 1];
  const parallel = async (ks: string[]) => {
    const q = [...ks];
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        for (let k = q.shift(); k; k = q.shift()) await put(k);
      }),
    );
  };
  await parallel([...early, last]);
  const jobId = await h.create('s3_scanner', config(p, { rescan_interval_sec: RESCAN_SEC }));
  await eventually(async () => (await h.store.getScannerCursor(jobId)) === last, 60_000, 'cursor at the end');
  const before = (await h.store.requireJob(jobId)).numFilesIngested;
  expect(before).toBe(early.length + 1);
  crashAfterRelist = true;
  await parallel(late);
  await eventually(
    async () => (await h.store.requireJob(jobId)).numFilesIngested === keys.length,
    (RESCAN_SEC + 30) * 1000,
    'late keys re-listed',
  );
  const rows = await recorded(jobId);
  expect(rows.map((r) => r.key)).toEqual(keys);
  // The call that recorded them crashes after its commits, so it may return (and crash) after the poll above saw them.
  await eventually(async () => crashes > 0, 30_000, 'the injected crash');
  expect(crashes).toBe(1);
  // The retried call (and the passes after it) found every key recorded: the counters agree with the rows.
  await eventually(
    async () => ((await h.store.getRescanState(jobId)).lastTs ?? 0) > Math.max(...rows.map((r) => r.ts)),
    30_000,
    'a pass after',
  );
  expect((await h.store.requireJob(jobId)).numFilesIngested).toBe(keys.length);
  expect(await h.store.getScannerCursor(jobId)).toBe(last);
  await stopAndFinish(h, jobId);
}, 180_000);

test('a bad rescan_interval_sec gets an error naming the field and records nothing', async () => {
  const before = (await h.store.listJobs()).length;
  for (const v of [0, -5, 'hourly', 30 * 86_400]) {
    const created = h.create('s3_scanner', config('bad/', { rescan_interval_sec: v }));
    await expect(created).rejects.toThrow(InvalidConfigError);
    await expect(h.create('s3_scanner', config('bad/', { rescan_interval_sec: v }))).rejects.toThrow(
      /^rescan_interval_sec: /,
    );
  }
  expect((await h.store.listJobs()).length).toBe(before);
});
