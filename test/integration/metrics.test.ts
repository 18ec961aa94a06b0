/**
 * Prometheus metrics (src/metrics.ts): a worker and an executor, started as
 * their own processes with CLP_INGESTOR_METRICS_ADDRESS and
 * CLP_EXECUTOR_METRICS_ADDRESS, serve the SDK's runtime metrics and ours on
 * one /metrics each; values move with what an S3-scanner and an SQS-listener
 * job really did.
 */
import { createServer } from 'node:net';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { createSqsClient } from '../../src/aws';
import { EVENTS_PER_OBJECT, startRig, upload, waitAllCompressed, stopJob, type Rig } from '../fault/support';
import { deleteQueue, newQueue, notification, sendAll } from '../support/sqs';
import { createTestBucket, jsonEvents } from '../support/stack';
import { eventually } from '../support/wait';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

type Samples = Map<string, number>;

/** name{labels} -> value, from the Prometheus text format (labels sorted). */
async function scrape(address: string): Promise<Samples> {
  const res = await fetch(`http://${address}/metrics`);
  expect(res.status).toBe(200);
  const out: Samples = new Map();
  for (const line of (await res.text()).split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels = (m[2] ?? '')
      .split(',')
      .filter((l) => l && !l.startsWith('service_name='))
      .sort()
      .join(',');
    out.set(labels ? `${m[1]}{${labels}}` : m[1], Number(m[3]));
  }
  return out;
}

const value = (s: Samples, key: string) => s.get(key) ?? 0;

let rig: Rig;
let workerMetrics: string;
let executorMetrics: string;
let sqs: SQSClient;
beforeAll(async () => {
  workerMetrics = `127.0.0.1:${await freePort()}`;
  executorMetrics = `127.0.0.1:${await freePort()}`;
  // The rig gives the worker and the executor the same environment, this included.
  process.env.CLP_EXECUTOR_METRICS_ADDRESS = executorMetrics;
  try {
    rig = await startRig({ CLP_INGESTOR_METRICS_ADDRESS: workerMetrics });
  } finally {
    delete process.env.CLP_EXECUTOR_METRICS_ADDRESS;
  }
  sqs = createSqsClient(rig.settings.aws);
});
afterAll(async () => {
  sqs?.destroy();
  await rig?.close();
});

test('the worker serves the Temporal SDK runtime metrics beside its own, the executor its own', async () => {
  await eventually(
    async () => [...(await scrape(workerMetrics)).keys()].some((k) => k.startsWith('temporal_')),
    60_000,
    'the worker metrics endpoint with the SDK runtime metrics',
  );
  await eventually(
    async () =>
      [...(await scrape(workerMetrics)).keys()].some((k) => k.startsWith('temporal_worker_task_slots')),
    30_000,
    'the SDK worker slot metrics',
  );
  await eventually(async () => scrape(executorMetrics), 60_000, 'the executor metrics endpoint');
});

test('files, bytes, flushes, compression outcomes and scan lag move with an S3-scanner job', async () => {
  const before = await scrape(workerMetrics);
  const executorBefore = await scrape(executorMetrics);
  const bucket = await createTestBucket(rig.s3);
  const keys = Array.from({ length: 40 }, (_, i) => `m/${String(i).padStart(3, '0')}.log`);
  await upload(rig.s3, bucket, keys); // each body: EVENTS_PER_OBJECT JSON events naming the key
  const bytes = keys.reduce((n, k) => n + Buffer.byteLength(jsonEvents(k, EVENTS_PER_OBJECT)), 0);
  const jobId = await rig.create('s3_scanner', {
    bucket_name: bucket,
    key_prefix: 'm/',
    scanning_interval_sec: 1,
    settle_delay_sec: 0,
    buffer_config: { flush_threshold_bytes: 2048, timeout_sec: 1 },
  });
  await waitAllCompressed(rig, jobId, keys.length);
  const [[{ n: compressionJobs }]] = await rig.pool.query<any[]>(
    'SELECT COUNT(*) AS n FROM log_ingestor_compression_submissions WHERE ingestion_job_id = ? AND compression_job_id IS NOT NULL',
    [jobId],
  );
  expect(compressionJobs).toBeGreaterThanOrEqual(1);

  const kind = 'job_kind="s3_scanner"';
  const moved = (s: Samples, key: string) => value(s, key) - value(before, key);
  const after = await eventually(
    async () => {
      const s = await scrape(workerMetrics);
      return moved(s, 'clp_ingestor_files_ended_total{outcome="succeeded"}') === keys.length ? s : null;
    },
    30_000,
    'the files-ended counter to reach the files compressed',
  );
  expect(moved(after, `clp_ingestor_files_recorded_total{${kind}}`)).toBe(keys.length);
  expect(moved(after, `clp_ingestor_bytes_recorded_total{${kind}}`)).toBe(bytes);
  expect(moved(after, `clp_ingestor_flushes_total{${kind}}`)).toBe(compressionJobs);
  expect(moved(after, `clp_ingestor_files_submitted_total{${kind}}`)).toBe(keys.length);
  expect(moved(after, 'clp_ingestor_compression_jobs_ended_total{outcome="succeeded"}')).toBe(
    compressionJobs,
  );
  expect(moved(after, 'clp_ingestor_files_ended_total{outcome="failed"}')).toBe(0);
  const lag = after.get(`clp_ingestor_scan_lag_seconds{job_id="${jobId}",${kind}}`);
  expect(lag).toBeGreaterThanOrEqual(0);
  expect(lag).toBeLessThan(600);

  const executor = await scrape(executorMetrics);
  const ran = (key: string) => value(executor, key) - value(executorBefore, key);
  expect(ran('clp_executor_compression_jobs_total{outcome="succeeded"}')).toBe(compressionJobs);
  expect(executor.get('clp_executor_jobs_running')).toBe(0);
  await stopJob(rig, jobId);
});

test('an SQS job counts its files under its own kind, and the messages it ignores', async () => {
  const before = await scrape(workerMetrics);
  const bucket = await createTestBucket(rig.s3);
  const keys = ['q/a.log', 'q/b.log', 'q/c.log'];
  await upload(rig.s3, bucket, keys);
  const queueUrl = await newQueue(sqs);
  try {
    await sendAll(sqs, queueUrl, [
      ...keys.map((k) => notification(bucket, k)),
      'not an S3 notification',
      '{"Records": "not a list"}',
    ]);
    const jobId = await rig.create('sqs_listener', {
      bucket_name: bucket,
      key_prefix: 'q/',
      queue_url: queueUrl,
      wait_time_sec: 1,
      buffer_config: { flush_threshold_bytes: 1 << 20, timeout_sec: 1 },
    });
    const after = await eventually(
      async () => {
        const s = await scrape(workerMetrics);
        const ignored =
          value(s, 'clp_ingestor_sqs_messages_ignored_total') -
          value(before, 'clp_ingestor_sqs_messages_ignored_total');
        const files =
          value(s, 'clp_ingestor_files_recorded_total{job_kind="sqs_listener"}') -
          value(before, 'clp_ingestor_files_recorded_total{job_kind="sqs_listener"}');
        return ignored === 2 && files === keys.length ? s : null;
      },
      60_000,
      'two ignored messages and three recorded files',
    );
    expect(
      value(after, 'clp_ingestor_files_recorded_total{job_kind="s3_scanner"}') -
        value(before, 'clp_ingestor_files_recorded_total{job_kind="s3_scanner"}'),
    ).toBe(0);
    expect((await rig.store.requireJob(jobId)).numMessagesIgnored).toBe(2);
    await waitAllCompressed(rig, jobId, keys.length);
    await stopJob(rig, jobId);
  } finally {
    await deleteQueue(sqs, queueUrl);
  }
});
