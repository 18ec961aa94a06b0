/**
 * SQS-listener jobs over several (bucket, key prefix) pairs on the real
 * stack: goaws, MinIO, worker, Temporal, MariaDB and the compression
 * executor (as strict as CLP: one bucket per compression job, every key
 * under its key_prefix).
 */
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { OUTSIDE_SOURCES } from '../../src/sources/sqs_listener/s3-events';
import { createSqsClient } from '../../src/aws';
import { decodeClpConfig } from '../../src/clp/clp-config';
import { InvalidConfigError } from '../../src/config/job-config';
import { ConflictError } from '../../src/store/ingestion-store';
import { startExecutor } from '../support/executor';
import { deleteQueue, newQueue, notification, queueDepth, recordedPaths, sendAll } from '../support/sqs';
import { compressionJobsOf, createTestBucket, keysOfCompressionJob, jsonEvents } from '../support/stack';
import { startHarness, stopAndFinish, type Harness } from '../support/worker';
import { eventually } from '../support/wait';

let h: Harness;
let sqs: SQSClient;
let executor: ReturnType<typeof startExecutor> | undefined;

beforeAll(async () => {
  h = await startHarness();
  sqs = createSqsClient(h.settings.aws);
});

afterAll(async () => {
  await executor?.stop();
  sqs?.destroy();
  await h?.close();
});

async function put(bucket: string, key: string): Promise<number> {
  const body = jsonEvents(`${bucket}/${key}`, 20);
  await h.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
  return Buffer.byteLength(body);
}

test('notifications in each pair become files exactly once, ones outside every pair are counted as ignored, and each compression job names one bucket', async () => {
  const [a, b] = [await createTestBucket(h.s3), await createTestBucket(h.s3)];
  const sources = [
    { bucket_name: a, key_prefix: 'app/' },
    { bucket_name: b, key_prefix: 'svc/' },
    { bucket_name: a, key_prefix: 'web/' },
  ];
  const inside: [string, string][] = [
    ...Array.from({ length: 6 }, (_, i) => [a, `app/${i}.log`] as [string, string]),
    ...Array.from({ length: 5 }, (_, i) => [b, `svc/${i}.log`] as [string, string]),
    ...Array.from({ length: 4 }, (_, i) => [a, `web/${i}.log`] as [string, string]),
  ];
  const bodies: string[] = [];
  for (const [bucket, key] of inside)
    bodies.push(notification(bucket, key, { size: await put(bucket, key) }));
  bodies.push(notification(inside[0][0], inside[0][1])); // a redelivery of the same event
  const outside = [
    notification(a, 'svc/0.log'), // a's objects outside its prefixes
    notification(b, 'app/0.log'), // b's, under a's prefix
    notification('elsewhere-bucket', 'app/0.log'), // a bucket the job does not take
  ];
  bodies.push(...outside);
  const queueUrl = await newQueue(sqs);
  await sendAll(sqs, queueUrl, bodies);

  const jobId = await h.create('sqs_listener', {
    sources,
    queue_url: queueUrl,
    wait_time_sec: 1,
    buffer_config: { timeout_sec: 1 },
  });
  await eventually(async () => (await queueDepth(sqs, queueUrl)) === 0, 60_000, 'queue drained');
  const expected = inside.map(([bucket, key]) => `${bucket}/${key}`).sort();
  await eventually(
    async () => (await recordedPaths(h.pool, jobId)).length >= expected.length,
    30_000,
    'rows',
  );
  expect(await recordedPaths(h.pool, jobId)).toEqual(expected);
  const job = await h.store.requireJob(jobId);
  expect(job.numMessagesIgnored).toBe(outside.length);
  expect((await h.store.listIgnoredMessages(jobId)).map((m) => m.reason)).toEqual(
    outside.map(() => OUTSIDE_SOURCES),
  );

  // Every buffered file is flushed, bucket by bucket; the executor compresses them all.
  await eventually(async () => (await h.store.countFilesByStatus(jobId)).buffered === 0, 30_000, 'flushed');
  executor = startExecutor(h.settings, {
    archivesDir: await mkdtemp(path.join(os.tmpdir(), 'clp-sqs-sources-')),
  });
  await eventually(
    async () => (await h.store.requireJob(jobId)).numFilesCompressed === expected.length,
    60_000,
    'compressed',
  );
  const jobs = await compressionJobsOf(h.pool, jobId);
  const named: string[] = [];
  const buckets = new Set<string>();
  for (const cj of jobs) {
    expect(cj.status).toBe(2); // SUCCEEDED
    const { input } = (await decodeClpConfig(cj.clp_config)) as { input: any };
    buckets.add(input.bucket);
    // One bucket per job; its key_prefix covers that bucket's pairs (a: "app/" and "web/" -> "").
    expect(input.key_prefix).toBe(input.bucket === b ? 'svc/' : '');
    for (const key of await keysOfCompressionJob(h.pool, cj.clp_config)) named.push(`${input.bucket}/${key}`);
  }
  expect(buckets).toEqual(new Set([a, b]));
  expect(named.sort()).toEqual(expected); // each file in exactly one compression job
  expect((await h.store.countFilesByStatus(jobId)).compressed).toBe(expected.length);
  await stopAndFinish(h, jobId);
  await deleteQueue(sqs, queueUrl);
}, 180_000);

test('bad sources get an error naming the field and record nothing; a pair that overlaps an active job conflicts', async () => {
  const queueUrl = 'http://127.0.0.1:9324/000000000000/never-used';
  const before = (await h.store.listJobs()).length;
  const bad: [unknown, RegExp][] = [
    [{ queue_url: queueUrl }, /^bucket_name: is required \(or give sources instead\)/],
    [
      { queue_url: queueUrl, bucket_name: 'logs', sources: [{ bucket_name: 'logs', key_prefix: 'a/' }] },
      /^bucket_name: cannot be given with sources/,
    ],
    [
      { queue_url: queueUrl, sources: [{ bucket_name: 'logs', key_prefix: 'a/' }, { key_prefix: 'b/' }] },
      /^sources\[1\]\.bucket_name: is required/,
    ],
    [
      {
        queue_url: queueUrl,
        sources: [
          { bucket_name: 'logs', key_prefix: 'a/' },
          { bucket_name: 'logs', key_prefix: 'a/b/' },
        ],
      },
      /^sources\[1\]: overlaps sources\[0\]/,
    ],
  ];
  for (const [config, message] of bad) {
    const created = h.create('sqs_listener', config);
    await expect(created).rejects.toThrow(InvalidConfigError);
    await expect(h.create('sqs_listener', config)).rejects.toThrow(message);
  }
  expect((await h.store.listJobs()).length).toBe(before);

  // A job on any pair of an active multi-pair job conflicts with it (the job row keeps one bucket_name).
  const [a, b] = [await createTestBucket(h.s3), await createTestBucket(h.s3)];
  const multi = await h.create('sqs_listener', {
    sources: [
      { bucket_name: a, key_prefix: 'x/' },
      { bucket_name: b, key_prefix: 'y/' },
    ],
    queue_url: await newQueue(sqs),
    wait_time_sec: 1,
  });
  const count = (await h.store.listJobs()).length;
  await expect(h.create('s3_scanner', { bucket_name: b, key_prefix: 'y/z/' })).rejects.toThrow(ConflictError);
  expect((await h.store.listJobs()).length).toBe(count);
  const other = await h.create('s3_scanner', { bucket_name: b, key_prefix: 'x/' });
  await stopAndFinish(h, other);
  await stopAndFinish(h, multi);
}, 120_000);
