/**
 * The whole pipeline on the real stack: S3-scanner job -> compression jobs ->
 * the compression worker (CLP's clp-s) -> CLP archives, each file's fate back
 * in the ingestor's record, and every event found by search exactly once.
 */
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { datasetEvents, startExecutor } from '../support/executor';
import { createTestBucket, jsonEvents } from '../support/stack';
import { startHarness, type Harness } from '../support/worker';
import { eventually } from '../support/wait';
import { controlJob } from '../../src/job-control';
import { s3ScannerConfig } from '../support/configs';

let h: Harness;
let bucket: string;
let archivesDir: string;
let executor: ReturnType<typeof startExecutor> | undefined;

beforeAll(async () => {
  // Two files per compression job, so one bad object fails exactly one of them.
  h = await startHarness({ settings: { maxFilesPerCompressionJob: 2 } });
  bucket = await createTestBucket(h.s3);
  archivesDir = await mkdtemp(path.join(os.tmpdir(), 'clp-e2e-'));
});
afterAll(async () => {
  await executor?.stop();
  await h?.close();
});

test('every event is found by search exactly once; a missing object fails exactly its compression job’s files', async () => {
  const bodies = new Map<string, string>();
  for (const name of ['a', 'b', 'c', 'd']) {
    const key = `e2e/${name}.log`;
    const body = jsonEvents(key, 500 + name.charCodeAt(0));
    bodies.set(key, body);
    await h.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
  }
  const jobId = await h.create(
    's3_scanner',
    s3ScannerConfig(bucket, 'e2e/', {
      settle_delay_sec: 0,
      dataset: 'e2e',
      buffer_config: { timeout_sec: 3600 },
    }),
  );
  await eventually(async () => (await h.store.countFilesByStatus(jobId)).buffered === 4, 30_000, 'buffered');
  // b disappears before compression; then stop flushes [a, b] and [c, d].
  await h.s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'e2e/b.log' }));
  await controlJob(h.store, h.client, jobId, 'stop');
  await eventually(
    async () => (await h.store.countFilesByStatus(jobId)).submitted === 4,
    30_000,
    'submitted',
  );
  executor = startExecutor(h.settings, { archivesDir });
  const job = await eventually(async () => {
    const j = await h.store.requireJob(jobId);
    return j.status === 'finished' ? j : null;
  });

  const files = await h.store.listFiles(jobId);
  const fate = Object.fromEntries(files.map((f) => [f.path.replace(`${bucket}/`, ''), f]));
  expect(fate['e2e/a.log'].status).toBe('failed');
  expect(fate['e2e/b.log'].status).toBe('failed');
  expect(fate['e2e/c.log'].status).toBe('compressed');
  expect(fate['e2e/d.log'].status).toBe('compressed');
  // Failed files keep their compression job id, whose status_msg says why.
  expect(fate['e2e/a.log'].compressionJobId).toBe(fate['e2e/b.log'].compressionJobId);
  const [[cj]] = await h.pool.query<any[]>('SELECT status, status_msg FROM compression_jobs WHERE id = ?', [
    fate['e2e/b.log'].compressionJobId,
  ]);
  expect(cj.status).toBe(3);
  expect(cj.status_msg).toMatch(/e2e\/b\.log/);
  expect(job.numFilesCompressed).toBe(2);
  expect(job.numFilesFailed).toBe(2);

  // What went in is found by search: every event of c and d exactly once, nothing of a or b
  // (a's job failed as a whole: CLP registers nothing of a task clp-s failed).
  const events = await datasetEvents(h.pool, h.settings, 'e2e');
  const found = new Map<string, number>();
  for (const e of events) found.set(`${e.key}#${e.i}`, (found.get(`${e.key}#${e.i}`) ?? 0) + 1);
  const expected = ['e2e/c.log', 'e2e/d.log'].flatMap((k) =>
    Array.from({ length: 500 + k.charCodeAt(4) }, (_, i) => `${k}#${i}`),
  );
  expect([...found.keys()].sort()).toEqual(expected.sort());
  expect([...found.values()].every((n) => n === 1)).toBe(true);
  expect(bodies.size).toBe(4);
});
