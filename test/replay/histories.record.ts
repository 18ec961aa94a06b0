/**
 * Records the workflow histories that the replay test replays. Not part of the
 * test suite: run `npm run record-histories` (the stack must be up) after a
 * deliberate, patched() change to workflow code, and commit the new fixtures.
 */
import { writeFileSync, mkdirSync, mkdtempSync, rmSync, utimesSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CreateQueueCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createSqsClient } from '../../src/aws';
import { controlJob } from '../../src/job-control';
import { workflowIdFor } from '../../src/workflows/messages';
import { createTestBucket, putObjects, uniqueName, jsonEvents } from '../support/stack';
import {
  completeCompressionJobs,
  startHarness,
  waitForStatus,
  type Harness,
  stopAndFinish,
} from '../support/worker';
import { eventually, sleep } from '../support/wait';
import { s3ScannerConfig, sqsListenerConfig } from '../support/configs';

const OUT = path.join(__dirname, '..', 'fixtures', 'histories');
const STACK = path.join(__dirname, '..', '..', 'scripts', 'stack.sh');
const run = promisify(execFile);
let h: Harness;
let bucket: string;

beforeAll(async () => {
  mkdirSync(OUT, { recursive: true });
  h = await startHarness();
  bucket = await createTestBucket(h.s3);
});
afterAll(() => h?.close());

const put = (keys: string[]) => putObjects(h.s3, bucket, keys, { body: (key) => jsonEvents(key, 20) });

/** Saves a run's history as `temporal workflow show -o json` prints it (the format replay loads). */
async function save(name: string, job: number | string, runId?: string): Promise<void> {
  const workflowId = typeof job === 'number' ? workflowIdFor(job) : job;
  const args = ['temporal', 'workflow', 'show', '-w', workflowId, '-o', 'json'];
  if (runId) args.push('-r', runId);
  const { stdout } = await run('bash', [STACK, ...args], { maxBuffer: 64 * 1024 * 1024 });
  JSON.parse(stdout); // fail here, not in the replay test, on anything but JSON
  // HISTORIES_TAG=<change> records beside the older fixtures instead of over them.
  const tag = process.env.HISTORIES_TAG ? `-${process.env.HISTORIES_TAG}` : '';
  writeFileSync(path.join(OUT, `${name}${tag}.json`), stdout);
}

const s3Config = (prefix: string, extra: object = {}) =>
  s3ScannerConfig(bucket, prefix, {
    scanning_interval_sec: 0.5,
    buffer_config: { flush_threshold_bytes: 2000, timeout_sec: 1 },
    ...extra,
  });

test('scan with several flushes, then stop', async () => {
  const jobId = await h.create('s3_scanner', s3Config('flushes/'));
  for (let batch = 0; batch < 3; batch++) {
    await put(Array.from({ length: 4 }, (_, i) => `flushes/b${batch}-${i}.log`));
    await eventually(async () => {
      const c = await h.store.countFilesByStatus(jobId);
      return c.buffered === 0 && c.submitted + c.compressed === 4 * (batch + 1);
    });
    await completeCompressionJobs(h.pool);
  }
  await eventually(async () => (await h.store.requireJob(jobId)).numFilesCompressed === 12);
  await stopAndFinish(h, jobId);
  await save('s3-scan-several-flushes', jobId);
});

test('pause and resume, then stop', async () => {
  await put(['pause/a.log']);
  const jobId = await h.create('s3_scanner', s3Config('pause/'));
  await eventually(async () => (await h.store.requireJob(jobId)).numFilesIngested === 1);
  await controlJob(h.store, h.client, jobId, 'pause');
  await waitForStatus(h, jobId, 'paused');
  await put(['pause/b.log']);
  await controlJob(h.store, h.client, jobId, 'resume');
  await eventually(async () => (await h.store.requireJob(jobId)).numFilesIngested === 2);
  await stopAndFinish(h, jobId);
  await save('s3-pause-resume-stop', jobId);
});

test('a non-recoverable failure', async () => {
  const jobId = await h.create('s3_scanner', {
    ...s3Config('x/'),
    bucket_name: 'no-such-bucket-for-history',
  });
  await waitForStatus(h, jobId, 'failed');
  await h.client.workflow.getHandle(workflowIdFor(jobId)).result();
  await save('s3-failure-missing-bucket', jobId);
});

test('continue-as-new', async () => {
  const jobId = await h.create('s3_scanner', s3Config('can/'), { maxHistoryEvents: 40 });
  const firstRunId = (await h.client.workflow.getHandle(workflowIdFor(jobId)).describe()).runId;
  for (let i = 0; i < 6; i++) {
    await put([`can/f${i}.log`]);
    await sleep(800);
    await completeCompressionJobs(h.pool);
  }
  await stopAndFinish(h, jobId);
  await save('s3-continue-as-new-first-run', jobId, firstRunId);
  await save('s3-continue-as-new-last-run', jobId);
});

test('an SQS-listener job', async () => {
  const sqs = createSqsClient(h.settings.aws);
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: uniqueName('history') }));
  const jobId = await h.create('sqs_listener', sqsListenerConfig(bucket, 'sqs/', QueueUrl!));
  for (const key of ['sqs/a.log', 'sqs/b.log']) {
    const body = JSON.stringify({
      Records: [
        {
          eventName: 'ObjectCreated:Put',
          s3: { bucket: { name: bucket }, object: { key, size: 10, sequencer: '1' } },
        },
      ],
    });
    await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: body }));
  }
  await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: 'garbage' }));
  await eventually(async () => (await h.store.requireJob(jobId)).numFilesIngested === 2);
  await controlJob(h.store, h.client, jobId, 'pause');
  await waitForStatus(h, jobId, 'paused');
  await controlJob(h.store, h.client, jobId, 'resume');
  await stopAndFinish(h, jobId);
  sqs.destroy();
  await save('sqs-listener-pause-resume-stop', jobId);
});

test('an fs job whose passes stop for size flushes', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'clp-history-'));
  const past = new Date(Date.now() - 60_000);
  for (let i = 0; i < 12; i++) {
    const file = path.join(dir, i % 2 ? 'sub' : '', `f${String(i).padStart(2, '0')}.log`);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, 'x'.repeat(500));
    utimesSync(file, past, past);
  }
  const jobId = await h.create('fs', {
    directory: dir,
    scanning_interval_sec: 0.5,
    settle_delay_sec: 0,
    buffer_config: { flush_threshold_bytes: 2000, timeout_sec: 1 },
  });
  await eventually(async () => (await h.store.countFilesByStatus(jobId)).submitted === 12);
  await stopAndFinish(h, jobId);
  rmSync(dir, { recursive: true, force: true });
  await save('fs-several-flushes', jobId);
});

test('one-time jobs: an S3 prefix scanned once and an object list with a missing object', async () => {
  await put(['once/a.log', 'once/b.log', 'once/c.log', 'once/d.log', 'listed/a.log', 'listed/c.log']);
  const scan = await h.create('s3_scanner', s3Config('once/', { one_time: true, settle_delay_sec: 0 }));
  const list = await h.create('s3_object_list', {
    urls: ['listed/a.log', 'listed/missing.log', 'listed/c.log'].map((k) => `s3://${bucket}/${k}`),
    buffer_config: { flush_threshold_bytes: 2000, timeout_sec: 1 },
  });
  for (const jobId of [scan, list]) {
    await eventually(async () => {
      await completeCompressionJobs(h.pool);
      return (await h.store.requireJob(jobId)).status === 'finished';
    });
    await h.client.workflow.getHandle(workflowIdFor(jobId)).result();
  }
  await save('s3-one-time-scan', scan);
  await save('s3-object-list-missing-object', list);
});

test('a job started by `temporal workflow start` with a kind and config, paused, resumed and stopped by Updates', async () => {
  await put(['tstart/a.log']);
  const workflowId = uniqueName('temporal-start');
  await run('bash', [
    STACK,
    'temporal',
    'workflow',
    'start',
    '--task-queue',
    h.taskQueue,
    '--type',
    'ingestionJob',
    '--workflow-id',
    workflowId,
    '--input',
    JSON.stringify({ kind: 's3_scanner', config: s3Config('tstart/') }),
  ]);
  const jobId = (await eventually(() => h.store.requireJobOfWorkflow(workflowId))).id;
  await eventually(async () => (await h.store.requireJob(jobId)).numFilesIngested === 1);
  await controlJob(h.store, h.client, jobId, 'pause');
  await put(['tstart/b.log']);
  await controlJob(h.store, h.client, jobId, 'resume');
  await eventually(async () => (await h.store.requireJob(jobId)).numFilesIngested === 2);
  await stopAndFinish(h, jobId);
  await h.client.workflow.getHandle(workflowId).result();
  await save('s3-temporal-start-updates', workflowId);
});
