/**
 * Bad and hostile input on the real stack: each gets a clear error or is
 * recorded as a failed item, loses nothing, and leaves other jobs alone.
 */
import {
  DeleteBucketCommand,
  DeleteObjectsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { CreateQueueCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { createSqsClient } from '../../src/aws';
import { createJob, controlJob } from '../../src/job-control';
import { InvalidConfigError } from '../../src/config/job-config';
import { queueDepth } from '../support/sqs';
import { createTestBucket, uniqueName } from '../support/stack';
import { completeCompressionJobs, startHarness, waitForStatus, type Harness } from '../support/worker';
import { eventually } from '../support/wait';
import { s3ScannerConfig } from '../support/configs';

let h: Harness;
let bad: Harness; // a second worker whose AWS credentials are wrong
let bucket: string;

beforeAll(async () => {
  h = await startHarness();
  bucket = await createTestBucket(h.s3);
});
afterAll(async () => {
  await bad?.close();
  await h?.close();
});

async function jobCount(): Promise<number> {
  return (await h.store.listJobs()).length;
}

async function put(key: string, body = 'line\n'): Promise<void> {
  await h.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
}

const scanner = (prefix: string, extra: object = {}) =>
  s3ScannerConfig(bucket, prefix, {
    scanning_interval_sec: 0.5,
    buffer_config: { timeout_sec: 0.5 },
    ...extra,
  });

test('malformed and huge configs are refused with the field named, and nothing is recorded', async () => {
  const before = await jobCount();
  const cases: [unknown, RegExp][] = [
    ['not an object', /must be a JSON object/],
    [
      { ...scanner('a/'), buffer_config: { flush_threshold_bytes: -5 } },
      /buffer_config\.flush_threshold_bytes/,
    ],
    [{ ...scanner('a/'), key_prefix: 'k'.repeat(1_000_000) }, /key_prefix: must be at most 1024 bytes/],
    [{ ...scanner('a/'), dataset: 'd'.repeat(10_000) }, /dataset/],
    [{ ...scanner('a/'), extra: 'x'.repeat(1_000_000) }, /unknown field "extra"/],
  ];
  for (const [config, message] of cases) {
    await expect(h.create('s3_scanner', config)).rejects.toThrow(InvalidConfigError);
    await expect(h.create('s3_scanner', config)).rejects.toThrow(message);
  }
  expect(await jobCount()).toBe(before);
});

test('SQL-like strings in every text field are stored and used verbatim; the tables survive', async () => {
  // A placeholder mark too: the file insert's SQL is sent as it is, never scanned for placeholders.
  const sql = "x'); DROP TABLE log_ingestor_ingested_files; -- \\' \" ` ; ? ??";
  const prefix = `sql/${sql}/`;
  await put(`${prefix}${sql}.log`);
  await put(`${prefix}normal.log`);
  const jobId = await h.create(
    's3_scanner',
    scanner(prefix, { timestamp_key: sql, start_after: `${prefix}${sql}` }),
  );
  // start_after (SQL-like too) sorts after "normal.log" and just before the SQL-named key.
  await eventually(async () => (await h.store.requireJob(jobId)).numFilesIngested >= 1, 30_000, 'ingested');
  const job = await h.store.requireJob(jobId);
  expect(job.config.config).toMatchObject({ key_prefix: prefix, timestamp_key: sql });
  const files = await h.store.listFiles(jobId);
  expect(files.map((f) => f.path)).toEqual([`${bucket}/${prefix}${sql}.log`]);
  const [tables] = await h.pool.query<any[]>("SHOW TABLES LIKE 'log_ingestor_ingested_files'");
  expect(tables).toHaveLength(1);
  await controlJob(h.store, h.client, jobId, 'stop');
  await eventually(async () => {
    await completeCompressionJobs(h.pool);
    return (await h.store.requireJob(jobId)).status === 'finished';
  });
});

test('a key of exactly 1,024 bytes is ingested and submitted verbatim', async () => {
  const segment = (c: string) => c.repeat(200);
  let key = `long/${['a', 'b', 'c', 'd'].map(segment).join('/')}/`;
  key += 'e'.repeat(1024 - Buffer.byteLength(key) - 4) + '.log';
  expect(Buffer.byteLength(key)).toBe(1024);
  await put(key);
  const jobId = await h.create('s3_scanner', scanner('long/'));
  await eventually(
    async () => (await h.store.countFilesByStatus(jobId)).submitted === 1,
    30_000,
    'submitted',
  );
  expect((await h.store.listFiles(jobId))[0].path).toBe(`${bucket}/${key}`);
  await controlJob(h.store, h.client, jobId, 'stop');
});

test('invalid UTF-8 and oversized garbage in SQS bodies are counted, never block the queue or fail the job', async () => {
  const sqs = createSqsClient(h.settings.aws);
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: uniqueName('hostile') }));
  const outcomes: string[] = [];
  for (const body of [
    '\ud800\udfff\ud800 lone surrogates',
    '\u0000\u0001 control bytes',
    '{"Records": "nope"}',
  ]) {
    try {
      await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: body }));
      outcomes.push('sent');
    } catch (err) {
      outcomes.push(`refused by the queue: ${(err as Error).name}`); // SQS itself may refuse invalid characters
    }
  }
  const good = JSON.stringify({
    Records: [
      {
        eventName: 'ObjectCreated:Put',
        s3: { bucket: { name: bucket }, object: { key: 'hq/ok.log', size: 3 } },
      },
    ],
  });
  await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: good }));
  const sent = outcomes.filter((o) => o === 'sent').length;
  // The plain-ASCII garbage at least reaches the queue, so the counts below are of something.
  expect(sent).toBeGreaterThan(0);
  await eventually(async () => (await queueDepth(sqs, QueueUrl!)) === sent + 1, 10_000, 'messages queued');
  const jobId = await h.create('sqs_listener', {
    bucket_name: bucket,
    key_prefix: 'hq/',
    queue_url: QueueUrl,
    wait_time_sec: 1,
  });
  await eventually(
    async () => (await h.store.requireJob(jobId)).numFilesIngested === 1,
    30_000,
    'good message',
  );
  await eventually(
    async () => (await h.store.requireJob(jobId)).numMessagesIgnored === sent,
    30_000,
    'garbage counted',
  );
  // Every message was received and taken off the queue; only the good one became a file.
  await eventually(async () => (await queueDepth(sqs, QueueUrl!)) === 0, 30_000, 'queue drained');
  const job = await h.store.requireJob(jobId);
  expect(job.status).toBe('running');
  expect(job.numFilesIngested).toBe(1);
  expect((await h.store.listFiles(jobId)).map((f) => f.path)).toEqual([`${bucket}/hq/ok.log`]);
  console.log(`hostile SQS bodies: ${outcomes.join('; ')}`);
  await controlJob(h.store, h.client, jobId, 'stop');
  sqs.destroy();
});

test('a bucket that disappears mid-job fails that job with the reason, keeps its files, and leaves other jobs running', async () => {
  const doomed = await createTestBucket(h.s3);
  for (const k of ['v/a.log', 'v/b.log'])
    await h.s3.send(new PutObjectCommand({ Bucket: doomed, Key: k, Body: 'x' }));
  const other = await h.create('s3_scanner', scanner('survivor/'));
  const jobId = await h.create('s3_scanner', {
    bucket_name: doomed,
    key_prefix: 'v/',
    scanning_interval_sec: 0.5,
    buffer_config: { timeout_sec: 3600 },
  });
  await eventually(async () => (await h.store.countFilesByStatus(jobId)).buffered === 2, 30_000, 'buffered');
  const listed = await h.s3.send(new ListObjectsV2Command({ Bucket: doomed }));
  await h.s3.send(
    new DeleteObjectsCommand({
      Bucket: doomed,
      Delete: { Objects: listed.Contents!.map((o) => ({ Key: o.Key! })) },
    }),
  );
  await h.s3.send(new DeleteBucketCommand({ Bucket: doomed }));
  const failed = await waitForStatus(h, jobId, 'failed');
  expect(failed.errorMsg).toMatch(/NoSuchBucket/);
  // Nothing lost: what was buffered is still submitted and awaited.
  await eventually(
    async () => (await h.store.countFilesByStatus(jobId)).submitted === 2,
    30_000,
    'flushed on failure',
  );
  await completeCompressionJobs(h.pool, 3);
  await eventually(
    async () => (await h.store.countFilesByStatus(jobId)).failed === 2,
    30_000,
    'fates recorded',
  );
  expect((await h.store.requireJob(other)).status).toBe('running');
  await controlJob(h.store, h.client, other, 'stop');
});

test('wrong credentials fail the job with the reason; jobs on healthy workers are unaffected', async () => {
  bad = await startHarness({
    settings: {
      aws: {
        ...h.settings.aws,
        credentials: { accessKeyId: 'wrong-key', secretAccessKey: 'wrong-secret' },
      },
    },
  });
  const healthy = await h.create('s3_scanner', scanner('healthy/'));
  const jobId = await createJob(bad.store, bad.client, 's3_scanner', scanner('creds/'), {
    taskQueue: bad.taskQueue,
  });
  const failed = await waitForStatus(bad, jobId, 'failed');
  expect(failed.errorMsg).toMatch(/InvalidAccessKeyId|SignatureDoesNotMatch|AccessDenied/);
  expect((await h.store.requireJob(healthy)).status).toBe('running');
  await controlJob(h.store, h.client, healthy, 'stop');
});
