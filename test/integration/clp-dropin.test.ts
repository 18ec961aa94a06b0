/**
 * The ingestor never submits a compression job CLP would refuse, proved end to
 * end on the real stack with the compression worker, which runs every job as
 * CLP's does, with CLP's clp-s (../shared/docs/clp-contract.md): the endpoint only in the
 * worker's environment, a key uploaded twice under an SQS job, an fs job's
 * host paths, and both CLP release lines' job formats.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { CreateQueueCommand, SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { RowDataPacket } from 'mysql2/promise';
import { createSqsClient } from '../../src/aws';
import { decodeClpConfig } from '../../src/clp/clp-config';
import { clpCompat } from '../../src/clp/compat';
import { datasetEvents, startExecutor } from '../support/executor';
import {
  compressionJobsOf,
  createTestBucket,
  jsonEvents,
  keysOfCompressionJob,
  uniqueName,
} from '../support/stack';
import { startHarness, stopAndFinish, type Harness } from '../support/worker';
import { eventually } from '../support/wait';
import { controlJob } from '../../src/job-control';
import { s3ScannerConfig, sqsListenerConfig } from '../support/configs';

jest.setTimeout(3 * 60_000);

let h: Harness;
let bucket: string;
let archivesDir: string;
let executor: ReturnType<typeof startExecutor>;

beforeAll(async () => {
  h = await startHarness();
  bucket = await createTestBucket(h.s3);
  archivesDir = await mkdtemp(path.join(os.tmpdir(), 'clp-dropin-'));
  executor = startExecutor(h.settings, { archivesDir });
});
afterAll(async () => {
  await executor?.stop();
  await h?.close();
  await rm(archivesDir, { recursive: true, force: true });
});

async function put(key: string, body: string): Promise<void> {
  await h.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
}

/** Stops the job and waits until the executor has given every file its fate. */
async function finish(jobId: number): Promise<void> {
  await controlJob(h.store, h.client, jobId, 'stop');
  await eventually(async () => (await h.store.requireJob(jobId)).status === 'finished', 90_000, 'finished');
}

test('S3 scanner, endpoint only in the worker’s environment: every compression job names it, and CLP’s rules pass', async () => {
  expect(h.settings.aws.s3Endpoint).toMatch(/^http:\/\/127\.0\.0\.1:/);
  // Names CLP's unencoded URLs still read (a space or a %XX would not be: see docs/clp-compatibility.md).
  const keys = ['ep/a.log', 'ep/b+c=d.log', 'ep/ü.log'];
  for (const k of keys) await put(k, jsonEvents(k, 100));
  // No endpoint_url in the job: the worker lists MinIO through AWS_ENDPOINT_URL_S3.
  const jobId = await h.create('s3_scanner', s3ScannerConfig(bucket, 'ep/', { settle_delay_sec: 0 }));
  await eventually(
    async () => (await h.store.countFilesByStatus(jobId)).compressed === 3,
    60_000,
    'compressed',
  );
  for (const cj of await compressionJobsOf(h.pool, jobId)) {
    const { input } = (await decodeClpConfig(cj.clp_config)) as { input: any };
    expect(input.type).toBe('s3_object_metadata'); // CLP head's default
    expect(input.endpoint_url).toBe(h.settings.aws.s3Endpoint);
    // A custom endpoint: no region_code, which CLP's workers would put into the host name.
    expect(input.region_code).toBeNull();
    expect(cj.status).toBe(2);
  }
  await finish(jobId);
});

test('objects CLP cannot read by URL (a space, #, ?, %) are recorded failed with the reason, and the rest compress', async () => {
  const good = ['odd/a.log', 'odd/b+c.log'];
  const bad = ['odd/with space.log', 'odd/hash#.log', 'odd/q?.log', 'odd/pct%41.log'];
  for (const k of [...good, ...bad]) await put(k, jsonEvents(k, 3));
  const jobId = await h.create(
    's3_scanner',
    s3ScannerConfig(bucket, 'odd/', { settle_delay_sec: 0, dataset: 'odd' }),
  );
  await eventually(
    async () => {
      const c = await h.store.countFilesByStatus(jobId);
      return c.compressed === good.length && c.failed === bad.length;
    },
    60_000,
    'fates',
  );
  const files = await h.store.listFiles(jobId);
  for (const f of files.filter((f) => f.status === 'failed')) {
    expect(f.error).toMatch(/CLP cannot read this object: its key contains .*unencoded/);
    expect(f.compressionJobId).toBeNull(); // never submitted: no compression job failed for it
  }
  expect(
    files
      .filter((f) => f.status === 'failed')
      .map((f) => f.path.replace(`${bucket}/`, ''))
      .sort(),
  ).toEqual([...bad].sort());
  const events = await datasetEvents(h.pool, h.settings, 'odd');
  expect(events.map((e) => `${e.key}#${e.i}`).sort()).toEqual(
    good.flatMap((k) => [0, 1, 2].map((i) => `${k}#${i}`)).sort(),
  );
  for (const cj of await compressionJobsOf(h.pool, jobId)) expect(cj.status).toBe(2);
  await finish(jobId);
});

test('SQS job with a key uploaded twice: each compression job names it once, and both records get its fate', async () => {
  const sqs: SQSClient = createSqsClient(h.settings.aws);
  try {
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: uniqueName('dropin') }));
    await put('twice/x.log', jsonEvents('twice/x.log', 1));
    await put('twice/y.log', jsonEvents('twice/y.log', 1));
    const note = (key: string, sequencer: string) =>
      JSON.stringify({
        Records: [
          {
            eventName: 'ObjectCreated:Put',
            s3: { bucket: { name: bucket }, object: { key, size: 14, sequencer } },
          },
        ],
      });
    // Both uploads of x arrive before the buffer flushes.
    await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl,
        Entries: [note('twice/x.log', '0001'), note('twice/x.log', '0002'), note('twice/y.log', '0001')].map(
          (MessageBody, i) => ({ Id: String(i), MessageBody }),
        ),
      }),
    );
    const jobId = await h.create(
      'sqs_listener',
      sqsListenerConfig(bucket, 'twice/', QueueUrl!, { buffer_config: { timeout_sec: 3 } }),
    );
    await eventually(
      async () => (await h.store.requireJob(jobId)).numFilesIngested === 3,
      30_000,
      'recorded',
    );
    await eventually(
      async () => (await h.store.countFilesByStatus(jobId)).compressed === 3,
      60_000,
      'compressed',
    );
    const files = await h.store.listFiles(jobId);
    expect(files.filter((f) => f.path.endsWith('x.log'))).toHaveLength(2);
    for (const cj of await compressionJobsOf(h.pool, jobId)) {
      const keys = await keysOfCompressionJob(h.pool, cj.clp_config);
      expect(new Set(keys).size).toBe(keys.length);
      expect(cj.status).toBe(2);
    }
    await finish(jobId);
  } finally {
    sqs.destroy();
  }
});

test('fs job: host paths go to CLP under its mount root, and every event is found once by search', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'clp-dropin-fs-'));
  try {
    await mkdir(path.join(dir, 'sub'));
    await writeFile(path.join(dir, 'a.log'), jsonEvents('fs-a', 50));
    await writeFile(path.join(dir, 'sub', 'b.log'), jsonEvents('fs-b', 50));
    const jobId = await h.create('fs', {
      directory: dir,
      scanning_interval_sec: 1,
      settle_delay_sec: 0,
      buffer_config: { timeout_sec: 1 },
    });
    await eventually(
      async () => (await h.store.countFilesByStatus(jobId)).compressed === 2,
      60_000,
      'compressed',
    );
    const [cj] = await compressionJobsOf(h.pool, jobId);
    const { input } = (await decodeClpConfig(cj.clp_config)) as { input: any };
    expect(input.paths_to_compress.every((p: string) => p.startsWith(`/mnt/logs${dir}/`))).toBe(true);
    // clp-s read them from this host, and search finds each of their events once.
    const events = (await datasetEvents(h.pool, h.settings, 'default')).filter((e) =>
      String(e.key).startsWith('fs-'),
    );
    expect(events.map((e) => `${e.key}#${e.i}`).sort()).toEqual(
      ['fs-a', 'fs-b'].flatMap((k) => Array.from({ length: 50 }, (_, i) => `${k}#${i}`)).sort(),
    );
    await finish(jobId);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

describe('CLP v0.13 (brotli, s3 key lists)', () => {
  let old: Harness;
  let oldExecutor: ReturnType<typeof startExecutor>;
  beforeAll(async () => {
    const base = h.settings;
    const clp = { ...base.clp, compat: clpCompat('0.13'), s3InputType: 's3' as const };
    old = await startHarness({ settings: { clp } });
    oldExecutor = startExecutor(old.settings, { archivesDir });
  });
  afterAll(async () => {
    await oldExecutor?.stop();
    await old?.close();
  });

  test('an S3-scanner job’s compression jobs are brotli key lists that a v0.13 scheduler runs', async () => {
    await put('old/a.log', jsonEvents('old/a.log', 1));
    await put('old/b.log', jsonEvents('old/b.log', 1));
    const jobId = await old.create('s3_scanner', s3ScannerConfig(bucket, 'old/', { settle_delay_sec: 0 }));
    await eventually(
      async () => (await old.store.countFilesByStatus(jobId)).compressed === 2,
      60_000,
      'compressed',
    );
    const [rows] = await old.pool.query<RowDataPacket[]>('SELECT clp_config FROM compression_jobs');
    for (const r of rows) {
      expect(Buffer.from(r.clp_config).readUInt32LE(0)).not.toBe(0xfd2fb528); // not zstd
      const { input } = (await decodeClpConfig(r.clp_config)) as { input: any };
      expect(input.type).toBe('s3');
      expect(input.keys).toEqual(['old/a.log', 'old/b.log']);
      expect(input.endpoint_url).toBe(h.settings.aws.s3Endpoint);
    }
    await stopAndFinish(old, jobId);
  });
});
